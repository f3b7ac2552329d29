import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayPorts } from './relay-ports.ts';
import type { PendingAllocate } from './turn-core-types.ts';
import type { RelaySocket } from './udp-sockets.ts';

const T0 = 1_800_000_000_000;

/** Fake binders: no sockets, a set of taken ports, and a log of what was bound and closed. */
function binder(taken = new Set<number>()) {
  const log: string[] = [];
  const bind =
    (kind: string) =>
    (port: number): Promise<RelaySocket | undefined> => {
      if (taken.has(port)) return Promise.resolve(undefined);
      log.push(`${kind}:${port}`);
      return Promise.resolve({ send() {}, close: () => log.push(`close:${port}`) });
    };
  return { log, udp: bind('udp'), tcp: bind('tcp') };
}

function pending(o: Partial<PendingAllocate> = {}): PendingAllocate {
  return {
    client: { transport: 'udp', ip: '198.51.100.7', port: 1, key: 'udp:x' },
    transactionId: Buffer.alloc(12),
    username: 'u',
    callId: 'c1',
    userId: 'alice',
    key: Buffer.alloc(16),
    lifetimeSec: 600,
    evenPort: false,
    reserveNext: false,
    reservationToken: undefined,
    tcpRelay: false,
    ...o,
  };
}

test('acquire: a port of the range, never one in use, TCP listeners for RFC 6062', async () => {
  const ports = new RelayPorts({ min: 50000, max: 50003 });
  const b = binder();
  const seen = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const got = await ports.acquire(pending(), T0, b.udp, b.tcp);
    assert.ok(got);
    assert.ok(got.port >= 50000 && got.port <= 50003);
    assert.ok(!seen.has(got.port), 'a port in use is skipped');
    seen.add(got.port);
    ports.keep(got.port, got.socket);
  }
  assert.equal(await ports.acquire(pending(), T0, b.udp, b.tcp), undefined, 'range full: 508');
  ports.release(50001);
  assert.ok(b.log.includes('close:50001'));
  const tcp = await ports.acquire(pending({ tcpRelay: true }), T0, b.udp, b.tcp);
  assert.equal(tcp?.port, 50001);
  assert.equal(b.log.at(-1), 'tcp:50001');
});

test('acquire: ports taken by others are skipped; EVEN-PORT gives an even port', async () => {
  const ports = new RelayPorts({ min: 50000, max: 50009 });
  const b = binder(new Set([50000, 50002, 50004, 50006]));
  for (let i = 0; i < 20; i++) {
    const got = await ports.acquire(pending({ evenPort: true }), T0, b.udp, b.tcp);
    assert.equal(got?.port, 50008);
    got?.socket.close();
  }
});

test('EVEN-PORT with R reserves the next port for 30 s of the fake clock, once, by its token', async () => {
  const ports = new RelayPorts({ min: 50000, max: 50009 });
  const b = binder();
  const first = await ports.acquire(
    pending({ evenPort: true, reserveNext: true }),
    T0,
    b.udp,
    b.tcp,
  );
  assert.ok(first?.reservationToken);
  assert.equal(first.port % 2, 0);
  ports.keep(first.port, first.socket);
  const token = first.reservationToken;
  const second = await ports.acquire(pending({ reservationToken: token }), T0 + 1000, b.udp, b.tcp);
  assert.equal(second?.port, first.port + 1);
  assert.equal(
    await ports.acquire(pending({ reservationToken: token }), T0 + 1000, b.udp, b.tcp),
    undefined,
    'a token is used once',
  );
  // An unclaimed reservation is closed after 30 s.
  const third = await ports.acquire(
    pending({ evenPort: true, reserveNext: true }),
    T0,
    b.udp,
    b.tcp,
  );
  assert.ok(third?.reservationToken);
  ports.expire(T0 + 29_999);
  assert.ok(!b.log.includes(`close:${third.port + 1}`));
  ports.expire(T0 + 30_000);
  assert.ok(b.log.includes(`close:${third.port + 1}`));
  const late = pending({ reservationToken: third.reservationToken });
  assert.equal(await ports.acquire(late, T0 + 30_000, b.udp, b.tcp), undefined);
  ports.closeAll();
  assert.ok(b.log.includes(`close:${first.port}`));
});
