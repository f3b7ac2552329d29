import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { NativeTimer, NativeError } from '../index.ts';
import { waitFor } from './wait.ts';

function fired(timer: (cb: () => void) => NativeTimer): {
  timer: NativeTimer;
  times: number[];
} {
  const times: number[] = [];
  const t = timer(() => times.push(performance.now()));
  return { timer: t, times };
}

test('fires once after the delay; a later arm moves it later, an earlier one earlier', async () => {
  const a = fired((cb) => new NativeTimer(cb));
  const t0 = performance.now();
  a.timer.arm(10);
  a.timer.arm(80); // replaces the 10 ms expiry
  // Its first firing comes at 80 ms or later: the replaced 10 ms expiry would have come first
  // (timestamps, not a check after a sleep that a loaded machine stretches past 80 ms).
  await waitFor(() => a.times.length >= 1, 'the 80 ms expiry');
  assert.ok((a.times[0] ?? 0) - t0 >= 79, `fired after ${(a.times[0] ?? 0) - t0} ms`);

  const b = fired((cb) => new NativeTimer(cb));
  const t1 = performance.now();
  b.timer.arm(5000);
  b.timer.arm(5);
  await waitFor(() => b.times.length >= 1, 'the 5 ms expiry');
  assert.ok((b.times[0] ?? 0) - t1 < 1000);
  // One-shot: a third timer 30 ms later is the barrier; neither fired again before it.
  const barrier = fired((cb) => new NativeTimer(cb));
  barrier.timer.arm(30);
  await waitFor(() => barrier.times.length >= 1, 'the barrier timer');
  assert.equal(a.times.length, 1, 'one-shot');
  assert.equal(b.times.length, 1, 'one-shot');
  a.timer.close();
  b.timer.close();
  barrier.timer.close();
});

test('disarm cancels; close is idempotent and arm after close is a typed error', async () => {
  const a = fired((cb) => new NativeTimer(cb));
  a.timer.arm(5);
  a.timer.disarm();
  const barrier = fired((cb) => new NativeTimer(cb));
  barrier.timer.arm(30);
  await waitFor(() => barrier.times.length >= 1, 'the barrier timer');
  barrier.timer.close();
  assert.equal(a.times.length, 0);
  a.timer.close();
  a.timer.close();
  a.timer.disarm();
  assert.throws(
    () => a.timer.arm(1),
    (e: unknown) => {
      return e instanceof NativeError && e.code === 'NATIVE_ERR_CLOSED';
    },
  );
});

test('bad arguments are typed errors', () => {
  assert.throws(
    () => new NativeTimer(42 as unknown as () => void),
    (e: unknown) => e instanceof NativeError && e.code === 'NATIVE_ERR_BAD_ARG',
  );
  const t = new NativeTimer(() => {});
  for (const bad of [-1, Number.NaN, 2 ** 40, '5' as unknown as number]) {
    assert.throws(
      () => t.arm(bad),
      (e: unknown) => e instanceof NativeError && e.code === 'NATIVE_ERR_BAD_ARG',
    );
  }
  t.close();
});

test('an exception in the callback reaches uncaughtException and the timer stays usable', () => {
  // In a child: the test runner reports any uncaught exception in its own process as a failure.
  const script = `
    import { NativeTimer } from ${JSON.stringify(new URL('../timer.ts', import.meta.url).href)};
    let n = 0;
    process.on('uncaughtException', (e) => { console.log('caught ' + e.message); t.arm(1); });
    const t = new NativeTimer(() => { n++; console.log('fired ' + n); if (n === 1) throw new Error('boom'); });
    t.arm(1);
    setTimeout(() => { t.close(); console.log('end ' + n); }, 200);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['fired 1', 'caught boom', 'fired 2', 'end 2']);
});

test('closed timers collected by the GC free cleanly (no use after free)', () => {
  // close() and the wrapper's finalizer both release the timer; freeing it in the first left
  // the second a dangling pointer (a call's playout stops its timer, the GC comes later: the
  // process died with SIGSEGV at the end of some calls).
  const script = `
    import { NativeTimer } from ${JSON.stringify(new URL('../timer.ts', import.meta.url).href)};
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 200; i++) { const t = new NativeTimer(() => {}); t.arm(1000); t.close(); }
      for (let i = 0; i < 50; i++) { const t = new NativeTimer(() => {}); t.arm(1000); }
      await new Promise((r) => setTimeout(r, 1));
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
      const junk = [];
      for (let i = 0; i < 2000; i++) junk.push(Buffer.allocUnsafe(64 + (i % 100)));
    }
    console.log('survived');
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, MALLOC_PERTURB_: '165' },
  });
  assert.equal(r.signal, null, `child died with ${r.signal}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'survived');
});

/** Main-thread voluntary context switches (process wakeups) of this process. */
function wakeups(): number {
  const s = readFileSync('/proc/thread-self/status', 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN);
}

/**
 * Packets every 20 ms; each pushes a 30 ms deadline back (as the playout's fallback pull is).
 * Returns the main thread's wakeups over the run.
 */
async function deadlinePushedBackPerPacket(rearm: () => void): Promise<number> {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  const port = rx.address().port;
  let packets = 0;
  rx.on('message', () => {
    packets++;
    rearm();
  });
  const w0 = wakeups();
  for (let i = 0; i < 40; i++) {
    tx.send(Buffer.alloc(8), port, '127.0.0.1');
    await sleep(20);
  }
  await sleep(60);
  const w = wakeups() - w0;
  rx.close();
  tx.close();
  assert.ok(packets >= 35, `only ${packets} packets`);
  return w;
}

test('a deadline pushed back from I/O callbacks costs no idle wakeups (setTimeout does)', async () => {
  let js: NodeJS.Timeout | undefined;
  const viaSetTimeout = await deadlinePushedBackPerPacket(() => {
    clearTimeout(js);
    js = setTimeout(() => {}, 30);
  });
  clearTimeout(js);
  const nt = new NativeTimer(() => {});
  const viaNative = await deadlinePushedBackPerPacket(() => nt.arm(30));
  nt.close();
  console.log(
    `main-thread wakeups over 40 packets: native ${viaNative}, setTimeout ${viaSetTimeout}`,
  );
  // The sender's timer and each packet wake this thread (~2 per 20 ms either way); the stale
  // setTimeout expiries add about one more per packet.
  assert.ok(
    viaNative < viaSetTimeout * 0.85,
    `wakeups: native ${viaNative}, setTimeout ${viaSetTimeout}`,
  );
});
