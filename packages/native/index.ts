/**
 * Typed wrapper over the Parloir N-API addon (libasound + libopus).
 * @module
 */
import { createRequire } from 'node:module';

/** Versions of the C libraries the addon is linked against. */
export interface NativeVersions {
  /** libasound version string, e.g. "1.2.8". */
  alsa: string;
  /** libopus version string, e.g. "libopus 1.3.1". */
  opus: string;
}

interface Addon {
  versions(): NativeVersions;
}

const require = createRequire(import.meta.url);
const addon = require('./build/Release/parloir_native.node') as Addon;

/** Reports the libasound and libopus versions the addon was built against. */
export function versions(): NativeVersions {
  return addon.versions();
}
