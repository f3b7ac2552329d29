/**
 * Packet traces: CSV with header `seq,send_ms,arrival_ms`, one row per packet in send order; an
 * empty `arrival_ms` means the network lost it; a packet delivered twice has two rows with the
 * same `seq`. Parsing, writing, and generation from an {@link Impairment}, plus the presets the
 * shipped traces in `packages/media/traces/` were made from.
 */
import { fail, ok, type Result } from './errors.ts';
import { Impairment, type ImpairmentOptions } from './impairment.ts';

/** One row of a trace. */
export interface TraceRow {
  /** Packet sequence number (not wrapped: 0, 1, 2, …). */
  seq: number;
  /** Send time on the sender's clock, ms. */
  sendMs: number;
  /** Arrival time on the receiver's clock, ms; `undefined` if lost. */
  arrivalMs: number | undefined;
}

/** The CSV header every trace starts with. */
export const TRACE_HEADER = 'seq,send_ms,arrival_ms';

/** Parses a trace CSV. Never throws: a malformed file is a typed error naming the line. */
export function parseTrace(text: string): Result<TraceRow[]> {
  const lines = text.split(/\r?\n/);
  if ((lines[0] ?? '').trim() !== TRACE_HEADER) {
    return fail('MEDIA_ERR_TRACE_FORMAT', `trace must start with the header "${TRACE_HEADER}"`);
  }
  const rows: TraceRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const cells = line.split(',');
    if (cells.length < 2 || cells.length > 3) {
      return fail('MEDIA_ERR_TRACE_FORMAT', `line ${i + 1}: expected 3 fields`);
    }
    const seq = Number(cells[0]);
    const sendMs = Number(cells[1]);
    const arrivalCell = (cells[2] ?? '').trim();
    const arrivalMs = arrivalCell === '' ? undefined : Number(arrivalCell);
    if (!Number.isInteger(seq) || seq < 0 || !Number.isFinite(sendMs)) {
      return fail('MEDIA_ERR_TRACE_FORMAT', `line ${i + 1}: bad seq or send_ms`);
    }
    if (arrivalMs !== undefined && !Number.isFinite(arrivalMs)) {
      return fail('MEDIA_ERR_TRACE_FORMAT', `line ${i + 1}: bad arrival_ms`);
    }
    rows.push({ seq, sendMs, arrivalMs });
  }
  if (rows.length === 0) return fail('MEDIA_ERR_TRACE_FORMAT', 'trace has no packets');
  return ok(rows);
}

/** Writes rows as trace CSV (times with two decimals). */
export function formatTrace(rows: readonly TraceRow[]): string {
  const out = [TRACE_HEADER];
  for (const r of rows) {
    const arrival = r.arrivalMs === undefined ? '' : r.arrivalMs.toFixed(2);
    out.push(`${r.seq},${r.sendMs.toFixed(2)},${arrival}`);
  }
  return out.join('\n') + '\n';
}

/** Options of {@link generateTrace}. */
export interface TraceOptions {
  /** Network impairment (its seed makes the trace reproducible). */
  impairment: ImpairmentOptions;
  /** Trace length, ms of send time. */
  durationMs: number;
  /** Packet interval, ms (the frame size). Default 20. */
  packetMs?: number;
}

/** Generates a trace by running packets sent every `packetMs` through an {@link Impairment}. */
export function generateTrace(options: TraceOptions): TraceRow[] {
  const packetMs = options.packetMs ?? 20;
  const net = new Impairment(options.impairment);
  const rows: TraceRow[] = [];
  const count = Math.floor(options.durationMs / packetMs);
  for (let seq = 0; seq < count; seq++) {
    const sendMs = seq * packetMs;
    const fate = net.process(sendMs);
    if (fate.arrivalsMs.length === 0) rows.push({ seq, sendMs, arrivalMs: undefined });
    for (const a of fate.arrivalsMs) rows.push({ seq, sendMs, arrivalMs: a });
  }
  return rows;
}

/** A named condition of the shipped trace set. */
export interface TracePreset {
  /** File stem, e.g. `gauss-30-reorder`. */
  name: string;
  /** One-line description. */
  description: string;
  /** Whether conditions change during the trace (route change, regime switch, spikes, drift). */
  changing: boolean;
  /** Generation options minus the seed. */
  options: Omit<TraceOptions, 'impairment'> & { impairment: Omit<ImpairmentOptions, 'seed'> };
}

const S = 1000;
const GE = (p: number, r: number) => ({ model: 'gilbert-elliott' as const, p, r });

/** The conditions of the shipped trace set (at least 20; 60–120 s of 20 ms packets each). */
export const TRACE_PRESETS: readonly TracePreset[] = [
  {
    name: 'lan-clean',
    description: 'wired LAN: 2 ms base, 1 ms Gaussian jitter, no loss',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: { baseDelayMs: 2, jitter: { distribution: 'gaussian', ms: 1 } },
    },
  },
  {
    name: 'wifi-gauss-10',
    description: 'home Wi-Fi: correlated Gaussian jitter σ 10 ms, 1 % loss',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 15,
        jitter: { distribution: 'gaussian', ms: 10, correlation: 0.5 },
        loss: { model: 'bernoulli', probability: 0.01 },
      },
    },
  },
  {
    name: 'gauss-30-reorder',
    description: 'independent Gaussian jitter σ 30 ms (reorders), 2 % loss',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 40,
        fifo: false,
        jitter: { distribution: 'gaussian', ms: 30 },
        loss: { model: 'bernoulli', probability: 0.02 },
      },
    },
  },
  {
    name: 'gauss-60-reorder',
    description: 'independent Gaussian jitter σ 60 ms (heavy reordering)',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: { baseDelayMs: 60, fifo: false, jitter: { distribution: 'gaussian', ms: 60 } },
    },
  },
  {
    name: 'pareto-light',
    description: 'Pareto jitter x_m 5 ms α 2.5, in order',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: { baseDelayMs: 30, jitter: { distribution: 'pareto', ms: 5, alpha: 2.5 } },
    },
  },
  {
    name: 'pareto-heavy',
    description: 'Pareto jitter x_m 10 ms α 1.5 (heavy tail), 1 % loss',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 50,
        jitter: { distribution: 'pareto', ms: 10, alpha: 1.5 },
        loss: { model: 'bernoulli', probability: 0.01 },
      },
    },
  },
  {
    name: 'ge-burst-5',
    description: 'Gilbert–Elliott burst loss ≈ 5 % (mean burst 3), jitter σ 8 ms',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 25,
        loss: GE(0.0175, 0.333),
        jitter: { distribution: 'gaussian', ms: 8, correlation: 0.3 },
      },
    },
  },
  {
    name: 'ge-burst-15',
    description: 'Gilbert–Elliott burst loss ≈ 15 % (mean burst 5), jitter σ 15 ms',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 35,
        loss: GE(0.035, 0.2),
        jitter: { distribution: 'gaussian', ms: 15, correlation: 0.3 },
      },
    },
  },
  {
    name: 'bernoulli-10',
    description: '10 % independent loss, jitter σ 5 ms',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 20,
        loss: { model: 'bernoulli', probability: 0.1 },
        jitter: { distribution: 'gaussian', ms: 5 },
      },
    },
  },
  {
    name: 'reorder-5',
    description: '5 % of packets held back 50 ms and overtaken, jitter σ 5 ms',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 20,
        reorder: 0.05,
        reorderExtraMs: 50,
        jitter: { distribution: 'gaussian', ms: 5 },
      },
    },
  },
  {
    name: 'duplicate-3',
    description: '3 % duplicated packets, 1 % loss, jitter σ 10 ms',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 20,
        duplicate: 0.03,
        loss: { model: 'bernoulli', probability: 0.01 },
        jitter: { distribution: 'gaussian', ms: 10, correlation: 0.5 },
      },
    },
  },
  {
    name: 'satellite',
    description: 'GEO satellite: 280 ms base, jitter σ 15 ms, 0.5 % loss',
    changing: false,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 280,
        jitter: { distribution: 'gaussian', ms: 15, correlation: 0.6 },
        loss: { model: 'bernoulli', probability: 0.005 },
      },
    },
  },
  {
    name: 'spikes-handover',
    description: 'mobile handovers: 300 ms stalls every ~15 s, jitter σ 6 ms',
    changing: true,
    options: {
      durationMs: 90 * S,
      impairment: {
        baseDelayMs: 40,
        spikes: { meanIntervalMs: 15 * S, heightMs: 300 },
        jitter: { distribution: 'gaussian', ms: 6, correlation: 0.5 },
      },
    },
  },
  {
    name: 'spikes-frequent',
    description: 'congested Wi-Fi: 120 ms stalls every ~4 s, jitter σ 5 ms',
    changing: true,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 20,
        spikes: { meanIntervalMs: 4 * S, heightMs: 120 },
        jitter: { distribution: 'gaussian', ms: 5, correlation: 0.5 },
      },
    },
  },
  {
    name: 'route-up',
    description: 'route change: base delay +80 ms at 30 s, jitter σ 5 ms',
    changing: true,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 30,
        routeChanges: [{ atMs: 30 * S, deltaMs: 80 }],
        jitter: { distribution: 'gaussian', ms: 5, correlation: 0.5 },
      },
    },
  },
  {
    name: 'route-down',
    description: 'route change: base delay −70 ms at 30 s, jitter σ 5 ms',
    changing: true,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 100,
        routeChanges: [{ atMs: 30 * S, deltaMs: -70 }],
        jitter: { distribution: 'gaussian', ms: 5, correlation: 0.5 },
      },
    },
  },
  {
    name: 'route-flap',
    description: 'route flapping: +60 ms / −60 ms steps every 20 s, jitter σ 8 ms',
    changing: true,
    options: {
      durationMs: 120 * S,
      impairment: {
        baseDelayMs: 30,
        routeChanges: [
          { atMs: 20 * S, deltaMs: 60 },
          { atMs: 40 * S, deltaMs: -60 },
          { atMs: 60 * S, deltaMs: 60 },
          { atMs: 80 * S, deltaMs: -60 },
          { atMs: 100 * S, deltaMs: 60 },
        ],
        jitter: { distribution: 'gaussian', ms: 8, correlation: 0.5 },
      },
    },
  },
  {
    name: 'regime-calm-to-storm',
    description: 'regime switch at 30 s: jitter σ 3 ms → σ 40 ms with 3 % burst loss',
    changing: true,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 25,
        regimes: [
          { fromMs: 0, jitter: { distribution: 'gaussian', ms: 3 } },
          {
            fromMs: 30 * S,
            jitter: { distribution: 'gaussian', ms: 40, correlation: 0.5 },
            loss: GE(0.01, 0.33),
          },
        ],
      },
    },
  },
  {
    name: 'regime-storm-to-calm',
    description: 'regime switch at 30 s: Pareto x_m 20 ms α 2 → Gaussian σ 3 ms',
    changing: true,
    options: {
      durationMs: 60 * S,
      impairment: {
        baseDelayMs: 25,
        regimes: [
          { fromMs: 0, jitter: { distribution: 'pareto', ms: 20, alpha: 2 } },
          { fromMs: 30 * S, jitter: { distribution: 'gaussian', ms: 3 } },
        ],
      },
    },
  },
  {
    name: 'regime-alternating',
    description: 'regimes alternate every 15 s between σ 4 ms and σ 35 ms',
    changing: true,
    options: {
      durationMs: 120 * S,
      impairment: {
        baseDelayMs: 30,
        regimes: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
          fromMs: i * 15 * S,
          jitter: { distribution: 'gaussian' as const, ms: i % 2 === 0 ? 4 : 35, correlation: 0.5 },
        })),
      },
    },
  },
  {
    name: 'drift-fast',
    description: 'receiver clock +0.3 % vs sender, jitter σ 5 ms',
    changing: true,
    options: {
      durationMs: 120 * S,
      impairment: {
        baseDelayMs: 20,
        driftPpm: 3000,
        jitter: { distribution: 'gaussian', ms: 5, correlation: 0.5 },
      },
    },
  },
  {
    name: 'drift-slow',
    description: 'receiver clock −0.3 % vs sender, jitter σ 5 ms, 1 % loss',
    changing: true,
    options: {
      durationMs: 120 * S,
      impairment: {
        baseDelayMs: 400,
        driftPpm: -3000,
        jitter: { distribution: 'gaussian', ms: 5, correlation: 0.5 },
        loss: { model: 'bernoulli', probability: 0.01 },
      },
    },
  },
  {
    name: 'mobile-mix',
    description: 'LTE: Pareto jitter, burst loss, handover stalls, a route change, +0.1 % drift',
    changing: true,
    options: {
      durationMs: 120 * S,
      impairment: {
        baseDelayMs: 60,
        jitter: { distribution: 'pareto', ms: 6, alpha: 2.2, correlation: 0.3 },
        loss: GE(0.01, 0.4),
        spikes: { meanIntervalMs: 25 * S, heightMs: 250 },
        routeChanges: [{ atMs: 70 * S, deltaMs: 40 }],
        driftPpm: 1000,
      },
    },
  },
  {
    name: 'bufferbloat-steps',
    description: 'queue building up in 25 ms steps every 10 s then draining, jitter σ 4 ms',
    changing: true,
    options: {
      durationMs: 90 * S,
      impairment: {
        baseDelayMs: 20,
        routeChanges: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({
          atMs: i * 10 * S,
          deltaMs: i <= 5 ? 25 : -40,
        })),
        jitter: { distribution: 'gaussian', ms: 4, correlation: 0.5 },
      },
    },
  },
];

/** Generates the trace for a preset with a given seed. */
export function generatePresetTrace(preset: TracePreset, seed: number): TraceRow[] {
  return generateTrace({ ...preset.options, impairment: { ...preset.options.impairment, seed } });
}
