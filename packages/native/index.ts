/**
 * Typed wrapper over the Parloir N-API addon: libopus (RFC 6716), ALSA PCM streams, the TURN
 * forwarding thread and a libuv timer.
 * @module
 */
import { addon, type NativeVersions } from './addon.ts';

export type { NativeVersions } from './addon.ts';
export * from './errors.ts';
export * from './opus.ts';
export * from './alsa.ts';
export * from './relay.ts';
export * from './timer.ts';
export * from './srtp.ts';
export * from './sender.ts';
export * from './jitter.ts';
export * from './receiver.ts';
export * from './udp.ts';
export * from './apm.ts';
export * from './audio-pipe.ts';

/** Reports the libasound and libopus versions the addon was built against. */
export function versions(): NativeVersions {
  return addon.versions();
}
