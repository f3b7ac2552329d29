/**
 * Replays a packet trace through the real {@link JitterBuffer} on a simulated clock and measures
 * what `npm run bench:jitter` reports: late loss, concealment, mean buffering delay, and the
 * hindsight-optimal constant buffer (the oracle). Used by the bench and by tests on fresh traces.
 */
import { G711Decoder, encodePcmu } from './g711.ts';
import { JitterBuffer, type JitterBufferOptions } from './jitter-buffer.ts';
import { Unwrapper } from './rtp.ts';
import type { TraceRow } from './trace.ts';

/** Metrics of one trace, field names as the bench prints them. */
export interface TraceMetrics {
  /** Trace name. */
  trace: string;
  /** Distinct packets sent. */
  packets: number;
  /** Packets the network lost, % of sent. */
  networkLossPct: number;
  /** Packets that arrived too late to play, % of arrived. */
  lateLossPct: number;
  /** Output audio that was concealed (PLC, FEC, expansion), % of output after playout start. */
  concealPct: number;
  /** Mean over played packets of (playout − send − minimum transit), ms. */
  meanBufferMs: number;
  /** Smallest constant buffer (hindsight) with ≤ 1 % of arrived packets late, ms. */
  oracleBufferMs: number;
  /** meanBufferMs / oracleBufferMs. */
  ratio: number;
  /** lateLossPct ≤ 1 and meanBufferMs ≤ 1.1 × oracleBufferMs + 10. */
  withinTarget: boolean;
  /** The fixed 60 ms buffer baseline on the same trace. */
  baseline60: { lateLossPct: number; meanBufferMs: number };
}

/** Options of {@link simulateTrace}. */
export interface SimulateOptions {
  /** Trace name to report. */
  name: string;
  /** Playout tick, ms. Default 10 (what WebRTC NetEQ uses). */
  tickMs?: number;
  /** Extra jitter-buffer options. */
  buffer?: Partial<Omit<JitterBufferOptions, 'decoder' | 'codec' | 'tickMs'>>;
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Replays `rows` and measures. Deterministic. */
export function simulateTrace(rows: readonly TraceRow[], options: SimulateOptions): TraceMetrics {
  const tickMs = options.tickMs ?? 10;
  const sendBySeq = new Map<number, number>();
  const firstArrival = new Map<number, number>();
  for (const r of rows) {
    if (!sendBySeq.has(r.seq)) sendBySeq.set(r.seq, r.sendMs);
    if (r.arrivalMs !== undefined) {
      const prev = firstArrival.get(r.seq);
      if (prev === undefined || r.arrivalMs < prev) firstArrival.set(r.seq, r.arrivalMs);
    }
  }
  const packets = sendBySeq.size;
  const arrived = firstArrival.size;
  let minTransit = Infinity;
  for (const [seq, a] of firstArrival)
    minTransit = Math.min(minTransit, a - (sendBySeq.get(seq) ?? 0));
  const rel = [...firstArrival].map(([seq, a]) => a - (sendBySeq.get(seq) ?? 0) - minTransit);
  rel.sort((x, y) => x - y);
  const allowedLate = Math.floor(0.01 * arrived);
  const oracle = Math.max(0, rel[arrived - 1 - allowedLate] ?? 0);
  const baselineLate = rel.filter((d) => d > 60).length;

  const jb = new JitterBuffer({
    ...options.buffer,
    decoder: new G711Decoder('pcmu'),
    codec: 'pcmu',
    tickMs,
  });
  const arrivals = rows
    .filter((r): r is TraceRow & { arrivalMs: number } => r.arrivalMs !== undefined)
    .sort((x, y) => x.arrivalMs - y.arrivalMs);
  const sends = [...sendBySeq.values()];
  const packetMs =
    sends.length > 1 ? ((sends.at(-1) ?? 0) - (sends[0] ?? 0)) / (sends.length - 1) : 20;
  const payload = encodePcmu(new Int16Array(Math.max(1, Math.round(packetMs * 8))));
  const playout = new Map<number, number>();
  const unwrap = new Unwrapper(16);
  const rowSeqByExt = new Map<number, number>();
  let next = 0;
  const start = arrivals[0]?.arrivalMs ?? 0;
  const end = (arrivals.at(-1)?.arrivalMs ?? 0) + 2000;
  let outputMs = 0;
  let concealedMs = 0;
  let started = false;
  let lastPlayoutAt = -Infinity;
  for (let t = start; t <= end; t += tickMs) {
    while (next < arrivals.length && (arrivals[next]?.arrivalMs ?? Infinity) <= t) {
      const r = arrivals[next++];
      if (!r) break;
      rowSeqByExt.set(unwrap.unwrap(r.seq & 0xffff), r.seq);
      jb.insert(
        {
          sequenceNumber: r.seq & 0xffff,
          timestamp: Math.round(r.sendMs * 8) >>> 0,
          ssrc: 0x5eed,
          marker: r.seq === 0,
          payload,
        },
        r.arrivalMs,
      );
    }
    const before = jb.stats().concealedMs;
    const res = jb.pull(t);
    for (const p of res.played) {
      const seq = rowSeqByExt.get(p.sequenceNumber);
      if (seq !== undefined && !playout.has(seq)) playout.set(seq, p.playoutMs);
      lastPlayoutAt = t;
    }
    if (res.decision !== 'buffering') started = true;
    if (started && (next < arrivals.length || t <= lastPlayoutAt)) {
      outputMs += tickMs;
      concealedMs += jb.stats().concealedMs - before;
    }
    if (next >= arrivals.length && jb.stats().bufferedPackets === 0 && t > lastPlayoutAt + 200) {
      break;
    }
  }
  let sum = 0;
  let n = 0;
  let lateArrived = 0;
  for (const seq of firstArrival.keys()) {
    const p = playout.get(seq);
    if (p === undefined) {
      lateArrived++;
      continue;
    }
    sum += p - (sendBySeq.get(seq) ?? 0) - minTransit;
    n++;
  }
  const meanBufferMs = n > 0 ? sum / n : 0;
  const lateLossPct = arrived > 0 ? (100 * lateArrived) / arrived : 0;
  const withinTarget = lateLossPct <= 1.0 && meanBufferMs <= 1.1 * oracle + 10;
  return {
    trace: options.name,
    packets,
    networkLossPct: round(packets > 0 ? (100 * (packets - arrived)) / packets : 0),
    lateLossPct: round(lateLossPct),
    concealPct: round(outputMs > 0 ? (100 * concealedMs) / outputMs : 0),
    meanBufferMs: round(meanBufferMs),
    oracleBufferMs: round(oracle),
    ratio: round(oracle > 0 ? meanBufferMs / oracle : meanBufferMs > 0 ? Infinity : 1, 3),
    withinTarget,
    baseline60: {
      lateLossPct: round(arrived > 0 ? (100 * baselineLate) / arrived : 0),
      meanBufferMs: 60,
    },
  };
}
