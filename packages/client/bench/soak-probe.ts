/**
 * Preloaded into a process under soak (`NODE_OPTIONS=--import=…/soak-probe.ts`): appends one JSON
 * line {t, rss, heapUsed, fds} to the file named by PARLOIR_SOAK_PROBE every
 * PARLOIR_SOAK_PROBE_MS (default 10,000 ms), and once at start. rss and heapUsed in bytes, fds
 * the entries of /proc/self/fd, t in Unix ms. The timer is unref'd: it never keeps the process up.
 */
import { appendFileSync, readdirSync } from 'node:fs';

const path = process.env.PARLOIR_SOAK_PROBE;
if (path !== undefined && path !== '') {
  // Children of this process (tools it spawns) are not probed.
  delete process.env.PARLOIR_SOAK_PROBE;
  process.env.NODE_OPTIONS = (process.env.NODE_OPTIONS ?? '').replace(
    /--import=\S*soak-probe\.ts/,
    '',
  );
  const every = Number(process.env.PARLOIR_SOAK_PROBE_MS ?? 10_000);
  const sample = (): void => {
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      fds: readdirSync('/proc/self/fd').length,
    };
    appendFileSync(path, `${JSON.stringify(line)}\n`);
  };
  sample();
  setInterval(sample, every).unref();
}
