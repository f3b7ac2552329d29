/**
 * Assembles a {@link CallEngine} from device spec strings and a transport. This is the one place
 * that chooses implementations: the C pipeline (`@parloir/native`'s sender and receiver on the
 * transport's network edge, call-pipeline.ts), `src/audio`'s devices (`alsa:`, `wav:`, `null`),
 * and `@parloir/media`'s E-model and adaptation policy.
 */
import { Room } from '@parloir/media';
import type { AudioPipeRoom } from '@parloir/native';
import { parseDeviceSpec } from '../audio/index.ts';
import type { CallSettings, QosSnapshot } from '../qos-log/qos-log.ts';
import { DeviceCapture, DevicePlayback } from './audio-devices.ts';
import { NativeCallPipeline, type PipelineTransport } from './call-pipeline.ts';
import { CallEngine, DEFAULT_SETTINGS, type EngineProbes } from './engine.ts';
import { EngineError } from './errors.ts';
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
  /**
   * Tests (`--acoustic-room MS`): the paced capture also hears the paced playback through a
   * simulated room with this bulk delay, ms (20..250), as a laptop's microphone its speakers.
   */
  acousticRoomMs?: number;
}

function isAlsa(spec: string): boolean {
  try {
    return parseDeviceSpec(spec).kind === 'alsa';
  } catch {
    return false;
  }
}

/**
 * Echo cancellation, noise suppression and AGC not set explicitly: on for an `alsa:` capture (a
 * real microphone, often beside a speaker), off for `wav:`/`null` (test signals; ask to turn
 * them on).
 */
export function withDeviceDefaults(s: CallSettings, input: string): CallSettings {
  const on = isAlsa(input);
  return { ...s, aec: s.aec ?? on, ns: s.ns ?? on, agc: s.agc ?? on };
}

/**
 * The test room: @parloir/media's Room (seed 1, RT60 0.2 s, echo gain 0.5) with its response cut
 * to its first 20 ms (direct path and early reflections: what the C device convolves per
 * sample), the given bulk delay. Paced devices only.
 */
export function acousticRoom(delayMs: number, input: string, output: string): AudioPipeRoom {
  if (isAlsa(input) || isAlsa(output)) {
    throw new EngineError(
      'ENGINE_ERR_DEVICE',
      'an acoustic room joins a wav:/null capture to a wav:/null playback, not alsa: devices',
    );
  }
  if (!Number.isFinite(delayMs) || delayMs < 20 || delayMs > 250) {
    throw new EngineError('ENGINE_ERR_BAD_SETTING', `acoustic room delay: expected 20..250 ms`);
  }
  const room = new Room(1, { rt60: 0.2, delayMs, echoGain: 0.5 });
  return { ir: Float32Array.from(room.rir.subarray(0, 960)), delayMs, gain: room.echoGain };
}

/** Builds an engine (not started). Device errors are `ENGINE_ERR_DEVICE`. */
export function createEngine(options: CreateEngineOptions): CallEngine {
  const settings = withDeviceDefaults({ ...DEFAULT_SETTINGS, ...options.settings }, options.input);
  const room =
    options.acousticRoomMs === undefined
      ? undefined
      : acousticRoom(options.acousticRoomMs, options.input, options.output);
  const capture = new DeviceCapture({ spec: options.input, frameSamples: settings.frameMs * 48 });
  const playback = new DevicePlayback({ spec: options.output });
  return new CallEngine({
    pipeline: new NativeCallPipeline({
      transport: options.transport,
      capture,
      playback,
      captureSpec: options.input,
      playbackSpec: options.output,
      ...(room === undefined ? {} : { room }),
    }),
    quality: new MediaQualityModel(),
    settings,
    ...(options.onSnapshot === undefined ? {} : { onSnapshot: options.onSnapshot }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
  });
}
