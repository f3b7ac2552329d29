import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Impairment, Prng } from './impairment.ts';

const run = (o: ConstructorParameters<typeof Impairment>[0], n: number, packetMs = 20) => {
  const net = new Impairment(o);
  return Array.from({ length: n }, (_, k) => ({
    send: k * packetMs,
    arrivals: net.process(k * packetMs).arrivalsMs,
  }));
};

test('same seed, same fates; another seed, other fates', () => {
  const o = {
    seed: 9,
    loss: { model: 'bernoulli' as const, probability: 0.1 },
    jitter: { distribution: 'gaussian' as const, ms: 10 },
  };
  assert.deepEqual(run(o, 500), run(o, 500));
  assert.notDeepEqual(run(o, 500), run({ ...o, seed: 10 }, 500));
  const a = new Prng(1);
  const b = new Prng(1);
  for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
});

test('Gilbert–Elliott: mean loss p/(p+r) and mean burst 1/r', () => {
  const p = 0.02;
  const r = 0.25;
  const fates = run({ seed: 3, loss: { model: 'gilbert-elliott', p, r } }, 100000);
  const lost = fates.map((f) => f.arrivals.length === 0);
  const rate = lost.filter(Boolean).length / lost.length;
  assert.ok(Math.abs(rate - p / (p + r)) < 0.01, `loss ${rate}`);
  let bursts = 0;
  let inBurst = 0;
  lost.forEach((l, i) => {
    if (l) inBurst++;
    if (l && !lost[i - 1]) bursts++;
  });
  assert.ok(Math.abs(inBurst / bursts - 1 / r) < 0.3, `mean burst ${inBurst / bursts}`);
});

test('Gaussian jitter: delay = base + |N(0, σ)|; FIFO keeps order, non-FIFO reorders', () => {
  const fifo = run(
    { seed: 4, baseDelayMs: 30, jitter: { distribution: 'gaussian', ms: 20 } },
    20000,
  );
  const arrivals = fifo.map((f) => f.arrivals[0] ?? 0);
  assert.ok(
    arrivals.every((a, i) => i === 0 || a >= (arrivals[i - 1] ?? 0)),
    'in order',
  );
  const free = run(
    { seed: 4, baseDelayMs: 30, fifo: false, jitter: { distribution: 'gaussian', ms: 20 } },
    20000,
  );
  const delays = free.map((f) => (f.arrivals[0] ?? 0) - f.send);
  const mean = delays.reduce((x, y) => x + y, 0) / delays.length;
  assert.ok(Math.abs(mean - (30 + 20 * Math.sqrt(2 / Math.PI))) < 0.5, `mean ${mean}`);
  assert.ok(Math.min(...delays) >= 30);
  const a2 = free.map((f) => f.arrivals[0] ?? 0);
  assert.ok(
    a2.some((a, i) => i > 0 && a < (a2[i - 1] ?? 0)),
    'reorders',
  );
});

test('Pareto jitter has a heavy tail and is capped', () => {
  const fates = run(
    {
      seed: 5,
      baseDelayMs: 0,
      fifo: false,
      jitter: { distribution: 'pareto', ms: 5, alpha: 1.5, maxMs: 300 },
    },
    50000,
  );
  const d = fates.map((f) => (f.arrivals[0] ?? 0) - f.send).sort((x, y) => x - y);
  const median = d[d.length >> 1] ?? 0;
  const p999 = d[Math.floor(d.length * 0.999)] ?? 0;
  assert.ok(p999 > 20 * median, `tail ${p999} vs median ${median}`);
  assert.ok((d.at(-1) ?? 0) <= 300);
});

test('spikes stall the path then deliver in a burst; route changes step the base delay', () => {
  const spiky = run(
    { seed: 6, baseDelayMs: 20, spikes: { meanIntervalMs: 2000, heightMs: 200 } },
    3000,
  );
  const delays = spiky.map((f) => (f.arrivals[0] ?? 0) - f.send);
  assert.ok(
    delays.some((d) => d > 150),
    'a stall',
  );
  assert.ok(delays.filter((d) => d === 20).length > 2000, 'mostly base delay');
  const route = run({ seed: 6, baseDelayMs: 20, routeChanges: [{ atMs: 1000, deltaMs: 80 }] }, 100);
  assert.equal((route[10]?.arrivals[0] ?? 0) - 200, 20);
  assert.equal((route[60]?.arrivals[0] ?? 0) - 1200, 100);
});

test('reordering, duplication and drift rates', () => {
  const fates = run(
    { seed: 7, baseDelayMs: 10, reorder: 0.05, reorderExtraMs: 50, duplicate: 0.03 },
    20000,
  );
  const dups = fates.filter((f) => f.arrivals.length === 2).length / fates.length;
  assert.ok(Math.abs(dups - 0.03) < 0.005, `dups ${dups}`);
  const held = fates.filter((f) => (f.arrivals[0] ?? 0) - f.send >= 60).length / fates.length;
  assert.ok(Math.abs(held - 0.05) < 0.008, `reordered ${held}`);
  const drift = run({ seed: 7, baseDelayMs: 10, driftPpm: 3000 }, 3001);
  assert.ok(Math.abs((drift[3000]?.arrivals[0] ?? 0) - (60000 * 1.003 + 10)) < 1e-6);
});

test('invalid options are a typed error', () => {
  assert.throws(() => new Impairment({ seed: 1, loss: { model: 'bernoulli', probability: 2 } }), {
    code: 'MEDIA_ERR_IMPAIRMENT_SPEC',
  });
  assert.throws(
    () => new Impairment({ seed: 1, jitter: { distribution: 'pareto', ms: 5, alpha: 0.5 } }),
    {
      code: 'MEDIA_ERR_IMPAIRMENT_SPEC',
    },
  );
});
