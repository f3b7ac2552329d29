/**
 * Device spec strings, used by every command that takes `--device`, `--capture`, `--playback`:
 * `alsa:NAME` (any ALSA PCM name: `default`, `hw:0,0`, `plughw:1`, `pulse`, asoundrc entries),
 * `wav:PATH` and `null`.
 * @module
 */
import { AudioError } from './errors.ts';

/** A parsed device spec. */
export type DeviceSpec =
  { kind: 'alsa'; name: string } | { kind: 'wav'; path: string } | { kind: 'null' };

/** Parses `alsa:NAME`, `wav:PATH` or `null`; anything else is an `AUDIO_ERR_BAD_SPEC`. */
export function parseDeviceSpec(spec: string): DeviceSpec {
  if (typeof spec !== 'string') {
    throw new AudioError('AUDIO_ERR_BAD_SPEC', 'device spec must be a string');
  }
  if (spec === 'null') return { kind: 'null' };
  if (spec.startsWith('alsa:') && spec.length > 5 && spec.length <= 250 && !/[\0\n]/.test(spec)) {
    return { kind: 'alsa', name: spec.slice(5) };
  }
  if (spec.startsWith('wav:') && spec.length > 4 && !spec.includes('\0')) {
    return { kind: 'wav', path: spec.slice(4) };
  }
  throw new AudioError(
    'AUDIO_ERR_BAD_SPEC',
    `bad device spec '${spec}': expected alsa:NAME (e.g. alsa:default), wav:PATH or null`,
  );
}

/** Formats a spec back into its string form. */
export function formatDeviceSpec(spec: DeviceSpec): string {
  switch (spec.kind) {
    case 'alsa':
      return `alsa:${spec.name}`;
    case 'wav':
      return `wav:${spec.path}`;
    case 'null':
      return 'null';
  }
}
