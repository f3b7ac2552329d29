import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { simulateTrace } from './playout-sim.ts';
import {
  TRACE_PRESETS,
  formatTrace,
  generatePresetTrace,
  parseTrace,
  type TraceRow,
} from './trace.ts';

test('fresh traces (seeds never shipped): every condition meets the bench targets', () => {
  const misses: string[] = [];
  TRACE_PRESETS.forEach((preset, i) => {
    const m = simulateTrace(generatePresetTrace(preset, 500000 + 17 * i), { name: preset.name });
    if (!m.withinTarget)
      misses.push(
        `${m.trace}: late ${m.lateLossPct}% buffer ${m.meanBufferMs} oracle ${m.oracleBufferMs}`,
      );
    if (preset.changing && m.ratio >= 1)
      misses.push(`${m.trace}: ratio ${m.ratio} on a changing trace`);
  });
  assert.deepEqual(misses, []);
});

/**
 * Traces written by hand (plain arithmetic, no generator). `changing`: a route change (+70 ms at
 * 20 s), a 300 ms stall at 30 s, then a jittery regime (a deterministic ±15 ms wobble) and a few
 * overtaken packets. `sawtooth`: a queue building 60 ms over 5 s then draining, repeatedly.
 */
function handTrace(kind: 'changing' | 'sawtooth'): TraceRow[] {
  const rows: TraceRow[] = [];
  for (let seq = 0; seq < 3000; seq++) {
    const send = 20 * seq;
    let delay = 40;
    if (kind === 'sawtooth') delay += ((seq % 250) / 250) * 60;
    else {
      if (seq >= 1000) delay += 70;
      if (seq >= 2000) delay += 15 + 15 * Math.sin(seq * 0.7) * Math.sin(seq * 0.13);
      if (seq % 131 === 0) delay += 45;
    }
    if (seq >= 1500 && seq < 1515) delay += 300 - 20 * (seq - 1500);
    const lost = seq % 53 === 0;
    rows.push({ seq, sendMs: send, arrivalMs: lost ? undefined : send + delay });
  }
  return rows;
}

test('hand-written traces meet the targets; on changing conditions the adaptive buffer beats the hindsight constant', () => {
  const changing = simulateTrace(handTrace('changing'), { name: 'hand-changing' });
  assert.ok(changing.withinTarget, JSON.stringify(changing));
  assert.ok(changing.ratio < 1, `ratio ${changing.ratio}`);
  assert.ok(Math.abs(changing.networkLossPct - (100 * 57) / 3000) < 0.01);
  // A periodic sawtooth is closer to stationary: within target, but no claim to beat the oracle.
  const saw = simulateTrace(handTrace('sawtooth'), { name: 'hand-sawtooth' });
  assert.ok(saw.withinTarget, JSON.stringify(saw));
});

test('trace CSV: round trip, empty arrival = lost, duplicates as repeated rows, typed errors', () => {
  const rows: TraceRow[] = [
    { seq: 0, sendMs: 0, arrivalMs: 30.5 },
    { seq: 1, sendMs: 20, arrivalMs: undefined },
    { seq: 2, sendMs: 40, arrivalMs: 70 },
    { seq: 2, sendMs: 40, arrivalMs: 72.25 },
  ];
  const text = formatTrace(rows);
  assert.match(text, /^seq,send_ms,arrival_ms\n0,0.00,30.50\n1,20.00,\n/);
  const back = parseTrace(text);
  assert.ok(back.ok);
  assert.deepEqual(back.value, rows);
  for (const bad of [
    '',
    'a,b,c\n1,2,3',
    'seq,send_ms,arrival_ms\nx,1,2',
    'seq,send_ms,arrival_ms\n1,2,zz',
    'seq,send_ms,arrival_ms\n',
  ]) {
    const r = parseTrace(bad);
    assert.ok(!r.ok && r.error.code === 'MEDIA_ERR_TRACE_FORMAT', bad);
  }
});

test('bench:jitter --json prints one object per trace with the required fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-bench-'));
  const file = join(dir, 'hand.csv');
  writeFileSync(file, formatTrace(handTrace('changing')));
  const bench = resolve(import.meta.dirname, '../bench/jitter.ts');
  const r = spawnSync(process.execPath, [bench, '--json', '--trace', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  for (const k of [
    'trace',
    'packets',
    'networkLossPct',
    'lateLossPct',
    'concealPct',
    'meanBufferMs',
    'oracleBufferMs',
    'ratio',
    'withinTarget',
  ]) {
    assert.ok(k in line, k);
  }
  assert.equal(line.trace, 'hand');
  assert.equal(line.withinTarget, true);
  const badFile = join(dir, 'bad.csv');
  writeFileSync(badFile, 'nope');
  const b = spawnSync(process.execPath, [bench, '--trace', badFile], { encoding: 'utf8' });
  assert.equal(b.status, 2);
  assert.match(b.stderr, /MEDIA_ERR_TRACE_FORMAT/);
});
