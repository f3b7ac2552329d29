/**
 * Assembles a {@link CallEngine} from device spec strings and a transport. This is the one place
 * that chooses implementations: the C pipeline (`@parloir/native`'s sender and receiver on the
 * transport's network edge, call-pipeline.ts), `src/audio`'s devices (`alsa:`, `wav:`, `null`),
 * and `@parloir/media`'s E-model and adaptation policy.
 */
import type { CallSettings, QosSnapshot } from '../qos-log/qos-log.ts';
import { DeviceCapture, DevicePlayback } from './audio-devices.ts';
import { NativeCallPipeline, type PipelineTransport } from './call-pipeline.ts';
import { CallEngine, DEFAULT_SETTINGS, type EngineProbes } from './engine.ts';
import { MediaQualityModel } from './media-quality.ts';

/** Options of {@link createEngine}. */
export interface CreateEngineOptions {
  /** The media transport (connected when the engine starts). */
  transport: PipelineTransport;
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
    pipeline: new NativeCallPipeline({
      transport: options.transport,
      capture,
      playback,
      captureSpec: options.input,
      playbackSpec: options.output,
    }),
    quality: new MediaQualityModel(),
    settings,
    ...(options.onSnapshot === undefined ? {} : { onSnapshot: options.onSnapshot }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
  });
}
