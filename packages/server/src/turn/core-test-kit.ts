/**
 * Test kit of the TURN core's unit tests: a core on a fake clock (`T0`, times passed in), a call
 * directory, client 5-tuples, credentials and the 401 → Allocate → relay-bound sequence. No
 * sockets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { newAllocation, type Allocation, type AllocationInit } from './allocation.ts';
import { TurnTestClient } from './client.ts';
import { issueTurnCredential } from './credentials.ts';
import { MessageClass, StunBuilder, parseStunMessage, type StunMessage } from './stun.ts';
import { TurnCore, type ClientAction, type ClientRef, type TurnCoreOptions } from './turn-core.ts';

export const SECRET = 'secret';
export const T0 = 1_800_000_000_000;

export function directory(calls: Map<string, readonly [string, string]>) {
  return { partiesOf: (id: string) => calls.get(id) };
}

export function makeCore(extra: Partial<TurnCoreOptions> = {}) {
  const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
  const logs: string[] = [];
  const core = new TurnCore({
    secret: SECRET,
    realm: 'parloir',
    calls: directory(calls),
    logger: { info() {}, warn: (_o, m) => logs.push(m) },
    ...extra,
  });
  return { core, calls, logs };
}

let nextPort = 40000;
export function client(ip = '198.51.100.7'): ClientRef {
  const port = nextPort++;
  return { transport: 'udp', ip, port, key: `udp:${ip}:${port}` };
}

export function reply(action: ClientAction | undefined): Buffer {
  assert.ok(action && action.kind === 'reply', `expected a reply, got ${action?.kind}`);
  return action.data;
}

export function creds(callId: string, userId: string, nowMs = T0, ttlSec = 3600) {
  const c = issueTurnCredential(SECRET, callId, userId, nowMs, ttlSec);
  return new TurnTestClient({ username: c.username, password: c.credential });
}

let nextRelayPort = 50000;
/** A fresh relay port for `completeAllocate` (none is bound). */
export function relayPort(): number {
  return nextRelayPort++;
}
/** Runs 401 → Allocate → completeAllocate; returns the allocation. */
export function allocate(core: TurnCore, c: ClientRef, tc: TurnTestClient, now = T0) {
  const challenge = tc.read(reply(core.handleClientPacket(c, tc.allocate(), now)));
  assert.equal(challenge?.errorCode, 401);
  const act = core.handleClientPacket(c, tc.allocate(), now);
  assert.ok(
    act && act.kind === 'allocate',
    `allocate refused: ${act?.kind === 'reply' ? tc.read(act.data)?.errorCode : ''}`,
  );
  const done = core.completeAllocate(
    act.pending,
    { address: { ip: '192.0.2.1', port: relayPort() } },
    now,
  );
  const res = tc.read(done.reply);
  assert.equal(res?.errorCode, 0);
  assert.ok(done.allocation);
  return { allocation: done.allocation, relayed: res.relayed!, mapped: res.mapped! };
}

export function errorOf(tc: TurnTestClient, action: ClientAction | undefined): number {
  return tc.read(reply(action))?.errorCode ?? -1;
}
export function twoParties(extra: Partial<TurnCoreOptions> = {}) {
  const env = makeCore(extra);
  const ca = client('198.51.100.7');
  const cb = client('203.0.113.20');
  const ta = creds('c1', 'alice');
  const tb = creds('c1', 'bob');
  const a = allocate(env.core, ca, ta);
  const b = allocate(env.core, cb, tb);
  return { ...env, ca, cb, ta, tb, a, b };
}

let nextClientPort = 30000;
/**
 * An allocation record on its own (no core), created at `nowMs` with a 600 s lifetime and a
 * bucket of `bucketBytes`, for the pure modules' tests.
 */
export function makeAllocation(
  o: Partial<AllocationInit> = {},
  nowMs = T0,
  bucketBytes = 125_000,
): Allocation {
  const port = nextClientPort++;
  return newAllocation(
    {
      client: { transport: 'udp', ip: '198.51.100.7', port, key: `udp:198.51.100.7:${port}` },
      username: 'u',
      callId: 'c1',
      userId: 'alice',
      key: Buffer.alloc(16),
      relay: { ip: '192.0.2.1', port: relayPort() },
      lifetimeSec: 600,
      allocateTid: '',
      allocateResponse: Buffer.alloc(0),
      tcpRelay: false,
      ...o,
    },
    nowMs,
    bucketBytes,
  );
}

/** A parsed STUN request of `method`, with the attributes `add` appends. */
export function request(method: number, add?: (b: StunBuilder) => void): StunMessage {
  const b = new StunBuilder(method, MessageClass.REQUEST, randomBytes(12));
  add?.(b);
  const parsed = parseStunMessage(b.build());
  assert.ok(parsed.ok);
  return parsed.value;
}
