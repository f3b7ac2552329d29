/**
 * E2E 3: mid-call changes through `parloir connect`'s `set` command, without renegotiation:
 * bitrate 32k → 12k shows in the callee's received byte rate, frame 20 → 10 ms in its packet
 * rate (both from the callee's QoS log), and mute gives silence in the callee's playback within
 * 100 ms. "Silence": every 10 ms of playback below −50 dBFS RMS (104 of 32767), from 100 ms
 * after the mute (located in the callee's output through the capture clock printed by `set` and
 * the envelope alignment lag) to the end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import { runCli, waitForOutput, waitForStderr } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { envelopeSimilarity } from '../helpers/similarity.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

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

test('bitrate, frame size and mute change mid-call and show at the far end', async () => {
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
    await sleep(3200);
    alice.send('set bitrate 12k');
    await waitForOutput(alice, /= set bitrate 12k/);
    await sleep(3200);
    alice.send('set frame 10');
    await waitForOutput(alice, /= set frame 10/);
    await sleep(3200);
    alice.send('set mute on');
    const muteAt = Number((await waitForOutput(alice, /= set mute on at capture (\d+) ms/))[1]);
    await sleep(1500);
    alice.send('hangup');
    await waitForOutput(alice, /call ended/);
    alice.send('quit');
    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);

    // Rates at the callee, one snapshot per second, in order.
    const log = parseQosLog(readFileSync((JSON.parse(rb.stdout) as { log: string }).log, 'utf8'));
    const s = log.snapshots.filter((x) => x.recvPackets > 0);
    const hi = s.findIndex((x) => x.recvKbps > 28 && Math.abs(x.recvPackets - 50) <= 5);
    const lo = s.findIndex(
      (x, i) => i > hi && x.recvKbps < 20 && Math.abs(x.recvPackets - 50) <= 5,
    );
    const ten = s.findIndex((x, i) => i > lo && Math.abs(x.recvPackets - 100) <= 10);
    const rates = s.map((x) => `${x.recvKbps}k/${x.recvPackets}p`).join(' ');
    assert.ok(hi >= 0, `32k at 50 pkt/s never seen: ${rates}`);
    assert.ok(lo > hi, `12k at 50 pkt/s never seen after 32k: ${rates}`);
    assert.ok(ten > lo, `100 pkt/s never seen after 12k: ${rates}`);

    // Mute: find the mute in Bob's output, then check silence from 100 ms later.
    const input = loadWav(speech);
    const output = loadWav(bobOut);
    const { correlation, lagMs } = envelopeSimilarity(input.subarray(0, muteAt * 48), output);
    assert.ok(correlation > 0.8, `alignment ${correlation}`);
    const from = Math.round((muteAt + lagMs + 100) * 48);
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
