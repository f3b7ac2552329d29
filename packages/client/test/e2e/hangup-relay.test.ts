/**
 * E2E 4: hang-up and relay. Two `parloir connect` clients call each other with --relay through
 * the server's TURN relay; a hang-up from either side ends the call on both within 1 s (the
 * moment each prints "call ended", measured in this process), and then the relay holds no
 * allocation and forwards nothing more.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, waitForOutput, type CliRun } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let dir = '';
let srv: TestServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e4-'));
  srv = await startTestServer({ turn: true });
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Counts occurrences of `re` in the run's stdout. */
function count(run: CliRun, re: RegExp): number {
  return run.stdout().match(new RegExp(re.source, 'g'))?.length ?? 0;
}

/** Resolves with the time (performance.now) at which `run` prints its `n`-th `re`. */
async function timeOfNth(run: CliRun, re: RegExp, n: number, timeoutMs = 5000): Promise<number> {
  const end = performance.now() + timeoutMs;
  while (count(run, re) < n) {
    if (performance.now() > end) throw new Error(`no ${re} #${n}:\n${run.stdout()}`);
    await sleep(5);
  }
  return performance.now();
}

test('hang-up from either side ends both within 1 s and frees the relay allocations', async () => {
  const relay = srv.relay;
  assert.ok(relay !== undefined);
  const common = ['--server', srv.serverArg, '--relay', '--in', 'null', '--out', 'null'];
  const alice = runCli(
    ['connect', ...common, '--user', 'alice', '--profile', join(dir, 'a')],
    150_000,
  );
  const bob = runCli(['connect', ...common, '--user', 'bob', '--profile', join(dir, 'b')], 150_000);
  try {
    await waitForOutput(alice, /bob is online|online: .*bob/);
    await waitForOutput(bob, /alice is online|online: .*alice/);
    for (const [round, hanger] of [
      [1, alice],
      [2, bob],
    ] as const) {
      alice.send('call bob');
      await waitForOutput(bob, new RegExp(`(! incoming call from alice[^]*){${round}}`));
      bob.send('accept');
      await timeOfNth(alice, /= media up \(relayed\)/, round, 30_000);
      await timeOfNth(bob, /= media up \(relayed\)/, round, 30_000);
      await sleep(1000);
      assert.ok(relay.stats().allocations >= 2, `allocations during call ${round}`);
      const packets: number = relay.stats().packetsRelayed;
      assert.ok(packets > 50, `relayed ${packets} packets`);
      const t0 = performance.now();
      hanger.send('hangup');
      const [ta, tb] = await Promise.all([
        timeOfNth(alice, /\* call ended/, round),
        timeOfNth(bob, /\* call ended/, round),
      ]);
      assert.ok(
        ta - t0 <= 1000 && tb - t0 <= 1000,
        `ended after ${(ta - t0).toFixed(0)} / ${(tb - t0).toFixed(0)} ms`,
      );
      await timeOfNth(alice, /= media ended/, round);
      await timeOfNth(bob, /= media ended/, round);
      const deadline = performance.now() + 1000;
      while (relay.stats().allocations > 0 && performance.now() < deadline) await sleep(20);
      assert.equal(relay.stats().allocations, 0, `allocations left after call ${round}`);
      const relayedAtEnd: number = relay.stats().packetsRelayed;
      await sleep(500);
      assert.equal(relay.stats().packetsRelayed, relayedAtEnd, 'nothing relayed after the hang-up');
    }
    alice.send('quit');
    bob.send('quit');
    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
  } finally {
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
  }
});
