/**
 * Records what a Chromium page hears, sample by sample, for the speech check: an init script
 * (installed on a context before the app loads) keeps every remote WebRTC stream the page's
 * RTCPeerConnections receive and every microphone stream getUserMedia returns; a recording feeds
 * one of them through an AudioWorklet (a Blob-URL module) into ~107 ms chunks at 48 kHz, each stamped with the wall clock when the worklet saw it.
 * Nothing in the app changes.
 *
 * The wall-clock stamps let a test compare two recordings made in different browser processes
 * on this machine (the sender's microphone and the receiver's remote track): their mouth-to-ear
 * delay is the difference of their stamps at the samples the speech check aligns (heard.ts).
 */
import type { BrowserContext, Page } from 'playwright-core';
import { applyTestMutation } from '../../client/test/helpers/mutate.ts';

/** Sample rate of every recording, in Hz. */
export const RECORD_RATE = 48_000;

/** Which stream of the page to record. */
export type RecordSource = 'remote' | 'mic';

/** A finished recording. */
export interface Recording {
  /** Mono 16-bit PCM at {@link RECORD_RATE}. */
  samples: Int16Array;
  /** Sample rate, in Hz. */
  sampleRate: number;
  /** Wall-clock time (ms since the epoch) of the first sample. */
  startWallMs: number;
  /** Audio quanta that arrived late or were missing, in samples (gaps in the worklet's frames). */
  gapSamples: number;
  /** Samples per chunk: chunk `k` is `samples[k * chunkSamples …]`. */
  chunkSamples: number;
  /** Wall-clock time each chunk reached the recorder, ms since the epoch. */
  chunkWallMs: number[];
}

interface PageRecorder {
  remote: MediaStream[];
  mic: MediaStream[];
  start(source: RecordSource): Promise<number>;
  stop(id: number): Promise<{
    pcm: string;
    startWallMs: number;
    gapSamples: number;
    chunkSamples: number;
    chunkWallMs: number[];
  }>;
  level(id: number, lastMs: number): { dbfs: number; ms: number };
}

declare global {
  interface Window {
    /** Test-only audio taps, installed by {@link installRecorder}. */
    parloirTestAudio?: PageRecorder;
  }
}

/**
 * The worklet gathers 40 render quanta (128 samples each, ~107 ms) per message so the main thread
 * gets ~9 messages/s, not 375. Date.now() when a chunk starts filling is no earlier than its first
 * sample was captured; the smallest (stamp − position) over all chunks is the recording's start
 * on the wall clock.
 */
const WORKLET_SOURCE = `
const CHUNK = 128 * 40;
registerProcessor('parloir-test-recorder', class extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Float32Array(CHUNK); this.fill = 0; this.frame = 0; this.now = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    const data = ch || new Float32Array(128);
    if (this.fill === 0) { this.frame = currentFrame; this.now = Date.now(); }
    this.buf.set(data, this.fill);
    this.fill += data.length;
    if (this.fill >= CHUNK) {
      this.port.postMessage({ frame: this.frame, now: this.now, data: this.buf });
      this.buf = new Float32Array(CHUNK);
      this.fill = 0;
    }
    return true;
  }
});`;

/** Runs in the page before any of its scripts (a Playwright init script, so self-contained). */
function recorderInitScript([rate, source]: [number, string]): void {
  const moduleUrl = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const remote: MediaStream[] = [];
  const mic: MediaStream[] = [];
  const Original = window.RTCPeerConnection;
  class TappedPeerConnection extends Original {
    constructor(config?: RTCConfiguration) {
      super(config);
      this.addEventListener('track', (e) => {
        remote.push(e.streams[0] ?? new MediaStream([e.track]));
      });
    }
  }
  window.RTCPeerConnection = TappedPeerConnection;
  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    mic.push(stream);
    return stream;
  };

  interface Chunk {
    frame: number;
    now: number;
    data: Float32Array;
  }
  const running = new Map<number, { ctx: AudioContext; chunks: Chunk[] }>();
  let nextId = 1;

  window.parloirTestAudio = {
    remote,
    mic,
    async start(source) {
      const stream = (source === 'remote' ? remote : mic).at(-1);
      if (stream === undefined) throw new Error(`no ${source} stream in this page yet`);
      const ctx = new AudioContext({ sampleRate: rate });
      await ctx.audioWorklet.addModule(moduleUrl);
      const node = new AudioWorkletNode(ctx, 'parloir-test-recorder', {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        channelCount: 1,
        channelCountMode: 'explicit',
      });
      const chunks: Chunk[] = [];
      node.port.onmessage = (e: MessageEvent<Chunk>) => chunks.push(e.data);
      // A silent path to the destination keeps the graph pulling the worklet.
      const mute = new GainNode(ctx, { gain: 0 });
      ctx.createMediaStreamSource(stream).connect(node).connect(mute).connect(ctx.destination);
      await ctx.resume();
      const id = nextId++;
      running.set(id, { ctx, chunks });
      return id;
    },
    level(id, lastMs) {
      const r = running.get(id);
      if (r === undefined) throw new Error(`no recording ${id}`);
      let sum = 0;
      let n = 0;
      const want = (lastMs * rate) / 1000;
      for (let i = r.chunks.length - 1; i >= 0 && n < want; i--) {
        for (const v of r.chunks[i]?.data ?? []) sum += v * v;
        n += r.chunks[i]?.data.length ?? 0;
      }
      return { dbfs: n === 0 ? 0 : 10 * Math.log10(sum / n + 1e-20), ms: (n * 1000) / rate };
    },
    async stop(id) {
      const r = running.get(id);
      if (r === undefined) throw new Error(`no recording ${id}`);
      running.delete(id);
      await r.ctx.close();
      const first = r.chunks[0];
      if (first === undefined)
        return { pcm: '', startWallMs: 0, gapSamples: 0, chunkSamples: 1, chunkWallMs: [] };
      let startWallMs = Infinity;
      let gapSamples = 0;
      let expected = first.frame;
      for (const c of r.chunks) {
        startWallMs = Math.min(startWallMs, c.now - ((c.frame - first.frame) * 1000) / rate);
        gapSamples += Math.abs(c.frame - expected);
        expected = c.frame + c.data.length;
      }
      const pcm = new Int16Array(r.chunks.length * (first.data.length || 1));
      let at = 0;
      for (const c of r.chunks)
        for (const v of c.data) pcm[at++] = Math.round(Math.max(-1, Math.min(1, v)) * 32767);
      let bin = '';
      const bytes = new Uint8Array(pcm.buffer, 0, at * 2);
      for (let i = 0; i < bytes.length; i += 0x8000)
        bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return {
        pcm: btoa(bin),
        startWallMs,
        gapSamples,
        chunkSamples: first.data.length,
        chunkWallMs: r.chunks.map((c) => c.now),
      };
    },
  };
}

/**
 * Installs the audio taps in every page of `context` (call before the pages load the app). The
 * worklet module is a Blob URL, which the app's Content-Security-Policy (`script-src 'self'`)
 * refuses: create the context with `bypassCSP` (newContext's `recorder` option). Playwright's
 * request routing does not see worklet module fetches, so serving it same-origin is not an option.
 */
export async function installRecorder(context: BrowserContext): Promise<void> {
  await context.addInitScript(recorderInitScript, [RECORD_RATE, WORKLET_SOURCE] as [
    number,
    string,
  ]);
}

/** A recording in progress in a page. */
export interface RecordingHandle {
  /** The page recording. */
  page: Page;
  /** Its id in the page. */
  id: number;
  /** What it records. */
  source: RecordSource;
}

/** Starts recording the page's latest `source` stream. */
export async function startRecording(page: Page, source: RecordSource): Promise<RecordingHandle> {
  const id = await page.evaluate(async (s) => {
    const rec = window.parloirTestAudio;
    if (rec === undefined) throw new Error('installRecorder() was not called on this context');
    return rec.start(s);
  }, source);
  return { page, id, source };
}

/**
 * Stops a recording and returns its samples. A remote recording is what the page heard: this is
 * where `PARLOIR_TEST_MUTATE` (noise, delay, drop3) replaces it, to prove the checks can fail.
 */
export async function stopRecording(handle: RecordingHandle): Promise<Recording> {
  const r = await handle.page.evaluate(async (n) => {
    const rec = window.parloirTestAudio;
    if (rec === undefined) throw new Error('installRecorder() was not called on this context');
    return rec.stop(n);
  }, handle.id);
  const buf = Buffer.from(r.pcm, 'base64');
  const pcm = new Int16Array(buf.length / 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = buf.readInt16LE(i * 2);
  return {
    samples: handle.source === 'remote' ? applyTestMutation(pcm, RECORD_RATE) : pcm,
    sampleRate: RECORD_RATE,
    startWallMs: r.startWallMs,
    gapSamples: r.gapSamples,
    chunkSamples: r.chunkSamples,
    chunkWallMs: r.chunkWallMs,
  };
}

/**
 * Waits until the last `windowMs` of a running recording are below (`'below'`) or above
 * (`'above'`) `dbfs`, polling every 100 ms for at most `timeoutMs`; returns the level reached.
 * Throws with the last level seen if it never gets there.
 */
export async function waitForLevel(
  handle: RecordingHandle,
  side: 'below' | 'above',
  dbfs: number,
  windowMs: number,
  timeoutMs: number,
): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = NaN;
  for (;;) {
    const l = await handle.page.evaluate(
      ([id, ms]) => window.parloirTestAudio?.level(id, ms) ?? { dbfs: NaN, ms: 0 },
      [handle.id, windowMs] as const,
    );
    last = l.dbfs;
    if (l.ms >= windowMs && (side === 'below' ? l.dbfs < dbfs : l.dbfs > dbfs)) return l.dbfs;
    if (Date.now() > end)
      throw new Error(`level stayed ${last.toFixed(1)} dBFS, not ${side} ${dbfs} dBFS`);
    await new Promise<void>((r) => setTimeout(r, 100));
  }
}

/** Waits until a running recording holds at least `ms` of audio (bounded by `timeoutMs`). */
export async function waitForRecorded(
  handle: RecordingHandle,
  ms: number,
  timeoutMs = ms * 2 + 10_000,
): Promise<void> {
  await handle.page.waitForFunction(
    ([id, want]) => (window.parloirTestAudio?.level(id, want).ms ?? 0) >= want,
    [handle.id, ms] as const,
    { timeout: timeoutMs, polling: 200 },
  );
}

/** RMS level of `samples` in dBFS (−∞ for digital silence). */
export function rmsDbfs(samples: Int16Array): number {
  let sum = 0;
  for (const v of samples) sum += v * v;
  const rms = Math.sqrt(sum / Math.max(1, samples.length)) / 32768;
  return 20 * Math.log10(rms);
}
