/**
 * Every call outcome with real WebSocket clients on loopback: accept (with SDP/ICE forwarding
 * and per-call TURN credentials from a relay), reject, cancel, timeout, busy, do-not-disturb,
 * glare, hang-up, disconnect mid-call; and the stored call records.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SignalingError } from '@parloir/protocol';
import { type ClientSessionEvents } from '@parloir/protocol';
import type { IceServerInfo, MediaRelay } from '../src/relay-types.ts';
import { issueTurnCredential } from '../src/turn/credentials.ts';
import { Store } from '../src/store.ts';
import { connectUser, next, startTestServer, until, type TestClient } from './helpers.ts';

/** A relay that issues real TURN REST credentials and records which calls ended. */
class RecordingRelay implements MediaRelay {
  readonly relayOnly = true;
  readonly ended: string[] = [];
  iceServersFor(callId: string, userId: string, nowMs: number): IceServerInfo[] {
    const c = issueTurnCredential('test-secret', callId, userId, nowMs, 600);
    return [
      {
        urls: ['turn:127.0.0.1:3478?transport=udp'],
        username: c.username,
        credential: c.credential,
      },
    ];
  }
  callEnded(callId: string): void {
    this.ended.push(callId);
  }
}

const relay = new RecordingRelay();
let server: Awaited<ReturnType<typeof startTestServer>>;
const clients: TestClient[] = [];

before(async () => {
  server = await startTestServer({
    relay,
    ringTimeoutMs: 400,
    // Short, so a drop that is never repaired ends its call within the test's waits.
    callGraceMs: 1500,
    callBucket: { burst: 100, perSec: 100 },
  });
});
after(async () => {
  for (const c of clients) c.client.close();
  await server.cleanup();
});

async function pair(): Promise<[TestClient, TestClient]> {
  const a = await connectUser(server);
  const b = await connectUser(server);
  clients.push(a, b);
  await until(() => a.session.online.has(b.userId), 3000, 'a sees b');
  return [a, b];
}

function ended(c: TestClient): Promise<ClientSessionEvents['callEnded']> {
  return next(c.session, 'callEnded');
}

test('accept: both told, roles, per-call TURN credentials, signals forwarded, hang-up ends both', async () => {
  const [a, b] = await pair();
  const incoming = next(b.session, 'incomingCall');
  const ringing = next(a.session, 'call', (s) => s.phase === 'outgoing' && s.ringing);
  const callId = await a.session.invite(b.userId);
  assert.equal((await incoming).from.userId, a.userId);
  await ringing;
  const accA = next(a.session, 'callAccepted');
  const accB = next(b.session, 'callAccepted');
  await b.session.accept();
  const [ca, cb] = await Promise.all([accA, accB]);
  assert.equal(ca.role, 'offerer');
  assert.equal(cb.role, 'answerer');
  assert.equal(ca.relayOnly, true);
  assert.match(ca.iceServers[0]?.username ?? '', new RegExp(`^\\d+:${callId}:${a.userId}$`));
  assert.match(cb.iceServers[0]?.username ?? '', new RegExp(`^\\d+:${callId}:${b.userId}$`));
  assert.deepEqual(server.core.partiesOf(callId), [a.userId, b.userId]);

  const offer = next(b.session, 'signal');
  await a.session.sendSignal({ kind: 'offer', sdp: 'v=0\r\n' });
  assert.deepEqual((await offer).signal, { kind: 'offer', sdp: 'v=0\r\n' });
  const cand = next(a.session, 'signal');
  await b.session.sendSignal({
    kind: 'candidate',
    candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host',
    sdpMid: '0',
  });
  assert.equal((await cand).signal.kind, 'candidate');

  // Others see both in-call.
  const c = await connectUser(server);
  clients.push(c);
  await until(() => c.session.online.get(a.userId)?.status === 'in-call', 3000, 'in-call status');

  const ea = ended(a);
  const eb = ended(b);
  await b.session.hangup();
  assert.deepEqual(await ea, { callId, reason: 'hangup', by: b.userId });
  assert.equal((await eb).reason, 'hangup');
  assert.equal(a.session.call.phase, 'idle');
  assert.ok(relay.ended.includes(callId));
  assert.equal(server.core.partiesOf(callId), undefined);
  await until(
    () => c.session.online.get(a.userId)?.status === 'available',
    3000,
    'available again',
  );

  // Signals outside a live call are refused.
  await assert.rejects(
    a.session.request('call.signal', { callId, signal: { kind: 'end-of-candidates' } }),
    (e: SignalingError) => e.code === 'SIG_ERR_NOT_IN_CALL',
  );
});

test('reject and cancel: both sides told', async () => {
  const [a, b] = await pair();
  let inc = next(b.session, 'incomingCall');
  let ea = ended(a);
  let eb = ended(b);
  await a.session.invite(b.userId);
  await inc;
  await b.session.reject();
  assert.equal((await ea).reason, 'rejected');
  assert.equal((await eb).reason, 'rejected');

  inc = next(b.session, 'incomingCall');
  ea = ended(a);
  eb = ended(b);
  await a.session.invite(b.userId);
  await inc;
  await a.session.cancel();
  assert.equal((await ea).reason, 'cancelled');
  assert.equal((await eb).reason, 'cancelled');
});

test('timeout: an unanswered call ends for both after the ring timeout', async () => {
  const [a, b] = await pair();
  const ea = ended(a);
  const eb = ended(b);
  const t0 = Date.now();
  await a.session.invite(b.userId);
  assert.equal((await ea).reason, 'timeout');
  assert.equal((await eb).reason, 'timeout');
  assert.ok(Date.now() - t0 >= 350, 'not before the timeout');
});

test('busy and do-not-disturb: caller told, callee gets a missed call', async () => {
  const [a, b] = await pair();
  const c = await connectUser(server);
  clients.push(c);
  await until(() => c.session.online.has(a.userId), 3000, 'c sees a');
  const inc = next(b.session, 'incomingCall');
  await a.session.invite(b.userId);
  await inc;
  const missed = next(b.session, 'callMissed');
  const ec = ended(c);
  await c.session.invite(b.userId);
  assert.equal((await ec).reason, 'busy');
  assert.equal((await missed).reason, 'busy');
  assert.equal(b.session.call.phase, 'incoming', 'the first call is untouched');
  await a.session.cancel();
  await until(() => b.session.call.phase === 'idle', 3000, 'b idle');

  await b.session.setStatus('dnd');
  await until(() => c.session.online.get(b.userId)?.status === 'dnd', 3000, 'dnd visible');
  const missed2 = next(b.session, 'callMissed');
  const ec2 = ended(c);
  await c.session.invite(b.userId);
  assert.equal((await ec2).reason, 'dnd');
  assert.equal((await missed2).reason, 'dnd');
  // One call per client; no self calls.
  await assert.rejects(
    c.session.invite(c.userId),
    (e: SignalingError) => e.code === 'SIG_ERR_SELF',
  );
});

test('glare: simultaneous invites resolve to one accepted call, lower user id offers', async () => {
  const [a, b] = await pair();
  const accA = next(a.session, 'callAccepted');
  const accB = next(b.session, 'callAccepted');
  const [ra, rb] = await Promise.allSettled([
    a.session.invite(b.userId),
    b.session.invite(a.userId),
  ]);
  assert.equal(ra.status, 'fulfilled');
  assert.equal(rb.status, 'fulfilled');
  const [ca, cb] = await Promise.all([accA, accB]);
  assert.equal(ca.callId, cb.callId, 'one call');
  const lower = a.userId < b.userId ? a : b;
  assert.equal((lower === a ? ca : cb).role, 'offerer');
  assert.equal((lower === a ? cb : ca).role, 'answerer');
  const ea = ended(a);
  await a.session.hangup();
  assert.equal((await ea).reason, 'hangup');
});

test('disconnect mid-call: the other party is told at once it is reconnecting; the call ends after the grace', async () => {
  const [a, b] = await pair();
  const inc = next(b.session, 'incomingCall');
  const callId = await a.session.invite(b.userId);
  await inc;
  const acc = next(a.session, 'callAccepted');
  await b.session.accept();
  await acc;
  const reconnecting = next(a.session, 'peerReconnecting');
  const ea = next(a.session, 'callEnded', () => true, 6000);
  const t0 = Date.now();
  b.client.terminate();
  const r = await reconnecting;
  assert.deepEqual(r, { callId, userId: b.userId, graceMs: 1500 });
  assert.deepEqual(server.core.partiesOf(callId), [a.userId, b.userId], 'kept for the relay');
  const e = await ea;
  const after = Date.now() - t0;
  assert.equal(e.callId, callId);
  assert.equal(e.reason, 'disconnected');
  assert.ok(after >= 1400, `ended after the grace, not at once (${after} ms)`);
});

test('a dropped client reconnects within the grace and re-attaches: the call survives, the peer hears it is back', async () => {
  const a = await connectUser(server);
  const b = await connectUser(server, undefined, {
    reconnect: true,
    backoff: { baseMs: 50, maxMs: 200 },
  });
  clients.push(a, b);
  await until(() => a.session.online.has(b.userId), 3000, 'a sees b');
  const inc = next(b.session, 'incomingCall');
  const callId = await a.session.invite(b.userId);
  await inc;
  const acc = next(a.session, 'callAccepted');
  await b.session.accept();
  await acc;
  const reconnecting = next(a.session, 'peerReconnecting');
  const back = next(a.session, 'peerReconnected');
  b.client.terminate();
  await reconnecting;
  assert.deepEqual(await back, { callId, userId: b.userId });
  assert.equal(b.session.call.phase, 'active', 'b kept its call through the drop');
  // (That the grace no longer ends it is shown on a fake clock in core/call-grace.test.ts.)
  // Signals reach b's new connection, and the call ends by a hang-up, not a drop.
  const sig = next(b.session, 'signal');
  await a.session.sendSignal({ kind: 'end-of-candidates' });
  assert.equal((await sig).callId, callId);
  const eb = ended(b);
  await a.session.hangup();
  assert.equal((await eb).reason, 'hangup');
});

test('every call is recorded with who, when, answered and end reason', async () => {
  await until(() => relay.ended.length >= 2, 3000, 'calls ended');
  const store = new Store({ path: `${server.dataDir}/parloir.db` });
  try {
    const reasons = new Set<string>();
    // Call records are committed in a batch per tick (~25 ms): wait for the last one.
    await until(
      () => {
        for (const c of clients)
          for (const r of store.callsOf(c.userId)) if (r.endReason) reasons.add(r.endReason);
        return reasons.has('disconnected');
      },
      3000,
      'call records committed',
    );
    for (const r of ['hangup', 'rejected', 'cancelled', 'timeout', 'busy', 'dnd', 'disconnected']) {
      assert.ok(reasons.has(r), `a ${r} call is recorded (have ${[...reasons].join(',')})`);
    }
    const answered = clients
      .flatMap((c) => store.callsOf(c.userId))
      .find((r) => r.endReason === 'hangup');
    assert.ok(answered?.answeredAt && answered.endedAt && answered.endedAt >= answered.answeredAt);
  } finally {
    store.close();
  }
});

test('close(): every call record is written before it resolves (ended calls and the live one)', async () => {
  const own = await startTestServer({ callBucket: { burst: 100, perSec: 100 } });
  const dbPath = `${own.dataDir}/parloir.db`;
  const mine: TestClient[] = [];
  try {
    const a = await connectUser(own);
    const b = await connectUser(own);
    mine.push(a, b);
    await until(() => a.session.online.has(b.userId), 3000, 'a sees b');
    const ended: string[] = [];
    for (let i = 0; i < 3; i++) {
      const inc = next(b.session, 'incomingCall');
      ended.push(await a.session.invite(b.userId));
      await inc;
      const ea = next(a.session, 'callEnded');
      await b.session.reject();
      await ea;
    }
    const inc = next(b.session, 'incomingCall');
    const live = await a.session.invite(b.userId);
    await inc;
    // No wait for a tick: close right away, with the last records still queued in the core.
    await own.close(500);
    const store = new Store({ path: dbPath });
    const rows = store.callsOf(a.userId, 10);
    store.close();
    await store.whenClosed();
    const reasonOf = new Map(rows.map((r) => [r.callId, r.endReason]));
    for (const id of ended) assert.equal(reasonOf.get(id), 'rejected', `${id} recorded`);
    assert.equal(reasonOf.get(live), 'shutdown', 'the live call is recorded as ended by shutdown');
  } finally {
    for (const c of mine) c.client.close();
    await own.cleanup(); // close() again is a no-op; removes the data directory
  }
});
