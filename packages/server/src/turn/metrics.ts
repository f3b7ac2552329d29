/**
 * Prometheus metrics of the TURN relay. Counters are kept as plain numbers in the core (the hot
 * path must not hash label sets) and copied into prom-client at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TurnCore } from './turn-core.ts';

/**
 * Registers the relay's metrics on `registry`; returns a function that removes them. `sync`, if
 * given, runs before each scrape (it folds the native forwarding thread's counters into the core).
 */
export function registerTurnMetrics(
  registry: Registry,
  core: TurnCore,
  sync?: () => void,
): () => void {
  const names = [
    'parloir_turn_allocations',
    'parloir_turn_packets_relayed_total',
    'parloir_turn_bytes_relayed_total',
    'parloir_turn_refusals_total',
    'parloir_turn_malformed_total',
  ];
  new Gauge({
    name: 'parloir_turn_allocations',
    help: 'Live TURN allocations.',
    registers: [registry],
    collect() {
      sync?.();
      this.set(core.allocationCount);
    },
  });
  let lastPackets = 0;
  new Counter({
    name: 'parloir_turn_packets_relayed_total',
    help: 'Packets relayed by TURN, both directions.',
    registers: [registry],
    collect() {
      this.inc(core.counters.packetsRelayed - lastPackets);
      lastPackets = core.counters.packetsRelayed;
    },
  });
  let lastBytes = 0;
  new Counter({
    name: 'parloir_turn_bytes_relayed_total',
    help: 'Payload bytes relayed by TURN, both directions.',
    registers: [registry],
    collect() {
      this.inc(core.counters.bytesRelayed - lastBytes);
      lastBytes = core.counters.bytesRelayed;
    },
  });
  const lastRefusals = new Map<string, number>();
  new Counter({
    name: 'parloir_turn_refusals_total',
    help: 'TURN refusals: error responses by STUN code, and silent drops by reason.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      for (const [code, n] of core.counters.refusals) {
        this.inc({ code }, n - (lastRefusals.get(code) ?? 0));
        lastRefusals.set(code, n);
      }
    },
  });
  let lastMalformed = 0;
  new Counter({
    name: 'parloir_turn_malformed_total',
    help: 'Packets dropped because they did not parse as STUN or ChannelData.',
    registers: [registry],
    collect() {
      this.inc(core.counters.malformed - lastMalformed);
      lastMalformed = core.counters.malformed;
    },
  });
  return () => {
    for (const n of names) registry.removeSingleMetric(n);
  };
}
