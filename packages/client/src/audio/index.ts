/**
 * Audio devices for the client: open a device by spec (`alsa:NAME`, `wav:PATH`, `null`) and get
 * capture and playback streams behind one {@link AudioDevice} interface.
 * @module
 */
import { listPcmDevices } from '@parloir/native';
import { AlsaDevice } from './alsa.ts';
import { AudioError } from './errors.ts';
import { PacedCapture, PacedPlayback } from './paced.ts';
import { parseDeviceSpec } from './spec.ts';
import type {
  AudioDevice,
  AudioDeviceOptions,
  AudioPace,
  CaptureOptions,
  CaptureStream,
  PlaybackOptions,
  PlaybackStream,
} from './types.ts';
import { readWav, WavWriter } from './wav-file.ts';

export * from './types.ts';
export { AudioError, type AudioErrorCode } from './errors.ts';
export { parseDeviceSpec, formatDeviceSpec, type DeviceSpec } from './spec.ts';
export { readWav, writeWav, parseWav, WavWriter, type WavData } from './wav-file.ts';
export { AlsaDevice } from './alsa.ts';
export { startPlayout, type Playout, type PlayoutOptions } from './playout.ts';

/** `null`: capture gives silence in real time; playback discards in real time. */
export class NullDevice implements AudioDevice {
  readonly spec = 'null';
  readonly kind = 'null' as const;
  openCapture(options: CaptureOptions): CaptureStream {
    const channels = options.channels;
    return new PacedCapture(
      options,
      { take: (frames) => new Int16Array(frames * channels) },
      'realtime',
    );
  }
  openPlayback(options: PlaybackOptions): PlaybackStream {
    return new PacedPlayback(
      options,
      { put: () => {}, close: () => {}, discards: true },
      'realtime',
    );
  }
}

/**
 * `wav:PATH`: capture reads the file (its rate and channels must match what is asked), playback
 * writes it. Real-time pace behaves like a sound card; `fast` goes as fast as the consumer.
 */
export class WavDevice implements AudioDevice {
  readonly spec: string;
  readonly kind = 'wav' as const;
  readonly #path: string;
  readonly #pace: AudioPace;

  constructor(path: string, pace: AudioPace = 'realtime') {
    this.#path = path;
    this.#pace = pace;
    this.spec = `wav:${path}`;
  }

  openCapture(options: CaptureOptions): CaptureStream {
    const wav = readWav(this.#path);
    if (wav.sampleRate !== options.sampleRate || wav.channels !== options.channels) {
      throw new AudioError(
        'AUDIO_ERR_FORMAT',
        `${this.#path} is ${wav.sampleRate} Hz × ${wav.channels} ch; ${options.sampleRate} Hz × ${options.channels} ch was asked for (no resampling)`,
      );
    }
    let pos = 0;
    const ch = wav.channels;
    return new PacedCapture(
      options,
      {
        take: (frames) => {
          const out = wav.samples.slice(pos, pos + frames * ch);
          pos += out.length;
          return out;
        },
      },
      this.#pace,
    );
  }

  openPlayback(options: PlaybackOptions): PlaybackStream {
    const w = new WavWriter(this.#path, options.sampleRate, options.channels);
    return new PacedPlayback(
      options,
      { put: (s) => w.append(s), close: () => w.close() },
      this.#pace,
    );
  }
}

/** Opens a device by spec; the devices open their streams lazily. */
export function openAudioDevice(spec: string, options: AudioDeviceOptions = {}): AudioDevice {
  const s = parseDeviceSpec(spec);
  const pace = options.pace ?? 'realtime';
  if (pace !== 'realtime' && pace !== 'fast') {
    throw new AudioError('AUDIO_ERR_BAD_ARG', `pace must be realtime or fast, got ${String(pace)}`);
  }
  switch (s.kind) {
    case 'alsa':
      return new AlsaDevice(s.name);
    case 'wav':
      return new WavDevice(s.path, pace);
    case 'null':
      return new NullDevice();
  }
}

/** One device `parloir audio devices` lists. */
export interface AudioDeviceInfo {
  /** Spec to pass to `--device`, e.g. `alsa:default`. */
  spec: string;
  /** Human description. */
  description: string;
  /** Directions the device supports. */
  direction: 'both' | 'capture' | 'playback';
}

/** `null`, `alsa:default` and every ALSA PCM from `snd_device_name_hint`. */
export function listAudioDevices(): AudioDeviceInfo[] {
  const out: AudioDeviceInfo[] = [
    { spec: 'null', description: 'Silence in, discard out (real time)', direction: 'both' },
  ];
  const alsa = listPcmDevices();
  if (!alsa.some((d) => d.name === 'default')) {
    out.push({ spec: 'alsa:default', description: 'Default ALSA device', direction: 'both' });
  }
  for (const d of alsa) {
    out.push({
      spec: `alsa:${d.name}`,
      description: d.description.replace(/\s*\n\s*/g, ', '),
      direction: d.direction,
    });
  }
  return out;
}
