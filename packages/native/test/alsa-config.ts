/**
 * A private ALSA configuration for tests: the system alsa.conf plus PCMs built on the `file`
 * plugin over `null`, so real libasound runs without a sound card. Capture PCMs read a raw
 * S16_LE file (`infile`); playback PCMs write one. libasound reads its configuration once per
 * process, so ALSA_CONFIG_PATH must be set before the first PCM is opened or listed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PCMs to define: name → raw file it reads (capture) or writes (playback). */
export interface TestPcms {
  capture?: Record<string, string>;
  playback?: Record<string, string>;
  /** Extra raw asoundrc text. */
  extra?: string;
}

/** Writes `asound.conf` into `dir` and returns its path (for ALSA_CONFIG_PATH). */
export function writeAlsaConfig(dir: string, pcms: TestPcms): string {
  const lines = ['</usr/share/alsa/alsa.conf>'];
  for (const [name, infile] of Object.entries(pcms.capture ?? {})) {
    lines.push(
      `pcm.${name} { type file slave.pcm "null" file "/dev/null" infile ${JSON.stringify(infile)} format "raw" }`,
    );
  }
  for (const [name, file] of Object.entries(pcms.playback ?? {})) {
    lines.push(
      `pcm.${name} { type file slave.pcm "null" file ${JSON.stringify(file)} format "raw" }`,
    );
  }
  if (pcms.extra) lines.push(pcms.extra);
  const path = join(dir, 'asound.conf');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
