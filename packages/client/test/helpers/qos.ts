/**
 * Reading a client's QoS log from a test, while the call runs or after: the newest log of a
 * profile, its snapshots so far, and per-second rates from each snapshot's own interval.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseQosLog, type QosSnapshot } from '../../src/qos-log/qos-log.ts';

/** Path of the newest call log in a profile directory, if any. */
export function newestLog(profileDir: string): string | undefined {
  const calls = join(profileDir, 'calls');
  if (!existsSync(calls)) return undefined;
  const files = readdirSync(calls)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
  const f = files.at(-1);
  return f === undefined ? undefined : join(calls, f);
}

/**
 * Snapshots written so far to the newest log of `profileDir` (a line being written while we
 * read is left for the next read).
 */
export function liveSnapshots(profileDir: string): QosSnapshot[] {
  const path = newestLog(profileDir);
  if (path === undefined) return [];
  const text = readFileSync(path, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return parseQosLog(complete).snapshots;
}

/**
 * Packets received per second in snapshot `i`, over its own interval: snapshots are due every
 * second, but a loaded machine fires the timer late, and a count per snapshot is then not a
 * rate.
 */
export function packetRate(snaps: readonly QosSnapshot[], i: number): number {
  const s = snaps[i];
  if (s === undefined) return Number.NaN;
  const dt = s.tMs - (snaps[i - 1]?.tMs ?? 0);
  return (s.recvPackets * 1000) / dt;
}
