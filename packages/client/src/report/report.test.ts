import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseQosLog, QosLogWriter, readQosLog, type QosSnapshot } from '../qos-log/qos-log.ts';
import { renderReport, summarise } from './report.ts';

const CLI = resolve(import.meta.dirname, '../cli.ts');

function snapshot(i: number): QosSnapshot {
  return {
    kind: 'qos',
    tMs: i * 1000,
    path: 'direct',
    rttMs: i === 0 ? null : 20 + i,
    lossPct: i === 3 ? 6 : 0,
    cumulativeLossPct: i >= 3 ? 1.5 : 0,
    remoteLossPct: 0,
    jitterMs: 2 + i,
    sendKbps: 36,
    recvKbps: 35,
    recvPackets: 50,
    jitterBuffer: {
      delayMs: 40,
      targetMs: 40,
      latePackets: 0,
      concealedMs: i >= 3 ? 60 : 0,
      fecRecovered: i >= 3 ? 2 : 0,
      accelerate: 0,
      expand: 0,
    },
    rFactor: 90,
    mos: 4.3 - (i === 3 ? 0.5 : 0),
    grade: 'excellent',
    suggestions:
      i === 3 ? [{ en: 'Loss 6%: turn on FEC <now>', fr: 'Perte 6 % : activer la FEC' }] : [],
    settings: {
      bitrateBps: 32000,
      frameMs: 20,
      fec: true,
      expectedLossPct: 0,
      dtx: false,
      jbMinMs: 20,
      jbMaxMs: 400,
      periodMs: 10,
      gainDb: 0,
      muted: false,
      adapt: true,
    },
  };
}

test('log round trip, summary and HTML with six charts and escaped suggestions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-report-'));
  try {
    const w = new QosLogWriter({ profileDir: dir, peer: 'bob/../x' });
    assert.ok(w.path.startsWith(join(dir, 'calls')));
    w.write({
      kind: 'start',
      startedAt: '2026-01-01T00:00:00Z',
      user: 'alice',
      peer: 'bob',
      role: 'caller',
      sas: 'maple tiger opera cloud',
      sendPath: 'native',
      receivePath: 'native, werift (relayed pair) edge',
    });
    for (let i = 0; i < 6; i++) w.write(snapshot(i));
    w.write({ kind: 'end', durationMs: 6000, reason: 'hangup-local' });
    const log = parseQosLog(readFileSync(w.path, 'utf8'));
    assert.equal(log.snapshots.length, 6);
    const sum = summarise(log);
    assert.equal(sum.durationS, 6);
    assert.equal(sum.lossPct, 1.5);
    assert.equal(sum.concealedMs, 60);
    assert.ok(Math.abs(sum.mosMin - 3.8) < 1e-9);
    const html = renderReport(log, { source: w.path });
    assert.equal(html.match(/<svg /g)?.length, 6);
    assert.match(html, /Loss 6%: turn on FEC &lt;now&gt;/);
    assert.match(html, /Perte 6 % : activer la FEC/);
    assert.match(html, /maple tiger opera cloud/);
    assert.match(
      html,
      /Media path \(send \/ receive\)<\/t[dh]><td>native \/ native, werift \(relayed pair\) edge/,
    );
    // These snapshots predate the replay count: the report says so rather than showing 0.
    assert.ok(Number.isNaN(sum.packetsReplayed));
    assert.match(html, /Replayed packets dropped<\/th><td>not logged</);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);

    // Through the CLI, to a file.
    const out = join(dir, 'r.html');
    const r = spawnSync(process.execPath, [CLI, 'report', w.path, '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*r\.html \(6 snapshots\)/);
    assert.equal(readFileSync(out, 'utf8').match(/<svg /g)?.length, 6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad logs give typed errors, and the CLI exits 1 with the code', () => {
  assert.throws(() => parseQosLog('{"kind":"qos"}\n'), { code: 'REPORT_ERR_BAD_LOG' });
  assert.throws(() => parseQosLog('not json'), { code: 'REPORT_ERR_BAD_LOG' });
  assert.throws(() => parseQosLog('[1]'), { code: 'REPORT_ERR_BAD_LOG' });
  assert.deepEqual(parseQosLog('{"kind":"future"}\n\n').snapshots, []);
  const dir = mkdtempSync(join(tmpdir(), 'parloir-report-'));
  try {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{oops\n');
    const r = spawnSync(process.execPath, [CLI, 'report', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /REPORT_ERR_BAD_LOG/);
    const r2 = spawnSync(process.execPath, [CLI, 'report', join(dir, 'missing.jsonl')], {
      encoding: 'utf8',
    });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /REPORT_ERR_IO/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Known answer: the report of test/fixtures/report/tiny-call.jsonl (three snapshots) against
 * tiny-call.html, a golden file reviewed by eye. The figures below are worked out by hand from
 * the log, not taken from summarise(), so a wrong mean or a wrong chart scale fails here even if
 * the golden file were regenerated without care.
 */
test('golden: the report of a tiny fixed log matches the reviewed file; summary figures by hand', () => {
  const fixtures = resolve(import.meta.dirname, '../../test/fixtures/report');
  const log = readQosLog(join(fixtures, 'tiny-call.jsonl'));
  const golden = readFileSync(join(fixtures, 'tiny-call.html'), 'utf8');

  const sum = summarise(log);
  assert.equal(sum.durationS, 3); // end record: 3000 ms
  assert.deepEqual(sum.paths, ['direct', 'relayed']);
  assert.ok(Math.abs(sum.mosMean - 12.1 / 3) < 1e-9); // (4.4 + 3.6 + 4.1) / 3 = 4.033…
  assert.equal(sum.mosMin, 3.6);
  assert.equal(sum.grade, 'excellent'); // the last snapshot's
  assert.equal(sum.lossPct, 4); // cumulative loss of the last snapshot, not a mean
  assert.equal(sum.jitterMeanMs, 4); // (2 + 6 + 4) / 3
  assert.equal(sum.rttMeanMs, 30); // (20 + 40) / 2: the first snapshot has no RTT yet
  assert.equal(sum.sendKbpsMean, 34); // (32 + 34 + 36) / 3
  assert.equal(sum.recvKbpsMean, 30); // (30 + 27 + 33) / 3
  assert.equal(sum.bufferMeanMs, 50); // (40 + 60 + 50) / 3
  assert.equal(sum.concealedMs, 40);
  assert.equal(sum.fecRecovered, 3);
  assert.equal(sum.packetsReplayed, 7); // cumulative count of the last snapshot

  const rows = [
    ['Duration', '3 s'],
    ['Path', 'direct, relayed'],
    ['MOS (mean / min)', '4.03 / 3.60 — excellent'],
    ['Incoming loss', '4.0 %'],
    ['Jitter (mean)', '4.0 ms'],
    ['RTT (mean)', '30.0 ms'],
    ['Bitrate sent / received', '34.0 / 30.0 kbit/s'],
    ['Jitter buffer (mean)', '50.0 ms'],
    ['Concealed / FEC-recovered', '40 ms / 3 frames'],
    ['Replayed packets dropped', '7'],
    ['Verification code', 'maple tiger opera cloud'],
    ['Media path (send / receive)', 'native / fast'],
    ['End', 'hangup-remote'],
  ];
  const table = rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('');
  assert.ok(golden.includes(`<table>${table}</table>`), 'summary table as worked out by hand');
  // Jitter chart: plot 656 × 156 px from (52, 14); x 0-3 s; y 0 to 1.1 × 6 ms = 6.6 ms.
  // (1 s, 2 ms) → (52 + 656/3, 170 − 156 × 2/6.6) = (270.7, 122.7); (2, 6) → (489.3, 28.2);
  // (3, 4) → (708.0, 75.5).
  assert.ok(golden.includes('<path d="M270.7,122.7L489.3,28.2L708.0,75.5"'), 'jitter line');
  // Remote loss is null in the first second: the line starts at 2 s (a gap, not a zero).
  // y 0 to 1.1 × 10 % = 11 %: (2, 2) → 170 − 156 × 2/11 = 141.6.
  assert.ok(golden.includes('<path d="M489.3,141.6L708.0,170.0"'), 'remote loss line');
  assert.ok(golden.includes('<td>Loss 10% &lt;now&gt;: turn on FEC &amp; wait</td>'));

  assert.equal(renderReport(log, { source: 'tiny-call.jsonl' }), golden);
  // The CLI prints the same page (run from the fixture directory, so the source line matches).
  const r = spawnSync(process.execPath, [CLI, 'report', 'tiny-call.jsonl'], {
    cwd: fixtures,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, golden);
});
