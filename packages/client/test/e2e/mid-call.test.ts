/**
 * E2E 3: mid-call changes through `parloir connect`'s `set` command, without renegotiation:
 * bitrate 32k → 12k shows in the callee's received byte rate, frame 20 → 10 ms in its packet
 * rate (both from the callee's QoS log), and mute gives silence in the callee's playback within
 * 100 ms. "Silence": every 10 ms of playback below −50 dBFS RMS (104 of 32767), from 100 ms
 * after the mute (located in the callee's output through the capture clock printed by `set` and
 * the speech check's alignment lag) to the end. Before the mute, Bob hears Alice (speech check,
 * mouth-to-ear from the device clocks; test/helpers/heard.ts). Each setting holds for three of
 * Bob's QoS snapshots, read from his log as they are written; rates are per snapshot interval.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import { runCli, waitForOutput, waitForStderr } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  clocksFromLog,
  describe,
  HEARS,
  heard,
  MAX_M2E_MS,
  readReceived,
} from '../helpers/heard.ts';
import { liveSnapshots, newestLog, packetRate } from '../helpers/qos.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';
import { waitFor } from '../helpers/wait.ts';

let dir = '';
let srv: TestServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e3-'));
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

test('bitrate, frame size and mute change mid-call and show at the far end', async (t) => {
  const speech = makeSpeech(
    dir,
    'alice',
    'Changing settings in the middle of a call must not drop it, said Alice.',
    16,
  );
  const bobOut = join(dir, 'bob-out.wav');
  const common = ['--server', srv.serverArg, '--host-address', '127.0.0.1', '--no-adapt'];
  const bob = runCli(
    [
      'answer',
      ...common,
      '--user',
      'bob',
      '--accept-all',
      '--json',
      '--profile',
      join(dir, 'bob'),
      '--in',
      'null',
      '--out',
      `wav:${bobOut}`,
    ],
    150_000,
  );
  await waitForStderr(bob, /waiting for a call/);
  const alice = runCli(
    [
      'connect',
      ...common,
      '--user',
      'alice',
      '--profile',
      join(dir, 'alice'),
      '--in',
      `wav:${speech}`,
      '--out',
      'null',
    ],
    150_000,
  );
  try {
    await waitForOutput(alice, /bob is online|online: .*bob/);
    alice.send('call bob');
    await waitForOutput(alice, /= media up/);
    const bobProfile = join(dir, 'bob');
    // Holds the current setting for `n` more of Bob's snapshots.
    const hold = async (n: number, what: string): Promise<void> => {
      const have = liveSnapshots(bobProfile).length;
      await waitFor(() => liveSnapshots(bobProfile).length >= have + n, what, 20_000, 50);
    };
    await hold(3, '3 snapshots at 32k');
    alice.send('set bitrate 12k');
    await waitForOutput(alice, /= set bitrate 12k/);
    await hold(3, '3 snapshots at 12k');
    alice.send('set frame 10');
    await waitForOutput(alice, /= set frame 10/);
    await hold(3, '3 snapshots at 10 ms frames');
    alice.send('set mute on');
    const muteAt = Number((await waitForOutput(alice, /= set mute on at capture (\d+) ms/))[1]);
    await hold(2, '2 snapshots after mute');
    alice.send('hangup');
    await waitForOutput(alice, /call ended/);
    alice.send('quit');
    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);

    // Rates at the callee, one snapshot per second, in order.
    const log = parseQosLog(readFileSync((JSON.parse(rb.stdout) as { log: string }).log, 'utf8'));
    const s = log.snapshots;
    const pps = s.map((_, i) => packetRate(s, i));
    const at = (i: number, rate: number): boolean => Math.abs((pps[i] ?? 0) - rate) <= rate / 10;
    const hi = s.findIndex((x, i) => x.recvKbps > 28 && at(i, 50));
    const lo = s.findIndex((x, i) => i > hi && x.recvKbps < 20 && at(i, 50));
    const ten = s.findIndex((_, i) => i > lo && at(i, 100));
    const rates = s.map((x, i) => `${x.recvKbps}k/${(pps[i] ?? 0).toFixed(0)}p/s`).join(' ');
    assert.ok(hi >= 0, `32k at 50 pkt/s never seen: ${rates}`);
    assert.ok(lo > hi, `12k at 50 pkt/s never seen after 32k: ${rates}`);
    assert.ok(ten > lo, `100 pkt/s never seen after 12k: ${rates}`);

    // Mute: find the mute in Bob's output, then check silence from 100 ms later.
    const input = loadWav(speech);
    const output = readReceived(bobOut);
    const aliceLog = newestLog(join(dir, 'alice'));
    assert.ok(aliceLog !== undefined, 'alice logged the call');
    const ac = clocksFromLog(aliceLog);
    const bc = clocksFromLog((JSON.parse(rb.stdout) as { log: string }).log);
    const h = heard(input.subarray(0, muteAt * 48), output, ac.captureMs, bc.playbackMs);
    const msg = describe('bob hears alice before the mute', h);
    t.diagnostic(msg);
    assert.ok(h.score >= HEARS, msg);
    assert.ok(h.mouthToEarMs <= MAX_M2E_MS, msg);
    const from = Math.round((muteAt + h.delayMs + 100) * 48);
    assert.ok(from < output.length - 48_000, 'at least 1 s of output after the mute');
    const loud: string[] = [];
    for (let i = from; i + 480 <= output.length; i += 480) {
      let acc = 0;
      for (let j = i; j < i + 480; j++) acc += (output[j] ?? 0) ** 2;
      const rms = Math.sqrt(acc / 480);
      if (rms >= 104) loud.push(`${((i - from) / 48).toFixed(0)}ms:${rms.toFixed(0)}`);
    }
    assert.deepEqual(loud, [], 'loud 10 ms blocks after mute + 100 ms');
    const before = output.subarray(from - 48_000, from - 4800);
    assert.ok(
      before.some((v) => Math.abs(v) > 3000),
      'speech was audible before the mute',
    );
  } finally {
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
  }
});
