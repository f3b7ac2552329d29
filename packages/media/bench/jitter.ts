/**
 * Jitter-buffer benchmark: replays packet traces through the adaptive buffer and compares it
 * with the hindsight-optimal constant buffer (the oracle) and a fixed 60 ms buffer (baseline).
 *
 *   npm run bench:jitter -- [--trace FILE.csv …] [--json] [--tick 10|20] [--accelerate-at TICKS]
 *   npm run bench:jitter -- --quality [--json] [--trace FILE.csv …]   (speech quality, PESQ-WB)
 *   npm run bench:jitter -- --loss-protection [--json]               (FEC at 1–10 % loss)
 *
 * `--quality` and `--loss-protection` need libopus through the addon, which packages/media may
 * not import: `npm run bench:jitter` starts packages/client/bench/jitter.ts, which runs them from
 * packages/client/bench/jitter-quality.ts and everything else from this file.
 *
 * Defaults: 10 ms tick, accelerate one tick above target (see JitterBufferOptions).
 *
 * With no --trace it runs every CSV in packages/media/traces/. One line per trace; with --json,
 * one JSON object per line. Exit status 1 if a trace misses the targets
 * (lateLossPct ≤ 1 and meanBufferMs ≤ 1.1 × oracleBufferMs + 10), 2 on bad input.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { simulateTrace, type TraceMetrics } from '../src/playout-sim.ts';
import { TRACE_PRESETS, parseTrace } from '../src/trace.ts';

let args;
try {
  args = parseArgs({
    options: {
      trace: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      tick: { type: 'string', default: '10' },
      'accelerate-at': { type: 'string', default: '1' },
    },
    allowPositionals: true,
  });
} catch (err) {
  console.error(`bench:jitter: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
const { values, positionals } = args;
const tickMs = Number(values.tick);
const accelerateAtTicks = Number(values['accelerate-at']);
if (!(tickMs > 0 && tickMs <= 60) || !(accelerateAtTicks > 0)) {
  console.error('bench:jitter: --tick must be in (0, 60] ms and --accelerate-at > 0');
  process.exit(2);
}
const shipped = resolve(import.meta.dirname, '../traces');
const files = [...(values.trace ?? []), ...positionals];
if (files.length === 0) {
  for (const name of readdirSync(shipped).sort()) {
    if (name.endsWith('.csv')) files.push(join(shipped, name));
  }
}
const changing = new Set(TRACE_PRESETS.filter((p) => p.changing).map((p) => p.name));
const results: (TraceMetrics & { changing: boolean })[] = [];
let bad = false;
for (const file of files) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    console.error(`bench:jitter: cannot read ${file}: ${(err as Error).message}`);
    bad = true;
    continue;
  }
  const parsed = parseTrace(text);
  if (!parsed.ok) {
    console.error(`bench:jitter: ${file}: ${parsed.error.code}: ${parsed.error.message}`);
    bad = true;
    continue;
  }
  const name = basename(file, '.csv');
  const m = {
    ...simulateTrace(parsed.value, { name, tickMs, buffer: { accelerateAtTicks } }),
    changing: changing.has(name),
  };
  results.push(m);
  if (values.json) {
    console.log(JSON.stringify(m));
  } else {
    console.log(
      `${m.trace.padEnd(22)} pkts ${String(m.packets).padStart(5)}  netLoss ${m.networkLossPct.toFixed(1).padStart(5)}%` +
        `  late ${m.lateLossPct.toFixed(2).padStart(5)}%  conceal ${m.concealPct.toFixed(1).padStart(5)}%` +
        `  buffer ${m.meanBufferMs.toFixed(1).padStart(6)} ms  oracle ${m.oracleBufferMs.toFixed(1).padStart(6)} ms` +
        `  ratio ${m.ratio.toFixed(3)}  | fixed60 late ${m.baseline60.lateLossPct.toFixed(2).padStart(6)}%` +
        `  ${m.withinTarget ? 'OK' : 'MISS'}`,
    );
  }
}
if (!values.json && results.length > 0) {
  const worst = results.reduce((w, m) =>
    m.meanBufferMs - (1.1 * m.oracleBufferMs + 10) > w.meanBufferMs - (1.1 * w.oracleBufferMs + 10)
      ? m
      : w,
  );
  const within = results.filter((m) => m.withinTarget).length;
  const changingBeat = results.filter((m) => m.changing && m.ratio < 1).length;
  const changingAll = results.filter((m) => m.changing).length;
  console.log(
    `\n${within}/${results.length} traces within target; changing-condition traces with ratio < 1: ` +
      `${changingBeat}/${changingAll}; worst (closest to the delay bound): ${worst.trace} ` +
      `(buffer ${worst.meanBufferMs} ms vs bound ${(1.1 * worst.oracleBufferMs + 10).toFixed(1)} ms, late ${worst.lateLossPct}%)`,
  );
}
process.exitCode = bad ? 2 : results.every((m) => m.withinTarget) ? 0 : 1;
