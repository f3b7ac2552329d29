/** Prometheus metrics of the signalling server, read from the core's counters at scrape time. */
import { Gauge, Counter, type Registry } from 'prom-client';
import type { CoreStats } from './core/signaling-core.ts';

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
