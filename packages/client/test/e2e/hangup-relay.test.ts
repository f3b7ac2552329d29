/**
 * E2E 4: hang-up and relay. Two `parloir connect` clients call each other with --relay through
 * the server's TURN relay; a hang-up from either side ends the call on both within 1 s (the
 * moment each prints "call ended", measured in this process), and then the relay holds no
 * allocation and forwards nothing more. Each call's traffic is read from the server's relayed
 * byte counter before and after that call (test/helpers/relay-use.ts): it rises by about both
 * directions' bitrate × the call's media duration, so round 2 cannot pass on round 1's bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import { runCli, waitForOutput, type CliRun } from '../helpers/cli.ts';
import { assertRelayedCall } from '../helpers/relay-use.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { makeSpeech } from '../helpers/speech.ts';
import { waitFor } from '../helpers/wait.ts';

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

/** Media duration of the newest call in a profile's QoS logs, ms. */
function lastCallMs(profile: string): number {
  const calls = join(profile, 'calls');
  const files = readdirSync(calls).sort();
  const log = parseQosLog(readFileSync(join(calls, files.at(-1) ?? ''), 'utf8'));
  return log.end?.durationMs ?? 0;
}

test('hang-up from either side ends both within 1 s and frees the relay allocations', async (t) => {
  const relay = srv.relay;
  assert.ok(relay !== undefined);
  // Speech, not silence, so the calls run at their full bitrate (Opus spends next to nothing
  // on digital silence).
  const speechA = makeSpeech(dir, 'a', 'Alice talks through the relay until someone hangs up.', 30);
  const speechB = makeSpeech(dir, 'b', 'Bob talks back through the same relay, then hangs up.', 30);
  const common = ['--server', srv.serverArg, '--relay', '--out', 'null'];
  const pa = join(dir, 'a');
  const pb = join(dir, 'b');
  const alice = runCli(
    ['connect', ...common, '--in', `wav:${speechA}`, '--user', 'alice', '--profile', pa],
    150_000,
  );
  const bob = runCli(
    ['connect', ...common, '--in', `wav:${speechB}`, '--user', 'bob', '--profile', pb],
    150_000,
  );
  try {
    await waitForOutput(alice, /bob is online|online: .*bob/);
    await waitForOutput(bob, /alice is online|online: .*alice/);
    for (const [round, hanger] of [
      [1, alice],
      [2, bob],
    ] as const) {
      const bytesBefore = relay.stats().bytesRelayed;
      alice.send('call bob');
      await waitForOutput(bob, new RegExp(`(! incoming call from alice[^]*){${round}}`));
      bob.send('accept');
      await timeOfNth(alice, /= media up \(relayed\)/, round, 30_000);
      await timeOfNth(bob, /= media up \(relayed\)/, round, 30_000);
      // A second of relayed media: 2 legs × 2 directions × 50 packets.
      const packetsAtUp = relay.stats().packetsRelayed;
      await waitFor(
        () => relay.stats().packetsRelayed - packetsAtUp >= 200,
        `call ${round}: 200 packets relayed`,
        10_000,
      );
      assert.ok(relay.stats().allocations >= 2, `allocations during call ${round}`);
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
      // Nothing may follow for a while: an observation window, not a wait for something.
      await sleep(500);
      assert.equal(relay.stats().packetsRelayed, relayedAtEnd, 'nothing relayed after the hang-up');
      // This call's own traffic, from the server's counter, against the longer of the two
      // sides' media durations (each side's clock starts when its media comes up).
      const callMs = Math.max(lastCallMs(pa), lastCallMs(pb));
      t.diagnostic(
        `call ${round}: ${assertRelayedCall(relay.stats().bytesRelayed - bytesBefore, callMs, 32_000)}`,
      );
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
