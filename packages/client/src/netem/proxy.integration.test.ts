import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Impairment } from '@parloir/media';
import { isDtlsHandshake, NetemProxy } from './proxy.ts';
import { impairmentFromFlags } from './spec.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const bind = (s: Socket) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('netem proxy: measured loss and delay match the configured impairment, both directions', async () => {
  const impairment = impairmentFromFlags({ seed: '7', delay: '30ms', loss: '10%', jitter: '15ms' });
  // The target echoes every datagram back, so the reverse direction is exercised too.
  const target = createSocket('udp4');
  await bind(target);
  target.on('message', (msg, rinfo) => target.send(msg, rinfo.port, rinfo.address));
  const proxy = await NetemProxy.start({
    listen: { host: '127.0.0.1', port: 0 },
    to: { host: '127.0.0.1', port: target.address().port },
    impairment,
  });
  const client = createSocket('udp4');
  await bind(client);
  const N = 300;
  const sentAt = new Map<number, number>();
  const rtts = new Map<number, number>();
  client.on('message', (msg) => {
    const seq = msg.readUInt32BE(0);
    const t0 = sentAt.get(seq);
    if (t0 !== undefined && !rtts.has(seq)) rtts.set(seq, performance.now() - t0);
  });
  try {
    for (let seq = 0; seq < N; seq++) {
      const buf = Buffer.alloc(8);
      buf.writeUInt32BE(seq, 0);
      sentAt.set(seq, performance.now());
      client.send(buf, proxy.address.port, '127.0.0.1');
      await sleep(4); // the send pattern under test, not a wait
    }
    // Every datagram through both directions: the echoes of all delivered ones came back to
    // the proxy, and every one it scheduled back reached the client.
    await waitFor(
      () => {
        const s = proxy.stats();
        return (
          s.up.received === N &&
          s.down.received === N - s.up.dropped &&
          rtts.size === s.down.delivered
        );
      },
      'both directions drained',
      10_000,
      10,
    );
    const st = proxy.stats();
    assert.equal(st.up.received, N);
    assert.equal(st.clients, 1);
    // Loss decisions are the generator's: same seed and packet count, same drops.
    const reference = new Impairment(impairment);
    let refDropped = 0;
    for (let i = 0; i < N; i++) if (reference.process(i * 4).arrivalsMs.length === 0) refDropped++;
    assert.equal(st.up.dropped, refDropped);
    // And they are near the configured 10 % (binomial, N = 300: ±5 points is > 2.8 σ).
    const upLoss = st.up.dropped / N;
    assert.ok(upLoss > 0.05 && upLoss < 0.15, `up loss ${upLoss}`);
    assert.equal(st.down.received, N - st.up.dropped);
    const downLoss = st.down.dropped / st.down.received;
    assert.ok(downLoss > 0.04 && downLoss < 0.17, `down loss ${downLoss}`);
    // End to end: survivors of both directions, ≈ 0.9 × 0.9 of what was sent.
    const e2e = rtts.size / N;
    assert.ok(Math.abs(e2e - (1 - upLoss) * (1 - downLoss)) < 0.02, `e2e ${e2e}`);
    // Delay: 30 ms base + |N(0, 15)| (mean 12 ms) each way, FIFO. The proxy reports what it
    // applied; the measured round trip is that plus scheduling, which must stay small.
    const appliedUp = st.up.delaySumMs / st.up.delivered;
    const appliedDown = st.down.delaySumMs / st.down.delivered;
    assert.ok(appliedUp > 38 && appliedUp < 60, `applied up delay ${appliedUp}`);
    assert.ok(appliedDown > 38 && appliedDown < 60, `applied down delay ${appliedDown}`);
    const sorted = [...rtts.values()].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const min = sorted[0] ?? 0;
    assert.ok(min >= 59, `no datagram beats the 2 × 30 ms base delay (min ${min})`);
    assert.ok(median > 75 && median < 140, `median RTT ${median}`);
  } finally {
    client.close();
    target.close();
    await proxy.close();
  }
});

test('netem proxy: jitter without a reorder option keeps bursts in send order (FIFO link)', async () => {
  // Back-to-back datagrams (a DTLS flight, a burst of RTP) that the FIFO model gives the same
  // arrival time must leave in send order; one timer per datagram used to reverse them.
  const impairment = impairmentFromFlags({ seed: '7', jitter: '21ms' });
  const target = createSocket('udp4');
  await bind(target);
  const got: number[] = [];
  target.on('message', (msg) => got.push(msg.readUInt32BE(0)));
  const proxy = await NetemProxy.start({
    listen: { host: '127.0.0.1', port: 0 },
    to: { host: '127.0.0.1', port: target.address().port },
    impairment,
  });
  const client = createSocket('udp4');
  await bind(client);
  const BURSTS = 60;
  const PER_BURST = 6;
  try {
    let seq = 0;
    for (let b = 0; b < BURSTS; b++) {
      for (let i = 0; i < PER_BURST; i++) {
        const buf = Buffer.alloc(4);
        buf.writeUInt32BE(seq++, 0);
        client.send(buf, proxy.address.port, '127.0.0.1');
      }
      await sleep(3);
    }
    const deadline = performance.now() + 2000;
    while (got.length < seq && performance.now() < deadline) await sleep(20);
    assert.equal(got.length, seq, 'every datagram delivered (no loss configured)');
    const inversions = got.filter((v, i) => i > 0 && v < (got[i - 1] ?? -1)).length;
    assert.equal(inversions, 0, `delivery order: ${got.join(',')}`);
    // The jitter really was applied (so bursts did share clamped arrival times).
    const st = proxy.stats();
    assert.ok(st.up.delaySumMs / st.up.delivered > 8, `mean applied delay ${st.up.delaySumMs}`);
  } finally {
    client.close();
    target.close();
    await proxy.close();
  }
});

test('parloir netem CLI: forwards, prints counters on SIGINT, rejects bad options', async () => {
  const bin = resolve(import.meta.dirname, '../../bin/parloir');
  const bad = spawn(bin, [
    'netem',
    '--listen',
    '127.0.0.1:0',
    '--to',
    '127.0.0.1:9',
    '--loss',
    '150%',
  ]);
  let badErr = '';
  bad.stderr.on('data', (d: Buffer) => (badErr += d.toString()));
  const badCode = await new Promise<number | null>((r) => bad.on('close', r));
  assert.equal(badCode, 2);
  assert.match(badErr, /--loss must be a percentage/);

  const target = createSocket('udp4');
  await bind(target);
  let got = 0;
  target.on('message', () => got++);
  const child = spawn(bin, [
    'netem',
    '--listen',
    '127.0.0.1:0',
    '--to',
    `127.0.0.1:${target.address().port}`,
    '--delay',
    '5ms',
    '--seed',
    '3',
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const started = performance.now();
    while (!/127\.0\.0\.1:(\d+) <->/.test(out) && performance.now() - started < 10000)
      await sleep(20);
    const port = Number(/127\.0\.0\.1:(\d+) <->/.exec(out)?.[1]);
    assert.ok(port > 0, `proxy printed its port: ${out}`);
    const client = createSocket('udp4');
    await bind(client);
    for (let i = 0; i < 20; i++) client.send(Buffer.from([i]), port, '127.0.0.1');
    await waitFor(() => got >= 20, '20 datagrams forwarded', 10_000, 10);
    client.close();
    assert.equal(got, 20);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0);
    const last = out.trim().split('\n').at(-1) ?? '';
    const stats = JSON.parse(last) as { up: { received: number; delivered: number } };
    assert.equal(stats.up.received, 20);
    assert.equal(stats.up.delivered, 20);
  } finally {
    child.kill('SIGKILL');
    target.close();
  }
});

test('netem proxy: --spare-dtls-handshake delivers DTLS handshake records through 100 % loss', async () => {
  const dtlsRecord = (contentType: number) =>
    Buffer.concat([Buffer.from([contentType, 0xfe, 0xfd]), Buffer.alloc(10)]);
  const channelData = (inner: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(0x4001, 0);
    head.writeUInt16BE(inner.length, 2);
    return Buffer.concat([head, inner]);
  };
  assert.ok(isDtlsHandshake(dtlsRecord(22)));
  assert.ok(isDtlsHandshake(channelData(dtlsRecord(22))));
  assert.ok(!isDtlsHandshake(dtlsRecord(23)), 'application data is not spared');
  assert.ok(
    !isDtlsHandshake(channelData(Buffer.from([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]))),
  );
  assert.ok(!isDtlsHandshake(Buffer.from([22])), 'too short to be a record');

  const target = createSocket('udp4');
  await bind(target);
  const got: number[] = [];
  target.on('message', (msg) => got.push(msg[0] === 0x40 ? (msg[4] ?? -1) : (msg[0] ?? -1)));
  const proxy = await NetemProxy.start({
    listen: { host: '127.0.0.1', port: 0 },
    to: { host: '127.0.0.1', port: target.address().port },
    impairment: impairmentFromFlags({ seed: '3', loss: '100%' }),
    spareDtlsHandshake: true,
  });
  const client = createSocket('udp4');
  await bind(client);
  try {
    for (const msg of [
      dtlsRecord(22),
      dtlsRecord(23),
      channelData(dtlsRecord(22)),
      channelData(dtlsRecord(23)),
    ]) {
      client.send(msg, proxy.address.port, '127.0.0.1');
    }
    // The proxy has decided all four, and the two it kept have arrived.
    await waitFor(
      () => proxy.stats().up.received === 4 && got.length >= proxy.stats().up.delivered,
      'all four decided and the spared ones delivered',
      10_000,
      10,
    );
    assert.deepEqual(got, [22, 22], 'only the two handshake records crossed');
    assert.equal(proxy.stats().up.dropped, 2);
  } finally {
    client.close();
    target.close();
    await proxy.close();
  }
});
