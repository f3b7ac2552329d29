/**
 * Diagnostics preloaded into the bench:signaling server process (`--trace`: node
 * `--import signaling-probe.ts`). Records, with wall-clock timestamps (Unix ms), what can stall
 * the server's event loop: GC pauses (≥ 1 ms), event-loop stalls (a 2 ms interval timer firing
 * ≥ 4 ms late), SQLite commits (≥ 1 ms), the core's handling of one input (≥ 1 ms) and
 * `/metrics` collections. On SIGUSR2 it writes them
 * as JSON to the file named by PARLOIR_BENCH_PROBE, so the bench can line them up with its
 * slow invites. Bench-only: the server itself knows nothing of it.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { WebSocket } from 'ws';
import { schedstat } from './schedstat.ts';
import { SignalingCore, type CoreInput } from '../src/core/signaling-core.ts';

/** One recorded event: start (Unix ms), duration (ms), what. */
interface ProbeEvent {
  at: number;
  ms: number;
  what: string;
}

const file = process.env.PARLOIR_BENCH_PROBE;
const events: ProbeEvent[] = [];
const MAX_EVENTS = 200_000;
const wall = (perfMs: number) => performance.timeOrigin + perfMs;
const push = (e: ProbeEvent) => {
  if (events.length < MAX_EVENTS) events.push(e);
};

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'gc-major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'gc-minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'gc-incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'gc-weakcb',
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
    if (e.duration >= 1)
      push({
        at: wall(e.startTime),
        ms: e.duration,
        what: GC_KINDS[e.detail?.kind ?? -1] ?? 'gc',
      });
  }
}).observe({ entryTypes: ['gc'] });

// Event-loop stalls: a 2 ms timer that fires late was held up by synchronous work (or the OS).
// The main thread's /proc schedstat (time on a CPU, time runnable but waiting for one) splits
// each stall into work done and time the scheduler gave to other processes.
const TICK_MS = 2;
let last = performance.now();
let lastSched = schedstat();
setInterval(() => {
  const t = performance.now();
  const sched = schedstat();
  const late = t - last - TICK_MS;
  if (late >= 4)
    push({
      at: wall(last + TICK_MS),
      ms: late,
      what: `loop-stall (on CPU ${(sched.runMs - lastSched.runMs).toFixed(1)} ms, waiting for a CPU ${(sched.waitMs - lastSched.waitMs).toFixed(1)} ms)`,
    });
  last = t;
  lastSched = sched;
}, TICK_MS).unref();

// SQLite commits (call-record batches, chat inserts).
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this)
const exec = DatabaseSync.prototype.exec;
DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
  const t = performance.now();
  const r = exec.call(this, sql);
  const ms = performance.now() - t;
  if (ms >= 1) push({ at: wall(t), ms, what: `sqlite ${sql.slice(0, 24)}` });
  return r;
};

// /metrics collections (prom-client is CommonJS: the server gets this same module instance).
const promClient = createRequire(import.meta.url)('prom-client') as {
  Registry: { prototype: { metrics(): Promise<string> } };
};
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this)
const metrics = promClient.Registry.prototype.metrics;
promClient.Registry.prototype.metrics = function (this: unknown) {
  const t = performance.now();
  const p = metrics.call(this);
  const sync = performance.now() - t;
  return p.then((text) => {
    push({
      at: wall(t),
      ms: performance.now() - t,
      what: `metrics (sync part ${sync.toFixed(1)} ms)`,
    });
    return text;
  });
};

// The core's synchronous work per input (a presence flush in a tick builds one output per user).
const core = SignalingCore.prototype;
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this)
const handleInput = core.handleInput;
core.handleInput = function (this: SignalingCore, input: CoreInput, nowMs: number) {
  const t = performance.now();
  handleInput.call(this, input, nowMs);
  const ms = performance.now() - t;
  if (ms >= 1)
    push({
      at: wall(t),
      ms,
      what: `core ${input.type}${input.type === 'text' ? ` ${/"type":"([^"]*)"/.exec(input.text)?.[1] ?? '?'}` : ''}`,
    });
};

// Keepalive rounds: the server pings every connection (the clients' pongs come back in a burst).
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this)
const ping = WebSocket.prototype.ping;
let lastPing = 0;
let roundStart = 0;
let roundPings = 0;
WebSocket.prototype.ping = function (this: WebSocket, ...args: Parameters<WebSocket['ping']>) {
  const t = performance.now();
  if (t - lastPing > 50) {
    if (roundPings > 0)
      push({ at: wall(roundStart), ms: lastPing - roundStart, what: `ping round (${roundPings})` });
    roundStart = t;
    roundPings = 0;
  }
  roundPings++;
  lastPing = t;
  ping.apply(this, args);
};

process.on('SIGUSR2', () => {
  if (roundPings > 0)
    push({ at: wall(roundStart), ms: lastPing - roundStart, what: `ping round (${roundPings})` });
  roundPings = 0;
  if (file) writeFileSync(file, JSON.stringify(events));
});
