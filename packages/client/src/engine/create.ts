/**
 * Assembles a {@link CallEngine} from device spec strings and a transport. This is the one place
 * that chooses implementations: libopus from the native addon; `@parloir/media`'s jitter buffer,
 * E-model and adaptation policy; `src/audio`'s devices (`alsa:`, `wav:`, `null`).
 */
import type { CallSettings, QosSnapshot } from '../qos-log/qos-log.ts';
import {
  CallEngine,
  DEFAULT_SETTINGS,
  type EngineProbes,
  type MediaTransportPort,
} from './engine.ts';
import { DeviceCapture, DevicePlayback } from './audio-devices.ts';
import { MediaJitterBuffer } from './media-jitter-buffer.ts';
import { MediaQualityModel } from './media-quality.ts';
import { NativeOpusEncoder } from './native-adapters.ts';

/** Options of {@link createEngine}. */
export interface CreateEngineOptions {
  /** The media transport. */
  transport: MediaTransportPort;
  /** Capture spec: `alsa:NAME`, `wav:FILE` or `null` (src/audio). */
  input: string;
  /** Playback spec: `alsa:NAME`, `wav:FILE` or `null` (src/audio). */
  output: string;
  /** Initial settings. */
  settings?: Partial<CallSettings>;
  /** Snapshot callback. */
  onSnapshot?: (s: QosSnapshot) => void;
  /** Measurement probes. */
  probes?: EngineProbes;
}

/** Builds an engine (not started). Device errors are `ENGINE_ERR_DEVICE`. */
export function createEngine(options: CreateEngineOptions): CallEngine {
  const settings = { ...DEFAULT_SETTINGS, ...options.settings };
  const capture = new DeviceCapture({ spec: options.input, frameSamples: settings.frameMs * 48 });
  const playback = new DevicePlayback({ spec: options.output });
  return new CallEngine({
    transport: options.transport,
    capture,
    playback,
    encoder: new NativeOpusEncoder(),
    jitterBuffer: new MediaJitterBuffer({ minMs: settings.jbMinMs, maxMs: settings.jbMaxMs }),
    quality: new MediaQualityModel(),
    settings,
    ...(options.onSnapshot === undefined ? {} : { onSnapshot: options.onSnapshot }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
  });
}
