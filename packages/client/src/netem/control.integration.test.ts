/**
 * `parloir netem` mid-run: the impairment switched while traffic flows (NetemProxy.setImpairment,
 * the CLI's `--control` lines on stdin) and one direction impaired alone (`--direction`). The
 * impairment matrix e2e test walks a call through its conditions this way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Impairment } from '@parloir/media';
import { NetemProxy } from './proxy.ts';
import { impairmentFromFlags, parseControlLine, parseDirection } from './spec.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const bind = (s: Socket) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));

test('netem control lines: parsed like the flags, the seed kept, bad lines a typed error', () => {
  assert.deepEqual(parseControlLine('--loss 5% --loss-burst 2', 9), {
    ...impairmentFromFlags({ seed: '9', loss: '5%', lossBurst: '2' }),
  });
  assert.deepEqual(parseControlLine('  ', 4), { seed: 4, baseDelayMs: 0 });
  assert.equal(parseControlLine('--seed 11 --jitter 30ms', 4).seed, 11);
  for (const line of ['--loss 150%', '--bogus 1', 'loss 5%', '--drift 9%', 'x'.repeat(1001)]) {
    assert.throws(
      () => parseControlLine(line, 1),
      (e: unknown) => (e as { code?: string }).code === 'CLI_ERR_BAD_ARGS',
      line.slice(0, 20),
    );
  }
  assert.equal(parseDirection(undefined), 'both');
  assert.equal(parseDirection('up'), 'up');
  assert.throws(() => parseDirection('sideways'), /--direction must be both, up or down/);
});

test('netem proxy: setImpairment switches mid-run, keeps the queue in order; --direction up leaves replies alone', async () => {
  // The target echoes every datagram back through the proxy (the down direction).
  const target = createSocket('udp4');
  await bind(target);
  target.on('message', (msg, rinfo) => target.send(msg, rinfo.port, rinfo.address));
  const proxy = await NetemProxy.start({
    listen: { host: '127.0.0.1', port: 0 },
    to: { host: '127.0.0.1', port: target.address().port },
    impairment: impairmentFromFlags({ seed: '5' }),
    direction: 'up',
  });
  const client = createSocket('udp4');
  await bind(client);
  const back: number[] = [];
  client.on('message', (msg) => back.push(msg.readUInt32BE(0)));
  const send = (seq: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(seq, 0);
    client.send(b, proxy.address.port, '127.0.0.1');
  };
  try {
    // No impairment: everything comes back.
    for (let i = 0; i < 20; i++) send(i);
    await waitFor(() => back.length === 20, '20 echoes', 10_000, 10);
    // 100 % loss on the way up: nothing reaches the target.
    proxy.setImpairment(impairmentFromFlags({ seed: '5', loss: '100%' }));
    for (let i = 20; i < 40; i++) send(i);
    await waitFor(() => proxy.stats().up.received === 40, 'the 20 lossy ones decided', 10_000, 10);
    assert.equal(proxy.stats().up.dropped, 20);
    // A 300 ms delay, then none: the datagram sent after the switch leaves after the delayed one
    // (the link's queue drains in order), though its own delay is 0.
    proxy.setImpairment(impairmentFromFlags({ seed: '5', delay: '300ms' }));
    send(100);
    await waitFor(() => proxy.stats().up.received === 41, 'the delayed one queued', 10_000, 5);
    proxy.setImpairment(impairmentFromFlags({ seed: '5' }));
    send(101);
    await waitFor(() => back.length === 22, 'both echoed', 10_000, 10);
    assert.deepEqual(back.slice(20), [100, 101]);
    const st = proxy.stats();
    // Only the up direction was impaired: the echoes came back at once.
    assert.equal(st.down.dropped, 0);
    assert.ok(st.down.delaySumMs === 0, `down delay ${st.down.delaySumMs}`);
    assert.ok(st.up.delaySumMs >= 299, `up delay ${st.up.delaySumMs}`);
    // A bad impairment is refused with a typed error and the current one stays.
    assert.throws(
      () => proxy.setImpairment({ seed: 1, loss: { model: 'bernoulli', probability: 2 } }),
      (e: unknown) => (e as { code?: string }).code === 'MEDIA_ERR_IMPAIRMENT_SPEC',
    );
    assert.deepEqual(proxy.impairment, impairmentFromFlags({ seed: '5' }));
  } finally {
    client.close();
    target.close();
    await proxy.close();
  }
});

test('parloir netem --control: stdin lines switch the impairment, bad lines are answered, not fatal', async () => {
  const bin = resolve(import.meta.dirname, '../../bin/parloir');
  const target = createSocket('udp4');
  await bind(target);
  let got = 0;
  target.on('message', () => got++);
  const child = spawn(bin, [
    ...['netem', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${target.address().port}`],
    ...['--control', '--direction', 'up', '--seed', '3'],
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const lines = () => out.trim().split('\n');
  const reply = async (line: string, n: number): Promise<Record<string, unknown>> => {
    child.stdin.write(`${line}\n`);
    await waitFor(() => lines().length >= n, `the answer to '${line}'`, 10_000, 10);
    return JSON.parse(lines()[n - 1] ?? '') as Record<string, unknown>;
  };
  const client = createSocket('udp4');
  await bind(client);
  try {
    await waitFor(() => /127\.0\.0\.1:(\d+) <->/.test(out), 'the banner', 10_000, 10);
    const port = Number(/127\.0\.0\.1:(\d+) <->/.exec(out)?.[1]);
    const before = Date.now();
    const applied = await reply('--loss 100%', 2);
    assert.equal(applied.applied, '--loss 100%');
    assert.ok(typeof applied.atMs === 'number' && applied.atMs >= before, 'atMs in Unix ms');
    for (let i = 0; i < 10; i++) client.send(Buffer.from([i]), port, '127.0.0.1');
    // Ask for the counters until the proxy has seen all ten (UDP on loopback: within ms).
    let n = 2;
    let up: unknown;
    for (let tries = 0; tries < 200; tries++) {
      up = (await reply('stats', ++n)).up;
      if ((up as { received: number }).received === 10) break;
    }
    assert.deepEqual(up, { received: 10, dropped: 10, delivered: 0, delaySumMs: 0 });
    const bad = await reply('--loss 150%', ++n);
    assert.equal(bad.error, 'CLI_ERR_BAD_ARGS');
    assert.match(String(bad.message), /--loss must be a percentage/);
    assert.equal((await reply('--frobnicate', ++n)).error, 'CLI_ERR_BAD_ARGS');
    // The bad lines changed nothing; an empty line clears the impairment.
    assert.equal(child.exitCode, null);
    assert.equal((await reply('', ++n)).applied, '');
    for (let i = 0; i < 10; i++) client.send(Buffer.from([i]), port, '127.0.0.1');
    await waitFor(() => got === 10, '10 datagrams through', 10_000, 10);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
    client.close();
    target.close();
  }
});

test('netem proxy: each client has its own generators (seed + 2k up), as each has its own link', async () => {
  const target = createSocket('udp4');
  await bind(target);
  const got = new Set<string>();
  target.on('message', (msg) => got.add(`${msg[0]}:${msg[1]}`));
  const impairment = impairmentFromFlags({ seed: '7', loss: '50%' });
  const proxy = await NetemProxy.start({
    listen: { host: '127.0.0.1', port: 0 },
    to: { host: '127.0.0.1', port: target.address().port },
    impairment,
  });
  const clients = [createSocket('udp4'), createSocket('udp4')];
  try {
    for (const [k, c] of clients.entries()) {
      await bind(c);
      for (let i = 0; i < 40; i++) c.send(Buffer.from([k, i]), proxy.address.port, '127.0.0.1');
      await waitFor(() => proxy.stats().up.received === 40 * (k + 1), `client ${k}`, 10_000, 10);
    }
    await waitFor(() => got.size === proxy.stats().up.delivered, 'deliveries', 10_000, 10);
    for (const k of [0, 1]) {
      // Bernoulli decisions do not depend on time: a fresh generator with the client's seed
      // must drop exactly the same datagrams.
      const reference = new Impairment({ ...impairment, seed: 7 + 2 * k });
      const expected = Array.from({ length: 40 }, () => reference.process(0).arrivalsMs.length > 0);
      const actual = Array.from({ length: 40 }, (_, i) => got.has(`${k}:${i}`));
      assert.deepEqual(actual, expected, `client ${k}`);
    }
  } finally {
    for (const c of clients) c.close();
    target.close();
    await proxy.close();
  }
});
