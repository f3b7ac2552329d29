/**
 * 16-bit PCM WAV files: a reader for whole files and a streaming writer whose header sizes are
 * patched on close.
 * @module
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { AudioError } from './errors.ts';

/** A decoded WAV file. */
export interface WavData {
  /** Sample rate, Hz. */
  sampleRate: number;
  /** Channel count. */
  channels: number;
  /** Interleaved samples. */
  samples: Int16Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Parses a 16-bit PCM WAV (plain or WAVE_FORMAT_EXTENSIBLE) from bytes. */
export function parseWav(buf: Uint8Array, name = 'WAV data'): WavData {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (
    b.length < 12 ||
    b.toString('ascii', 0, 4) !== 'RIFF' ||
    b.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new AudioError('AUDIO_ERR_FORMAT', `${name} is not a RIFF/WAVE file`);
  }
  let off = 12;
  let fmt: { rate: number; channels: number } | undefined;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) {
        throw new AudioError('AUDIO_ERR_FORMAT', `${name}: truncated fmt chunk`);
      }
      const format = b.readUInt16LE(body);
      const channels = b.readUInt16LE(body + 2);
      const rate = b.readUInt32LE(body + 4);
      const bits = b.readUInt16LE(body + 14);
      const pcm =
        format === WAVE_FORMAT_PCM ||
        (format === WAVE_FORMAT_EXTENSIBLE && size >= 26 && b.readUInt16LE(body + 24) === 1);
      if (!pcm || bits !== 16 || channels < 1 || channels > 2 || rate < 1 || rate > 384000) {
        throw new AudioError(
          'AUDIO_ERR_FORMAT',
          `${name}: need 16-bit PCM, 1 or 2 channels; got format ${format}, ${bits} bit, ${channels} ch, ${rate} Hz`,
        );
      }
      fmt = { rate, channels };
    } else if (id === 'data') {
      if (fmt === undefined) throw new AudioError('AUDIO_ERR_FORMAT', `${name}: data before fmt`);
      // A streaming writer that never patched its header leaves 0 or 0xffffffff here.
      const end = size === 0 || size === 0xffffffff ? b.length : Math.min(b.length, body + size);
      const frameBytes = 2 * fmt.channels;
      const bytes = end - body - ((end - body) % frameBytes);
      const samples = new Int16Array(bytes / 2);
      new Uint8Array(samples.buffer).set(b.subarray(body, body + bytes));
      return { sampleRate: fmt.rate, channels: fmt.channels, samples };
    }
    off = body + size + (size & 1);
  }
  throw new AudioError('AUDIO_ERR_FORMAT', `${name}: no data chunk`);
}

/** Reads and parses a WAV file. */
export function readWav(path: string): WavData {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new AudioError('AUDIO_ERR_FILE', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseWav(buf, path);
}

function header(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, dataBytes), 40);
  return h;
}

/** Writes a whole WAV file at once. */
export function writeWav(path: string, data: WavData): void {
  const w = new WavWriter(path, data.sampleRate, data.channels);
  w.append(data.samples);
  w.close();
}

/** Appends samples to a WAV file as they come; `close()` fixes the header sizes. */
export class WavWriter {
  #fd: number | undefined;
  #bytes = 0;
  #rate: number;
  #channels: number;
  #path: string;

  constructor(path: string, sampleRate: number, channels: number) {
    this.#path = path;
    this.#rate = sampleRate;
    this.#channels = channels;
    try {
      this.#fd = openSync(path, 'w');
      writeSync(this.#fd, header(sampleRate, channels, 0));
    } catch (err) {
      throw new AudioError('AUDIO_ERR_FILE', `cannot write ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Samples per channel written so far. */
  get samplesWritten(): number {
    return this.#bytes / 2 / this.#channels;
  }

  /** Appends interleaved samples. */
  append(samples: Int16Array): void {
    if (this.#fd === undefined) throw new AudioError('AUDIO_ERR_CLOSED', `${this.#path} is closed`);
    if (samples.length === 0) return;
    writeSync(this.#fd, samples);
    this.#bytes += samples.byteLength;
  }

  /** Appends `frames` samples per channel of silence. */
  appendSilence(frames: number): void {
    if (frames > 0) this.append(new Int16Array(frames * this.#channels));
  }

  /** Patches the header and closes the file. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    writeSync(fd, header(this.#rate, this.#channels, this.#bytes), 0, 44, 0);
    closeSync(fd);
  }
}
