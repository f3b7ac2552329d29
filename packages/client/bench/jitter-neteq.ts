/**
 * Chromium side of `npm run bench:jitter -- --quality` (issue 24): the same Opus packets the
 * Parloir side plays, sent in real time to Debian's Chromium (never a downloaded browser) from a
 * werift peer connection (DTLS-SRTP over 127.0.0.1), each packet at its arrival time in the trace
 * (lost packets not sent, duplicates sent twice, reordering as the trace has it). Chromium's
 * NetEQ decodes and plays them; an AudioWorklet on the remote track records its output sample by
 * sample (not MediaRecorder), and the recording is aligned to the reference speech by
 * cross-correlation so that PESQ-WB scores it like Parloir's output.
 *
 * Several traces run at once in one page (one peer connection and one worklet each), so that 24
 * traces of 60 s take a few minutes. The sender is a Node event loop: its lateness against the
 * trace's arrival times is measured and reported (`sendLateMs`), since it adds jitter that the
 * Parloir side, in simulated time, does not see.
 *
 * Delay: `jitterBufferDelay / jitterBufferEmittedCount` of Chromium's inbound-rtp stats is the
 * mean time a sample waited from its packet's arrival to its playout (`delayRawMs`). Parloir's
 * delay is mean (playout − send − minimum transit), which also counts each packet's relative
 * network delay (arrival − send − minimum transit); `delayMs` adds that trace's mean relative
 * delay of the packets sent to the raw figure, so both sides' delays are defined the same way.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RTCRtpSender } from 'werift';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import type { TraceRow } from '../../media/src/trace.ts';

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';
const RATE = 48_000;
const FRAME = 960;
const OPUS_PT = 111;

/** One trace to play through NetEQ. */
export interface NetEqInput {
  /** Trace name. */
  name: string;
  /** Opus packets, index = sequence number of the trace. */
  packets: readonly Uint8Array[];
  /** The trace's rows (send and arrival times, ms). */
  rows: readonly TraceRow[];
  /** The reference speech for these packets (48 kHz mono), used to align the recording. */
  reference: Int16Array;
}

/** What NetEQ made of one trace. */
export interface NetEqResult {
  /** NetEQ's output aligned to the reference, exactly the reference's length (48 kHz mono). */
  pcm: Int16Array;
  /** jitterBufferDelay / jitterBufferEmittedCount, ms (arrival → playout). */
  delayRawMs: number;
  /** delayRawMs + mean relative network delay of the sent packets, ms (Parloir's definition). */
  delayMs: number;
  /** concealedSamples / totalSamplesReceived, %. */
  concealPct: number;
  /** Where the reference starts in the recording, samples; -1 if alignment failed. */
  alignAt: number;
  /** Normalised envelope correlation at the alignment (0..1). */
  alignScore: number;
  /** Audio recorded per second of real time in the page (1: Chromium's audio kept up). */
  audioClockRatio: number;
  /** NetEQ's time-stretching: samples removed (accelerate) and inserted (decelerate). */
  stretch: { removed: number; inserted: number };
  /** How late this trace's packets left against the trace's arrival times. */
  sendLate: SendLateness;
}

/** Options of {@link runNetEq}. */
export interface NetEqOptions {
  /** Traces played at once in one page. Default 8. */
  parallel?: number;
  /** Progress lines go here (stderr by default). */
  log?: (line: string) => void;
}

/** Sender lateness against the trace's arrival times over a whole run, ms. */
export interface SendLateness {
  /** Mean, ms. */
  meanMs: number;
  /** 99th percentile, ms. */
  p99Ms: number;
}

/** Whether the Chromium side can run here. */
export function netEqAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * The page's side, run in Chromium (plain JavaScript: the client package is compiled without the
 * DOM library): `hjAnswer(id, offer)` answers a werift offer and records the remote track
 * through an AudioWorklet from the moment it arrives, in 10,240-sample chunks at 48 kHz;
 * `hjFinish(id)` returns the inbound-rtp stats and the recording (base64 16-bit PCM).
 */
const PAGE_SCRIPT = String.raw`
const WORKLET = "registerProcessor('rec', class extends AudioWorkletProcessor {" +
  "constructor() { super(); this.buf = new Float32Array(128 * 80); this.fill = 0; }" +
  "process(inputs) { const ch = inputs[0] && inputs[0][0];" +
  "this.buf.set(ch || new Float32Array(128), this.fill); this.fill += 128;" +
  "if (this.fill === this.buf.length) { this.port.postMessage(this.buf);" +
  "this.buf = new Float32Array(128 * 80); this.fill = 0; } return true; } });";
const ctx = new AudioContext({ sampleRate: 48000 });
const ready = ctx.audioWorklet.addModule(
  URL.createObjectURL(new Blob([WORKLET], { type: 'text/javascript' })));
const slots = new Map();
window.hjUnlock = async () => {
  // Host candidates with real addresses (not mDNS names) once a capture was granted.
  const s = await navigator.mediaDevices.getUserMedia({ audio: true });
  for (const t of s.getTracks()) t.stop();
};
window.hjAnswer = async (id, offer) => {
  await ready;
  await ctx.resume();
  const pc = new RTCPeerConnection();
  const slot = { pc, chunks: [], node: null, firstAt: 0, lastAt: 0 };
  slots.set(id, slot);
  pc.ontrack = (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    // Chromium renders a remote WebRTC track into Web Audio only while a media element plays it.
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    const node = new AudioWorkletNode(ctx, 'rec', {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    node.port.onmessage = (m) => {
      if (slot.chunks.length === 0) slot.firstAt = performance.now();
      slot.lastAt = performance.now();
      slot.chunks.push(m.data);
    };
    const mute = new GainNode(ctx, { gain: 0 });
    ctx.createMediaStreamSource(stream).connect(node).connect(mute).connect(ctx.destination);
    slot.node = node;
  };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    setTimeout(resolve, 3000);
  });
  return pc.localDescription.sdp;
};
window.hjFinish = async (id) => {
  const slot = slots.get(id);
  if (!slot) throw new Error('no slot ' + id);
  const report = await slot.pc.getStats();
  let stats = {};
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      stats = {
        jitterBufferDelay: s.jitterBufferDelay || 0,
        jitterBufferEmittedCount: s.jitterBufferEmittedCount || 0,
        concealedSamples: s.concealedSamples || 0,
        totalSamplesReceived: s.totalSamplesReceived || 0,
        packetsReceived: s.packetsReceived || 0,
        removedSamplesForAcceleration: s.removedSamplesForAcceleration || 0,
        insertedSamplesForDeceleration: s.insertedSamplesForDeceleration || 0,
      };
    }
  });
  if (slot.node) slot.node.disconnect();
  slot.pc.close();
  slots.delete(id);
  const n = slot.chunks.reduce((a, c) => a + c.length, 0);
  const pcm = new Int16Array(n);
  let at = 0;
  for (const c of slot.chunks)
    for (const v of c) pcm[at++] = Math.round(Math.max(-1, Math.min(1, v)) * 32767);
  const bytes = new Uint8Array(pcm.buffer);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  // The audio clock against the page's: samples recorded between the first and last chunk over
  // the time between them (1 when the audio thread kept up with real time).
  const span = (slot.lastAt - slot.firstAt) / 1000;
  stats.audioClockRatio = span > 0 ? (n - slot.chunks[0].length) / 48000 / span : 0;
  return { stats, pcm: btoa(bin) };
};
`;

/** The functions PAGE_SCRIPT puts on the page's global object. */
interface PageApi {
  hjUnlock(): Promise<void>;
  hjAnswer(id: number, offer: string): Promise<string>;
  hjFinish(id: number): Promise<{ stats: Record<string, number>; pcm: string }>;
}

interface Sender {
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
}

async function connect(page: Page, id: number): Promise<Sender> {
  const opus = new RTCRtpCodecParameters({
    mimeType: 'audio/opus',
    clockRate: RATE,
    channels: 2,
    payloadType: OPUS_PT,
    parameters: 'minptime=10;useinbandfec=1;stereo=0;sprop-stereo=0',
    rtcpFeedback: [],
  });
  const pc = new RTCPeerConnection({
    codecs: { audio: [opus] },
    headerExtensions: { audio: [] },
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
  });
  const { sender } = pc.addTransceiver('audio', { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription?.sdp ?? '';
  const answer = await page.evaluate(
    ([i, o]) => (globalThis as unknown as PageApi).hjAnswer(i, o),
    [id, offer] as const,
  );
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const deadline = Date.now() + 20_000;
  while (pc.connectionState !== 'connected') {
    if (Date.now() > deadline || pc.connectionState === 'failed')
      throw new Error(`NetEQ side: peer connection ${id} ${pc.connectionState}`);
    await sleep(50);
  }
  return { pc, sender };
}

/** Finds where `ref` starts in `rec`: envelope correlation (1 ms bins), then sample refinement. */
export function align(ref: Int16Array, rec: Int16Array): { at: number; score: number } {
  const bin = 48;
  const env = (x: Int16Array) => {
    const e = new Float64Array(Math.floor(x.length / bin));
    for (let i = 0; i < e.length; i++) {
      let s = 0;
      for (let j = 0; j < bin; j++) s += Math.abs(x[i * bin + j] ?? 0);
      e[i] = s / bin;
    }
    return e;
  };
  const er = env(ref.subarray(0, Math.min(ref.length, 8 * RATE)));
  const ec = env(rec);
  const m = er.length;
  let best = -1;
  let bestScore = -Infinity;
  const norm = (a: Float64Array, from: number) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += (a[from + i] ?? 0) ** 2;
    return Math.sqrt(s) || 1;
  };
  const nr = norm(er, 0);
  for (let lag = 0; lag + m <= ec.length && lag < 15_000; lag++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += (er[i] ?? 0) * (ec[lag + i] ?? 0);
    const score = s / (nr * norm(ec, lag));
    if (score > bestScore) {
      bestScore = score;
      best = lag;
    }
  }
  if (best < 0) return { at: -1, score: 0 };
  // Sample-level refinement over ±2 bins on the first 2 s of speech.
  const span = Math.min(2 * RATE, ref.length);
  let at = best * bin;
  let bestC = -Infinity;
  for (let d = -2 * bin; d <= 2 * bin; d++) {
    const o = best * bin + d;
    if (o < 0 || o + span > rec.length) continue;
    let c = 0;
    for (let i = 0; i < span; i += 2) c += (ref[i] ?? 0) * (rec[o + i] ?? 0);
    if (c > bestC) {
      bestC = c;
      at = o;
    }
  }
  return { at, score: bestScore };
}

/**
 * Plays every input through Chromium's NetEQ, `parallel` at a time, in real time.
 * @returns one result per input (same order) and the sender's lateness.
 */
export async function runNetEq(
  inputs: readonly NetEqInput[],
  options: NetEqOptions = {},
): Promise<{ results: NetEqResult[]; lateness: SendLateness }> {
  const parallel = Math.max(1, options.parallel ?? 8);
  const log = options.log ?? ((l: string) => console.error(l));
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ],
  });
  // A page on http://127.0.0.1 is a secure context (getUserMedia, AudioWorklet); about:blank
  // has no navigator.mediaDevices.
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>neteq</title>');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  const results: NetEqResult[] = [];
  const late: number[] = [];
  try {
    for (let b = 0; b < inputs.length; b += parallel) {
      const batch = inputs.slice(b, b + parallel);
      const page = await browser.newPage();
      await page.goto(origin);
      await page.addScriptTag({ content: PAGE_SCRIPT });
      await page.evaluate(() => (globalThis as unknown as PageApi).hjUnlock());
      const senders: Sender[] = [];
      for (const [i] of batch.entries()) senders.push(await connect(page, b + i));
      log(
        `bench:jitter: NetEQ: ${batch.map((x) => x.name).join(', ')} (${b + batch.length}/${inputs.length})`,
      );
      // One schedule for the batch: every row with an arrival, at its time from the trace's
      // first arrival.
      const events: { at: number; k: number; row: TraceRow }[] = [];
      for (const [k, input] of batch.entries()) {
        const arrived = input.rows.filter(
          (r) => r.arrivalMs !== undefined && r.seq < input.packets.length,
        );
        const first = Math.min(...arrived.map((r) => r.arrivalMs ?? Infinity));
        for (const row of arrived) events.push({ at: (row.arrivalMs ?? 0) - first, k, row });
      }
      events.sort((x, y) => x.at - y.at);
      const lateByTrace = batch.map((): number[] => []);
      const t0 = performance.now() + 200;
      for (const e of events) {
        const wait = t0 + e.at - performance.now();
        if (wait > 1) await sleep(wait - 0.5);
        const lateMs = Math.max(0, performance.now() - (t0 + e.at));
        late.push(lateMs);
        lateByTrace[e.k]?.push(lateMs);
        const s = senders[e.k];
        const input = batch[e.k];
        const payload = input?.packets[e.row.seq];
        if (!s || !payload) continue;
        const header = new RtpHeader({
          payloadType: OPUS_PT,
          sequenceNumber: e.row.seq & 0xffff,
          timestamp: (e.row.seq * FRAME) >>> 0,
          marker: e.row.seq === 0,
        });
        s.sender.sendRtp(new RtpPacket(header, Buffer.from(payload))).catch(() => {
          // A send after close: counted nowhere, like a packet lost on the way.
        });
      }
      // Let the last packets play out (NetEQ's buffer plus the audio path).
      await sleep(2500);
      for (const [k, input] of batch.entries()) {
        const r = await page.evaluate((i) => (globalThis as unknown as PageApi).hjFinish(i), b + k);
        await senders[k]?.pc.close();
        const buf = Buffer.from(r.pcm, 'base64');
        const rec = new Int16Array(buf.buffer, buf.byteOffset, buf.length / 2);
        const { at, score } = align(input.reference, rec);
        const pcm = new Int16Array(input.reference.length);
        if (at >= 0) pcm.set(rec.subarray(at, at + pcm.length));
        const st = r.stats;
        const emitted = st.jitterBufferEmittedCount ?? 0;
        const delayRawMs = emitted > 0 ? ((st.jitterBufferDelay ?? 0) * 1000) / emitted : NaN;
        results.push({
          pcm,
          delayRawMs,
          delayMs: delayRawMs + meanRelativeDelay(input),
          concealPct:
            (st.totalSamplesReceived ?? 0) > 0
              ? (100 * (st.concealedSamples ?? 0)) / (st.totalSamplesReceived ?? 1)
              : NaN,
          alignAt: at,
          alignScore: score,
          audioClockRatio: st.audioClockRatio ?? NaN,
          stretch: {
            removed: st.removedSamplesForAcceleration ?? 0,
            inserted: st.insertedSamplesForDeceleration ?? 0,
          },
          sendLate: lateness(lateByTrace[k] ?? []),
        });
      }
      await page.close();
    }
  } finally {
    await browser.close();
    http.close();
  }
  return { results, lateness: lateness(late) };
}

function lateness(late: number[]): SendLateness {
  const sorted = [...late].sort((x, y) => x - y);
  return {
    meanMs: sorted.reduce((a, v) => a + v, 0) / Math.max(1, sorted.length),
    p99Ms: sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] ?? 0,
  };
}

/** Mean over the packets sent of (arrival − send − minimum transit), ms. */
function meanRelativeDelay(input: NetEqInput): number {
  const sent = input.rows.filter(
    (r): r is TraceRow & { arrivalMs: number } =>
      r.arrivalMs !== undefined && r.seq < input.packets.length,
  );
  if (sent.length === 0) return 0;
  const minTransit = Math.min(...sent.map((r) => r.arrivalMs - r.sendMs));
  return sent.reduce((a, r) => a + r.arrivalMs - r.sendMs - minTransit, 0) / sent.length;
}
