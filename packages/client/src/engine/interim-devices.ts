/**
 * Interim `wav:` and `null` devices paced in real time, with a device frame clock, used until the
 * native engineer's AudioDevice backends land (ALSA needs the addon). 48 kHz mono S16_LE only.
 *
 * Pacing: a timer fires every period; each firing delivers (capture) or pulls (playback) every
 * whole period that the monotonic clock says is due, so a late timer catches up instead of
 * drifting. The frame clock is the count of samples delivered or played since start.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { EngineError } from './errors.ts';
import type { CapturePort, PlaybackPort } from './ports.ts';

const RATE = 48_000;
const SAMPLES_PER_MS = RATE / 1000;

/** Reads a 16-bit PCM mono 48 kHz WAV file into samples. */
export function readWav(path: string): Int16Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new EngineError('ENGINE_ERR_DEVICE', `cannot read ${path}`, { cause: err });
  }
  if (
    buf.length < 12 ||
    buf.toString('ascii', 0, 4) !== 'RIFF' ||
    buf.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new EngineError('ENGINE_ERR_DEVICE', `${path} is not a WAV file`);
  }
  let off = 12;
  let fmtOk = false;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= buf.length) {
      const format = buf.readUInt16LE(body);
      const channels = buf.readUInt16LE(body + 2);
      const rate = buf.readUInt32LE(body + 4);
      const bits = buf.readUInt16LE(body + 14);
      if (format !== 1 || channels !== 1 || rate !== RATE || bits !== 16) {
        throw new EngineError(
          'ENGINE_ERR_DEVICE',
          `${path}: need PCM 16-bit mono 48000 Hz, got format ${format}, ${channels} ch, ${rate} Hz, ${bits} bit`,
        );
      }
      fmtOk = true;
    } else if (id === 'data') {
      if (!fmtOk) throw new EngineError('ENGINE_ERR_DEVICE', `${path}: data before fmt`);
      const end = Math.min(buf.length, body + size);
      const bytes = buf.subarray(body, end - ((end - body) & 1));
      const out = new Int16Array(bytes.length >> 1);
      for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
      return out;
    }
    off = body + size + (size & 1);
  }
  throw new EngineError('ENGINE_ERR_DEVICE', `${path}: no data chunk`);
}

/** Writes samples as a 16-bit PCM mono 48 kHz WAV file. */
export function writeWav(path: string, samples: Int16Array): void {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples.byteLength, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(RATE, 24);
  header.writeUInt32LE(RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples.byteLength, 40);
  writeFileSync(
    path,
    Buffer.concat([header, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]),
  );
}

/** Capture from a WAV file (then silence), or from nothing (`null`: silence). */
export class PacedCapture implements CapturePort {
  #source: Int16Array;
  #frameSamples: number;
  #periodMs = 10;
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #delivered = 0;
  #closed = false;

  /** `source` is the whole recording; `frameSamples` the initial frame size. */
  constructor(options: { source: Int16Array; frameSamples: number }) {
    this.#source = options.source;
    this.#frameSamples = options.frameSamples;
  }

  /** `performance.now()` of capture sample 0 (the device clock origin), ms. */
  get startedAtMs(): number {
    return this.#t0;
  }

  start(onFrame: (pcm: Int16Array, clockSamples: number) => void): void {
    this.#t0 = performance.now();
    const tick = (): void => {
      if (this.#closed) return;
      const due = Math.floor((performance.now() - this.#t0) * SAMPLES_PER_MS);
      while (this.#delivered + this.#frameSamples <= due) {
        const n = this.#frameSamples;
        const frame = new Int16Array(n);
        const start = this.#delivered;
        if (start < this.#source.length) {
          frame.set(this.#source.subarray(start, Math.min(start + n, this.#source.length)));
        }
        this.#delivered += n;
        onFrame(frame, start);
      }
    };
    this.#timer = setInterval(tick, this.#periodMs);
  }

  setFrameSamples(samples: number): void {
    this.#frameSamples = samples;
  }

  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    if (this.#timer !== undefined) this.#timer.refresh();
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    return Promise.resolve();
  }
}

/** Playback into a WAV file written at close (or into nothing). Pulls 10 ms at a time. */
export class PacedPlayback implements PlaybackPort {
  #path: string | undefined;
  #chunks: Int16Array[] = [];
  #periodMs = 10;
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #played = 0;
  #closed = false;

  /** `path`: WAV file to write at close, or undefined for `null`. */
  constructor(options: { path: string | undefined }) {
    this.#path = options.path;
  }

  /** `performance.now()` of playback sample 0 (the device clock origin), ms. */
  get startedAtMs(): number {
    return this.#t0;
  }

  /** Samples played so far (the device frame clock). */
  get clockSamples(): number {
    return this.#played;
  }

  start(pull: (out: Int16Array, clockSamples: number) => void): void {
    this.#t0 = performance.now();
    const tickSamples = 10 * SAMPLES_PER_MS;
    const tick = (): void => {
      if (this.#closed) return;
      const due = Math.floor((performance.now() - this.#t0) * SAMPLES_PER_MS);
      while (this.#played + tickSamples <= due) {
        const out = new Int16Array(tickSamples);
        pull(out, this.#played);
        this.#played += tickSamples;
        if (this.#path !== undefined) this.#chunks.push(out);
      }
    };
    this.#timer = setInterval(tick, this.#periodMs);
  }

  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
  }

  /** Everything played so far. */
  recorded(): Int16Array {
    const total = this.#chunks.reduce((a, c) => a + c.length, 0);
    const all = new Int16Array(total);
    let o = 0;
    for (const c of this.#chunks) {
      all.set(c, o);
      o += c.length;
    }
    return all;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#path !== undefined) writeWav(this.#path, this.recorded());
    return Promise.resolve();
  }
}

/** Opens a capture device from a spec string: `wav:PATH` or `null`. */
export function openCapture(spec: string, frameSamples: number): CapturePort {
  if (spec === 'null') return new PacedCapture({ source: new Int16Array(0), frameSamples });
  if (spec.startsWith('wav:'))
    return new PacedCapture({ source: readWav(spec.slice(4)), frameSamples });
  throw new EngineError(
    'ENGINE_ERR_DEVICE',
    `capture device '${spec}' is not available in this build (use wav:FILE or null; alsa: needs the native addon's devices)`,
  );
}

/** Opens a playback device from a spec string: `wav:PATH` or `null`. */
export function openPlayback(spec: string): PacedPlayback {
  if (spec === 'null') return new PacedPlayback({ path: undefined });
  if (spec.startsWith('wav:')) return new PacedPlayback({ path: spec.slice(4) });
  throw new EngineError(
    'ENGINE_ERR_DEVICE',
    `playback device '${spec}' is not available in this build (use wav:FILE or null; alsa: needs the native addon's devices)`,
  );
}
