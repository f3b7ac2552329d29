/**
 * E2E: ICE restart when a client's address goes away (issue 21 must-show 2). The server and
 * both clients run in a network namespace the test creates, whose loopback has only
 * 127.0.0.1/32 (server, Bob) and 127.0.0.2/32 (Alice, allowed 127.0.0.2 and 127.0.0.3). Mid-call
 * the test adds 127.0.0.3 and removes 127.0.0.2, as a laptop moving from one network to another:
 * Alice's socket on .2 can no longer send or receive. Her client sees the address gone, restarts
 * ICE (she is the caller: her offer), both ends re-point their C senders at the new pair, and
 * audio resumes both ways with the same jitter buffers.
 *
 * Each input is speech plus a quiet 4 kHz tone: the tone makes the outage visible in the far
 * end's recording frame by frame, so the time to resume is measured from the removal to the
 * first played frames of new packets (device clocks, wall time), and speech similarity is judged
 * on what played after it.
 *
 * Needs root (ip netns); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readWav } from '../../src/audio/index.ts';
import { answerThenCall, runCli, waitForOutput, waitForStderr } from '../helpers/cli.ts';
import { clocksFromLog, describe, heard, HEARS, RATE, readReceived } from '../helpers/heard.ts';
import { liveSnapshots } from '../helpers/qos.ts';
import { makeSpeech } from '../helpers/speech.ts';
import { resumedAtMs, withTone } from '../helpers/tone.ts';
import { waitFor } from '../helpers/wait.ts';

const NS = `parloir-ice-${process.pid}`;
const IN_NS = ['ip', 'netns', 'exec', NS];
/** Must-show 2: audio resumes within 2 s of the address change. */
const MAX_RESUME_MS = 2000;

let dir = '';
let nsReady = false;

function ipNs(...args: string[]): void {
  execFileSync('ip', ['-n', NS, ...args], { stdio: 'pipe' });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-ice-'));
  try {
    execFileSync('ip', ['netns', 'add', NS], { stdio: 'pipe' });
    ipNs('link', 'set', 'lo', 'up');
    // Host routes only: an address removed is really gone (no 127.0.0.0/8 route left to it).
    ipNs('addr', 'del', '127.0.0.1/8', 'dev', 'lo');
    ipNs('addr', 'add', '127.0.0.1/32', 'dev', 'lo');
    ipNs('addr', 'add', '127.0.0.2/32', 'dev', 'lo');
    nsReady = true;
  } catch {
    nsReady = false;
  }
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  try {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'pipe' });
  } catch {
    // Not created.
  }
});

test('an address that goes away mid-call: ICE restarts, audio resumes within 2 s', async (t) => {
  if (!nsReady) {
    t.skip('needs root to create a network namespace (ip netns)');
    return;
  }
  const port = 18_443;
  const srv = runCli(
    [
      ...['server', '--insecure-http', '--bind', '127.0.0.1', '--port', String(port)],
      ...['--data-dir', join(dir, 'data'), '--log-level', 'silent', '--turn-port', '0'],
    ],
    120_000,
    IN_NS,
  );
  await waitForOutput(srv, /listening/);
  const aliceIn = withTone(
    makeSpeech(dir, 'alice', 'We were talking on one network, and now we are on another.', 16),
    dir,
    'alice',
  );
  const bobIn = withTone(
    makeSpeech(dir, 'bob', 'I can still hear you after your address has changed.', 16),
    dir,
    'bob',
  );
  const aliceOut = join(dir, 'alice-out.wav');
  const bobOut = join(dir, 'bob-out.wav');
  const common = ['--server', `http://127.0.0.1:${port}`, '--json', '--duration', '12'];
  const bob = runCli(
    [
      ...['answer', ...common, '--user', 'bob', '--accept-all', '--host-address', '127.0.0.1'],
      ...['--profile', join(dir, 'b'), '--in', `wav:${bobIn}`, '--out', `wav:${bobOut}`],
    ],
    120_000,
    IN_NS,
  );
  await waitForStderr(bob, /waiting for a call/);
  const alice = runCli(
    [
      ...['call', ...common, '--user', 'alice', '--to', 'bob'],
      ...['--host-address', '127.0.0.2', '--host-address', '127.0.0.3'],
      ...['--profile', join(dir, 'a'), '--in', `wav:${aliceIn}`, '--out', `wav:${aliceOut}`],
    ],
    120_000,
    IN_NS,
  );
  void answerThenCall; // the two clients are started here, each in the namespace
  try {
    await waitForStderr(alice, /connected to bob/);
    await waitFor(
      () => liveSnapshots(join(dir, 'b')).length >= 4,
      "4 s of bob's media",
      20_000,
      50,
    );
    // A second network comes up, then the first goes away.
    ipNs('addr', 'add', '127.0.0.3/32', 'dev', 'lo');
    const changeMs = performance.timeOrigin + performance.now();
    ipNs('addr', 'del', '127.0.0.2/32', 'dev', 'lo');
    await waitForStderr(alice, /path restored \(direct\)/, 15_000);
    await waitForStderr(bob, /path restored \(direct\)/, 15_000);
    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(ra.stderr, /restarting the path… \(address-changed\)/);
    const aliceLog = (JSON.parse(ra.stdout) as { log: string }).log;
    const bobLog = (JSON.parse(rb.stdout) as { log: string }).log;
    const aClocks = clocksFromLog(aliceLog);
    const bClocks = clocksFromLog(bobLog);
    for (const [name, ref, out, sender, receiver] of [
      ['bob hears alice', aliceIn, bobOut, aClocks, bClocks],
      ['alice hears bob', bobIn, aliceOut, bClocks, aClocks],
    ] as const) {
      const received = readReceived(out);
      const resumed = resumedAtMs(received, receiver.playbackMs, changeMs);
      const resumeMs = resumed - changeMs;
      // Judge the speech from the resume to the end of the recording.
      const recvFrom = Math.round(((resumed - receiver.playbackMs) * RATE) / 1000);
      const refFrom = Math.max(0, Math.round(((resumed - 500 - sender.captureMs) * RATE) / 1000));
      const h = heard(
        readWav(ref).samples.subarray(refFrom),
        received.subarray(recvFrom),
        sender.captureMs + (refFrom * 1000) / RATE,
        resumed,
      );
      const msg = `${describe(name, h)}; resumed ${resumeMs.toFixed(0)} ms after the change`;
      t.diagnostic(msg);
      assert.ok(resumeMs <= MAX_RESUME_MS, msg);
      assert.ok(h.score >= HEARS, msg);
    }
    // The path state reached the QoS log: every snapshot after the change says up again.
    const snaps = readFileSync(bobLog, 'utf8');
    assert.match(snaps, /"iceRestarts":1/);
  } finally {
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
    srv.child.kill('SIGTERM');
    await srv.done;
  }
});
