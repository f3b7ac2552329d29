/**
 * Typed wrapper over the Parloir N-API addon: libopus (RFC 6716) and ALSA PCM streams.
 * @module
 */
import { addon, type NativeVersions } from './addon.ts';

export type { NativeVersions } from './addon.ts';
export * from './errors.ts';
export * from './opus.ts';
export * from './alsa.ts';
export * from './relay.ts';

/** Reports the libasound and libopus versions the addon was built against. */
export function versions(): NativeVersions {
  return addon.versions();
}
