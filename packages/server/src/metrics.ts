/** Prometheus metrics of the signalling server, read from the core's counters at scrape time. */
import { readdir } from 'node:fs/promises';
import { Gauge, Counter, collectDefaultMetrics, type Registry } from 'prom-client';
import type { CoreStats } from './core/signaling-core.ts';

/**
 * prom-client default metrics whose collection is O(open sockets) on the event loop: with 5,000
 * clients they held a scrape ~20–30 ms (`readdirSync('/proc/self/fd')` alone 7–15 ms; the handle
 * and resource lists 2–4 ms each), and every request arriving meanwhile waited. Removed; the
 * socket count is `parloir_connections`, and `process_open_fds` is re-registered below with the
 * directory read on libuv's thread pool.
 */
const O_N_DEFAULT_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
];

/**
 * Node process metrics (heap, GC, event-loop lag, CPU, memory, fds), once per registry even
 * when it is shared, without the collectors that walk every socket on the event loop
 * ({@link O_N_DEFAULT_METRICS}).
 */
export function registerProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric('nodejs_heap_size_used_bytes')) return;
  collectDefaultMetrics({ register: registry });
  for (const name of O_N_DEFAULT_METRICS) registry.removeSingleMetric(name);
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // Minus the descriptor of the directory being read.
        this.set((await readdir('/proc/self/fd')).length - 1);
      } catch {
        // not readable: no value
      }
    },
  });
}

/** Registers the signalling metrics in `registry`; `stats` is called at each scrape. */
export function registerSignalingMetrics(registry: Registry, stats: () => CoreStats): void {
  let cached: CoreStats | undefined;
  let cachedAt = 0;
  const read = (): CoreStats => {
    const now = Date.now();
    if (!cached || now - cachedAt > 100) {
      cached = stats();
      cachedAt = now;
    }
    return cached;
  };
  const gauge = (name: string, help: string, value: (s: CoreStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(read()));
      },
    });
  gauge('parloir_connections', 'Open WebSocket connections', (s) => s.connections);
  gauge('parloir_clients_online', 'Authenticated users online', (s) => s.online);
  gauge('parloir_pending_approvals', 'Connections waiting for host approval', (s) => s.pending);
  gauge(
    'parloir_calls_reconnecting',
    'Accepted calls kept through a party signalling drop (grace period)',
    (s) => s.callsReconnecting,
  );
  new Gauge({
    name: 'parloir_calls',
    help: 'Live calls by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(read().calls)) this.set({ state }, n);
    },
  });
  // Counters mirror monotonic core totals: increment by the difference since the last scrape.
  const counter = (
    name: string,
    help: string,
    labelName: string | undefined,
    values: (s: CoreStats) => Record<string, number>,
  ) => {
    const last = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: labelName ? [labelName] : [],
      registers: [registry],
      collect() {
        for (const [k, v] of Object.entries(values(read()))) {
          const d = v - (last.get(k) ?? 0);
          last.set(k, v);
          if (d > 0) {
            if (labelName) this.inc({ [labelName]: k }, d);
            else this.inc(d);
          }
        }
      },
    });
  };
  counter('parloir_calls_ended_total', 'Ended calls by reason', 'reason', (s) => ({
    ...s.callsEnded,
  }));
  counter('parloir_frames_in_total', 'Signalling frames received', undefined, (s) => ({
    all: s.framesIn,
  }));
  counter('parloir_frames_out_total', 'Signalling frames sent', undefined, (s) => ({
    all: s.framesOut,
  }));
  counter('parloir_chat_messages_total', 'Chat messages stored', undefined, (s) => ({
    all: s.chatMessages,
  }));
  counter('parloir_errors_total', 'Error answers by code', 'code', (s) => ({ ...s.errors }));
}
