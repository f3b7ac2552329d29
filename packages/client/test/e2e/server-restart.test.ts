/**
 * E2E 6: server restart. The server runs as a child process; mid-call it is killed with
 * SIGKILL. The direct media path keeps flowing (the callee receives a full second of packets
 * every second of the call, and hears the caller), both clients reconnect to the restarted
 * server (a third client sees them online), and both calls end normally at --duration.
 * Bob hears Alice throughout (speech check and mouth-to-ear from the device clocks,
 * test/helpers/heard.ts). Waits are on Bob's QoS snapshots as his log is written, not sleeps;
 * packet rates are per snapshot interval.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadOrCreateProfile, SignalingClient } from '../../src/signaling/index.ts';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import {
  answerThenCall,
  runCli,
  waitForOutput,
  waitForStderr,
  type CliRun,
} from '../helpers/cli.ts';
import {
  clocksFromLog,
  describe,
  HEARS,
  heard,
  MAX_M2E_MS,
  readReceived,
} from '../helpers/heard.ts';
import { liveSnapshots, packetRate } from '../helpers/qos.ts';
import { waitFor } from '../helpers/wait.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e6-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function startServer(port: number): CliRun {
  return runCli(
    [
      'server',
      '--insecure-http',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      join(dir, 'data'),
      '--log-level',
      'silent',
      '--turn-port',
      '0',
    ],
    150_000,
  );
}

test('killing the server mid-call: direct media continues, clients reconnect', async (t) => {
  const port = await freePort();
  const server = `http://127.0.0.1:${port}`;
  let srv = startServer(port);
  await waitForOutput(srv, /listening/);
  const speech = makeSpeech(
    dir,
    'alice',
    'The server may die, but our conversation goes on regardless of it.',
    14,
  );
  const bobOut = join(dir, 'bob-out.wav');
  const common = ['--server', server, '--host-address', '127.0.0.1', '--json', '--duration', '10'];
  const { alice, bob } = await answerThenCall({
    common,
    dir,
    bobIn: 'null',
    bobOut: `wav:${bobOut}`,
    aliceIn: `wav:${speech}`,
    aliceOut: 'null',
  });
  const watcher = new SignalingClient({
    url: `ws://127.0.0.1:${port}/ws`,
    identity: (await loadOrCreateProfile(join(dir, 'w'))).signer,
    name: 'watcher',
    reconnect: false,
  });
  try {
    await waitForStderr(alice, /connected to bob/);
    const bobProfile = join(dir, 'b');
    const snaps = (): number => liveSnapshots(bobProfile).length;
    await waitFor(() => snaps() >= 2, "2 s of bob's media", 20_000, 50);
    srv.child.kill('SIGKILL');
    await srv.done;
    await waitForStderr(alice, /signalling connection lost/);
    // A full snapshot of media with no server at all.
    const atLoss = snaps();
    await waitFor(() => snaps() >= atLoss + 2, 'media without the server', 20_000, 50);
    srv = startServer(port);
    await waitForOutput(srv, /listening/);
    await watcher.connect();
    // Both clients come back (backoff ≤ 5 s).
    const names = (): string[] => [...watcher.session.online.values()].map((u) => u.name).sort();
    await waitFor(() => names().join() === 'alice,bob', 'both clients online', 8000, 50).catch(
      () => undefined,
    );
    assert.deepEqual(names(), ['alice', 'bob'], 'both clients reconnected');

    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const bobLog = (JSON.parse(rb.stdout) as { log: string }).log;
    const aliceLog = (JSON.parse(ra.stdout) as { log: string }).log;
    const log = parseQosLog(readFileSync(bobLog, 'utf8'));
    assert.ok(log.snapshots.length >= 9, `${log.snapshots.length} snapshots`);
    // Every snapshot but the first (media starting) and the last (media stopping).
    for (let i = 1; i < log.snapshots.length - 1; i++) {
      const rate = packetRate(log.snapshots, i);
      assert.ok(rate >= 45, `t=${log.snapshots[i]?.tMs} ms: ${rate.toFixed(1)} packets/s`);
    }
    const h = heard(
      loadWav(speech),
      readReceived(bobOut),
      clocksFromLog(aliceLog).captureMs,
      clocksFromLog(bobLog).playbackMs,
    );
    const msg = describe('bob hears alice', h);
    t.diagnostic(msg);
    assert.ok(h.score >= HEARS, msg);
    assert.ok(h.mouthToEarMs <= MAX_M2E_MS, msg);
  } finally {
    watcher.close();
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
    srv.child.kill('SIGTERM');
    await srv.done;
  }
});
