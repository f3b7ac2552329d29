import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseQosLog, QosLogWriter, type QosSnapshot } from '../qos-log/qos-log.ts';
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
      receivePath: 'werift (PARLOIR_FAST_RECEIVE=0)',
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
      /Media path \(send \/ receive\)<\/t[dh]><td>native \/ werift \(PARLOIR_FAST_RECEIVE=0\)/,
    );
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);

    // Through the CLI.
    const out = join(dir, 'r.html');
    const r = spawnSync(process.execPath, [CLI, 'report', w.path, '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), renderReport(log, { source: w.path }));
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
