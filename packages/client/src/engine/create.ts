/**
 * Assembles a {@link CallEngine} from device spec strings and a transport. This is the one place
 * that chooses implementations: today the interim Opus (@discordjs/opus), jitter buffer, E-model
 * and wav/null devices in this directory; the native addon's Opus and ALSA devices and the media
 * core's jitter buffer and policy replace them here when they land.
 */
import type { CallSettings, QosSnapshot } from '../qos-log/qos-log.ts';
import {
  CallEngine,
  DEFAULT_SETTINGS,
  type EngineProbes,
  type MediaTransportPort,
} from './engine.ts';
import { openCapture, openPlayback } from './interim-devices.ts';
import { InterimJitterBuffer } from './interim-jitter-buffer.ts';
import { InterimOpusDecoder, InterimOpusEncoder } from './interim-opus.ts';
import { InterimQualityModel } from './interim-quality.ts';

/** Options of {@link createEngine}. */
export interface CreateEngineOptions {
  /** The media transport. */
  transport: MediaTransportPort;
  /** Capture spec: `wav:FILE` or `null`. */
  input: string;
  /** Playback spec: `wav:FILE` or `null`. */
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
  const capture = openCapture(options.input, settings.frameMs * 48);
  const playback = openPlayback(options.output);
  return new CallEngine({
    transport: options.transport,
    capture,
    playback,
    encoder: new InterimOpusEncoder(),
    jitterBuffer: new InterimJitterBuffer({
      decoder: new InterimOpusDecoder(),
      minMs: settings.jbMinMs,
      maxMs: settings.jbMaxMs,
    }),
    quality: new InterimQualityModel(),
    settings,
    ...(options.onSnapshot === undefined ? {} : { onSnapshot: options.onSnapshot }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
  });
}
