/**
 * Live calls across a server restart (issue 21 §3), on the in-memory store with a fake clock:
 * a new core over the store the old one wrote restores the calls that were live (answered,
 * never ended) into the grace period, as if both parties had dropped. The relay's directory
 * lists them, each party's login names its call, `call.reattach` takes it up, and the first one
 * back hears the other is still reconnecting; calls nobody comes back to end when the grace
 * does, with an end time. A deliberate stop (an upgrade's restart) keeps accepted calls open the
 * same way, unless the next start comes after the grace: they then end at the stop time. No
 * SQLite, no sleeps (test/call-restart.integration.test.ts does it for real).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authSigningText,
  generateIdentity,
  toBase64,
  type GeneratedIdentity,
} from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import { SignalingCore } from './signaling-core.ts';
import { FakeRelay, T0 } from './testing/calls-fixture.ts';
import { FakeStore } from './testing/fake-store.ts';

type Frame = Record<string, unknown>;

/** One core over `store`, driven frame by frame; every frame each connection got is kept. */
function run(store: FakeStore, callGraceMs = 30_000, hostMode = false) {
  const relay = new FakeRelay();
  const core = new SignalingCore({
    store,
    ...CORE_CRYPTO,
    relay,
    callGraceMs,
    ...(hostMode ? { host: { name: 'alice', acceptAll: true } } : {}),
  });
  const frames = new Map<number, Frame[]>();
  const drain = () => {
    for (const o of core.pollOutput()) {
      if (o.type !== 'send') continue;
      const t = typeof o.text === 'string' ? o.text : new TextDecoder().decode(o.text);
      frames.set(o.connId, [...(frames.get(o.connId) ?? []), JSON.parse(t) as Frame]);
    }
  };
  const send = (connId: number, msg: { id: number }, now: number): Frame | undefined => {
    core.handleInput({ type: 'text', connId, text: JSON.stringify(msg) }, now);
    drain();
    return (frames.get(connId) ?? []).find((f) => f.id === msg.id);
  };
  const login = async (connId: number, name: string, id: GeneratedIdentity, now: number) => {
    core.handleInput({ type: 'open', connId, address: '127.0.0.1' }, now);
    drain();
    const hello = frames.get(connId)?.find((f) => f.type === 'hello');
    const sig = await id.sign(
      new TextEncoder().encode(authSigningText(String(hello?.challenge), name)),
    );
    const auth = {
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name,
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
    };
    return (send(connId, auth, now) as { result: { userId: string; callId?: string } }).result;
  };
  /** Events of `type` connection `connId` got. */
  const events = (connId: number, type: string) =>
    (frames.get(connId) ?? []).filter((f) => f.type === type);
  /** A tick at `now`, with connections `alive` showing they are alive. */
  const tick = (now: number, alive: number[] = []) => {
    for (const connId of alive) core.handleInput({ type: 'alive', connId }, now);
    core.handleInput({ type: 'tick' }, now);
    drain();
  };
  return { core, relay, send, login, events, tick };
}

/**
 * A first server run: alice calls bob, he answers, and the process dies (no shutdown input,
 * nothing ended): the store keeps the answered call with no end, as a kill -9 leaves it.
 */
async function callThenCrash(store: FakeStore, first = run(store)) {
  const aliceId = await generateIdentity();
  const bobId = await generateIdentity();
  const alice = await first.login(1, 'alice', aliceId, T0);
  const bob = await first.login(2, 'bob', bobId, T0);
  const inv = first.send(1, { type: 'call.invite', id: 2, to: bob.userId } as never, T0) as {
    result: { callId: string };
  };
  const callId = inv.result.callId;
  first.send(2, { type: 'call.accept', id: 2, callId } as never, T0 + 500);
  first.tick(T0 + 600);
  return { aliceId, bobId, alice, bob, callId, first };
}

test('a restart restores the live call: the relay lists it, logins name it, both re-attach', async () => {
  const store = new FakeStore();
  const { aliceId, bobId, alice, bob, callId } = await callThenCrash(store);
  const R = T0 + 60_000;
  const second = run(store);
  assert.equal(second.core.restoreLiveCalls(R), 1);
  assert.deepEqual(second.core.partiesOf(callId), [alice.userId, bob.userId], 'relay directory');
  assert.equal(second.core.stats().calls.accepted, 1);
  assert.equal(second.core.stats().callsReconnecting, 1);

  const a = await second.login(11, 'alice', aliceId, R + 2_000);
  assert.equal(a.callId, callId, "alice's login names the restored call");
  assert.deepEqual(second.send(11, { type: 'call.reattach', id: 2, callId } as never, R + 2_000), {
    type: 'result',
    id: 2,
    result: {},
  });
  // Bob is not back yet: alice hears he is reconnecting, with what is left of his grace.
  assert.deepEqual(second.events(11, 'call.peerReconnecting'), [
    { type: 'call.peerReconnecting', callId, userId: bob.userId, graceMs: 28_000 },
  ]);
  const b = await second.login(12, 'bob', bobId, R + 5_000);
  assert.equal(b.callId, callId);
  second.send(12, { type: 'call.reattach', id: 2, callId } as never, R + 5_000);
  assert.deepEqual(second.events(11, 'call.peerReconnected'), [
    { type: 'call.peerReconnected', callId, userId: bob.userId },
  ]);
  assert.deepEqual(second.events(12, 'call.peerReconnecting'), [], 'alice was back already');
  assert.equal(second.core.stats().callsReconnecting, 0);
  // Past the grace, the call goes on; signals flow between the new connections.
  second.tick(R + 40_000, [11, 12]);
  assert.deepEqual(second.events(11, 'call.ended'), []);
  const signal = { kind: 'end-of-candidates' };
  second.send(11, { type: 'call.signal', id: 3, callId, signal } as never, R + 40_000);
  assert.equal(second.events(12, 'call.signal').length, 1);
  // The hang-up ends it with an end time in the record, and frees the relay.
  second.send(12, { type: 'call.hangup', id: 4, callId } as never, R + 50_000);
  second.tick(R + 50_100, [11, 12]);
  assert.deepEqual(second.relay.ended, [callId]);
  const rec = store.calls.get(callId);
  assert.equal(rec?.answeredAt, T0 + 500);
  assert.equal(rec?.endedAt, R + 50_000);
  assert.equal(rec?.endReason, 'hangup');
  assert.deepEqual(store.liveCalls(), []);
});

test('a restored call nobody re-attaches to ends at the first scan past the grace', async () => {
  const store = new FakeStore();
  const { callId } = await callThenCrash(store);
  const R = T0 + 60_000;
  const second = run(store, 30_000);
  assert.equal(second.core.restoreLiveCalls(R), 1);
  second.tick(R + 29_999);
  assert.equal(second.core.stats().calls.accepted, 1);
  assert.equal(store.calls.get(callId)?.endedAt, null);
  // Timeouts are scanned every 250 ms: the next scan is at R + 30 249.
  second.tick(R + 30_249);
  assert.equal(second.core.stats().calls.accepted, 0);
  assert.equal(second.core.partiesOf(callId), undefined, 'the relay no longer accepts it');
  assert.deepEqual(second.relay.ended, [callId]);
  assert.equal(store.calls.get(callId)?.endReason, 'disconnected');
  assert.equal(store.calls.get(callId)?.endedAt, R + 30_249);
});

test('one party back: the other still ends the call at its grace, and the one back is told', async () => {
  const store = new FakeStore();
  const { aliceId, bob, callId } = await callThenCrash(store);
  const R = T0 + 60_000;
  const second = run(store, 30_000);
  second.core.restoreLiveCalls(R);
  await second.login(11, 'alice', aliceId, R + 1_000);
  second.send(11, { type: 'call.reattach', id: 2, callId } as never, R + 1_000);
  second.tick(R + 30_000, [11]);
  assert.deepEqual(second.events(11, 'call.ended'), [
    { type: 'call.ended', callId, reason: 'disconnected', by: bob.userId },
  ]);
  assert.equal(store.calls.get(callId)?.endedAt, R + 30_000);
});

test('no grace (callGraceMs 0), or a party in two open calls: ended at once as shutdown', async () => {
  const store = new FakeStore();
  const { callId } = await callThenCrash(store);
  const none = run(store, 0);
  assert.equal(none.core.restoreLiveCalls(T0 + 60_000), 0);
  assert.equal(store.calls.get(callId)?.endReason, 'shutdown');
  assert.equal(store.calls.get(callId)?.endedAt, T0 + 60_000);

  // Damaged data: two open calls share a party. The first (oldest answer) is restored.
  const damaged = new FakeStore();
  for (const [id, caller, callee, at] of [
    ['c1', 'ua', 'ub', T0],
    ['c2', 'ub', 'uc', T0 + 10],
    ['c3', 'ud', 'ud', T0 + 20],
  ] as const) {
    damaged.insertCall({ callId: id, caller, callee, createdAt: at });
    damaged.answerCall(id, at + 1);
  }
  damaged.insertCall({ callId: 'ringing', caller: 'ue', callee: 'uf', createdAt: T0 });
  const core = run(damaged);
  assert.equal(core.core.restoreLiveCalls(T0 + 60_000), 1);
  assert.deepEqual(core.core.partiesOf('c1'), ['ua', 'ub']);
  assert.equal(core.core.partiesOf('c2'), undefined);
  assert.equal(core.core.partiesOf('ringing'), undefined, 'an unanswered call is not restored');
  assert.equal(damaged.calls.get('c2')?.endReason, 'shutdown');
  assert.equal(damaged.calls.get('c3')?.endReason, 'shutdown', 'a call with oneself');
  assert.equal(core.core.stats().callsEnded.shutdown, 2);
});

test('a deliberate stop keeps accepted calls for the next start; past the grace they end at the stop', async () => {
  const store = new FakeStore();
  const { callId, first } = await callThenCrash(store);
  const STOP = T0 + 10_000;
  first.core.handleInput({ type: 'shutdown', reason: 'upgrade' }, STOP);
  first.tick(STOP);
  // The parties hear the server is going away, not that their call ended.
  assert.equal(first.events(1, 'server.shutdown').length, 1);
  assert.deepEqual(first.events(1, 'call.ended'), []);
  assert.deepEqual(first.relay.ended, []);
  assert.equal(store.calls.get(callId)?.endedAt, null);
  // Started again 5 s later: restored, as after a crash.
  const second = run(store);
  assert.equal(second.core.restoreLiveCalls(STOP + 5_000), 1);
  assert.ok(second.core.partiesOf(callId));

  // Another stop, and a start 60 s later (grace 30 s): the call ended when the server stopped.
  second.core.handleInput({ type: 'shutdown', reason: 'stop' }, STOP + 20_000);
  const late = run(store);
  assert.equal(late.core.restoreLiveCalls(STOP + 80_000), 0);
  assert.equal(late.core.partiesOf(callId), undefined);
  assert.equal(store.calls.get(callId)?.endReason, 'shutdown');
  assert.equal(store.calls.get(callId)?.endedAt, STOP + 20_000);
  // The stop time was read once: a later crash restores as usual.
  assert.equal(store.takeLastStop(), undefined);
});

test('in host mode a stop (the host quitting) ends every call, as before', async () => {
  const store = new FakeStore();
  const { callId, first } = await callThenCrash(store, run(store, 30_000, true));
  first.core.handleInput({ type: 'shutdown', reason: 'host quit' }, T0 + 10_000);
  first.tick(T0 + 10_000);
  assert.deepEqual(
    first.events(1, 'call.ended').map((e) => e.reason),
    ['shutdown'],
  );
  assert.deepEqual(first.relay.ended, [callId]);
  assert.equal(store.liveCalls().length, 0);
});
