/**
 * E2E 6: server restart. The server runs as a child process; mid-call it is killed with
 * SIGKILL. The direct media path keeps flowing (the callee receives a full second of packets
 * every second of the call, and hears the caller), both clients reconnect to the restarted
 * server (a third client sees them online), and both calls end normally at --duration.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOrCreateProfile, SignalingClient } from '../../src/signaling/index.ts';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import {
  answerThenCall,
  runCli,
  waitForOutput,
  waitForStderr,
  type CliRun,
} from '../helpers/cli.ts';
import { envelopeSimilarity } from '../helpers/similarity.ts';
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

test('killing the server mid-call: direct media continues, clients reconnect', async () => {
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
    await sleep(2500);
    srv.child.kill('SIGKILL');
    await srv.done;
    await waitForStderr(alice, /signalling connection lost/);
    await sleep(1000);
    srv = startServer(port);
    await waitForOutput(srv, /listening/);
    await watcher.connect();
    // Both clients come back (backoff ≤ 5 s).
    const deadline = performance.now() + 8000;
    const names = (): string[] => [...watcher.session.online.values()].map((u) => u.name).sort();
    while (performance.now() < deadline && names().join() !== 'alice,bob') await sleep(50);
    assert.deepEqual(names(), ['alice', 'bob'], 'both clients reconnected');

    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const log = parseQosLog(readFileSync((JSON.parse(rb.stdout) as { log: string }).log, 'utf8'));
    const full = log.snapshots.slice(1, -1);
    assert.ok(full.length >= 7, `${full.length} snapshots`);
    for (const s of full) {
      assert.ok(s.recvPackets >= 45, `t=${s.tMs} ms: ${s.recvPackets} packets`);
    }
    const sim = envelopeSimilarity(loadWav(speech), loadWav(bobOut));
    assert.ok(sim.correlation >= 0.8, `bob hears alice ${sim.correlation.toFixed(3)}`);
  } finally {
    watcher.close();
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
    srv.child.kill('SIGTERM');
    await srv.done;
  }
});
