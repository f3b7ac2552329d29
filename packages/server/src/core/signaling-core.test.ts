/**
 * The sans-IO core driven directly with a fake clock: no sockets, no sleeps. Timeouts (ring,
 * auth, ping) are checked by advancing time.
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
import { Store } from '../store.ts';
import { SignalingCore, type CoreOutput } from './signaling-core.ts';

function makeCore(opts: Partial<ConstructorParameters<typeof SignalingCore>[0]> = {}) {
  const store = new Store({ path: ':memory:' });
  const core = new SignalingCore({
    store,
    ...CORE_CRYPTO,
    ringTimeoutMs: 30_000,
    ...opts,
  });
  return { core, store };
}

/** Frames sent to each connection, parsed. */
function collect(
  core: SignalingCore,
  sink: Map<number, Record<string, unknown>[]>,
  closes: CoreOutput[],
): void {
  const deliver = (connId: number, text: string | Uint8Array) => {
    const list = sink.get(connId) ?? [];
    const t = typeof text === 'string' ? text : new TextDecoder().decode(text);
    list.push(JSON.parse(t) as Record<string, unknown>);
    sink.set(connId, list);
  };
  for (const o of core.pollOutput()) {
    if (o.type === 'send') deliver(o.connId, o.text);
    else if (o.type === 'broadcast') for (const c of o.connIds) deliver(c, o.text);
    else closes.push(o);
  }
}

async function login(
  core: SignalingCore,
  sink: Map<number, Record<string, unknown>[]>,
  closes: CoreOutput[],
  connId: number,
  name: string,
  now: number,
  identity?: GeneratedIdentity,
): Promise<{ id: GeneratedIdentity; userId: string }> {
  const id = identity ?? (await generateIdentity());
  core.handleInput({ type: 'open', connId, address: '127.0.0.1' }, now);
  collect(core, sink, closes);
  const hello = sink.get(connId)?.find((f) => f.type === 'hello');
  const sig = await id.sign(
    new TextEncoder().encode(authSigningText(String(hello?.challenge), name)),
  );
  const text = JSON.stringify({
    type: 'auth',
    id: 1,
    protocolVersion: 1,
    name,
    publicKey: toBase64(id.publicKey),
    signature: toBase64(sig),
  });
  core.handleInput({ type: 'text', connId, text }, now);
  collect(core, sink, closes);
  const res = sink.get(connId)?.find((f) => f.id === 1) as { result: { userId: string } };
  return { id, userId: res.result.userId };
}

test('ring timeout: both parties told, driven by a fake clock', async () => {
  const { core, store } = makeCore();
  const sink = new Map<number, Record<string, unknown>[]>();
  const closes: CoreOutput[] = [];
  let now = 1_000_000;
  await login(core, sink, closes, 1, 'a', now);
  const b = await login(core, sink, closes, 2, 'b', now);
  core.handleInput(
    { type: 'text', connId: 1, text: JSON.stringify({ type: 'call.invite', id: 2, to: b.userId }) },
    now,
  );
  collect(core, sink, closes);
  const callId = (sink.get(1)?.find((f) => f.id === 2) as { result: { callId: string } }).result
    .callId;
  assert.ok(sink.get(2)?.some((f) => f.type === 'call.incoming' && f.callId === callId));
  assert.deepEqual(core.partiesOf(callId)?.length, 2);
  for (const t of [10_000, 29_000]) {
    now = 1_000_000 + t;
    core.handleInput({ type: 'alive', connId: 1 }, now);
    core.handleInput({ type: 'alive', connId: 2 }, now);
    core.handleInput({ type: 'tick' }, now);
    collect(core, sink, closes);
    assert.ok(!sink.get(1)?.some((f) => f.type === 'call.ended'), `not ended at +${t} ms`);
  }
  now = 1_030_300;
  core.handleInput({ type: 'tick' }, now);
  collect(core, sink, closes);
  for (const c of [1, 2]) {
    assert.ok(
      sink.get(c)?.some((f) => f.type === 'call.ended' && f.reason === 'timeout'),
      `conn ${c} told`,
    );
  }
  assert.equal(core.partiesOf(callId), undefined);
  assert.equal(store.callsOf(b.userId)[0]?.endReason, 'timeout');
  store.close();
});

test('auth and ping timeouts close with their codes; the leaver is announced', async () => {
  const { core, store } = makeCore({
    authTimeoutMs: 10_000,
    pingTimeoutMs: 30_000,
    presenceBatchMs: 50,
  });
  const sink = new Map<number, Record<string, unknown>[]>();
  const closes: CoreOutput[] = [];
  let now = 0;
  core.handleInput({ type: 'open', connId: 9, address: '10.0.0.1' }, now);
  const a = await login(core, sink, closes, 1, 'a', now);
  const b = await login(core, sink, closes, 2, 'b', now);
  now = 9_999;
  core.handleInput({ type: 'tick' }, now);
  collect(core, sink, closes);
  assert.equal(closes.length, 0);
  now = 10_300;
  core.handleInput({ type: 'alive', connId: 1 }, now);
  core.handleInput({ type: 'tick' }, now);
  collect(core, sink, closes);
  assert.deepEqual(
    closes.map((c) => c.type === 'close' && [c.connId, c.code]),
    [[9, 4010]],
  );
  // b stays silent; a keeps answering pings.
  now = 30_500;
  core.handleInput({ type: 'alive', connId: 1 }, now);
  core.handleInput({ type: 'tick' }, now);
  collect(core, sink, closes);
  assert.ok(closes.some((c) => c.type === 'close' && c.connId === 2 && c.code === 4011));
  assert.ok(
    sink
      .get(1)
      ?.some(
        (f) => f.type === 'presence.diff' && (f.left as string[] | undefined)?.includes(b.userId),
      ),
  );
  assert.equal(core.stats().online, 1);
  assert.ok(a.userId);
  store.close();
});

test('presence: a status undone within the batch window costs no diff; a pending change reaches a later viewer', async () => {
  const { core, store } = makeCore({ presenceBatchMs: 50 });
  const sink = new Map<number, Record<string, unknown>[]>();
  const closes: CoreOutput[] = [];
  let now = 0;
  const send = (connId: number, msg: object) => {
    core.handleInput({ type: 'text', connId, text: JSON.stringify(msg) }, now);
    collect(core, sink, closes);
  };
  const tick = (at: number) => {
    now = at;
    for (const c of [1, 2, 3]) core.handleInput({ type: 'alive', connId: c }, now);
    core.handleInput({ type: 'tick' }, now);
    collect(core, sink, closes);
  };
  const changes = (connId: number) =>
    (sink.get(connId) ?? []).flatMap((f) =>
      f.type === 'presence.diff'
        ? ((f.changed as { userId: string; status: string }[] | undefined) ?? [])
        : [],
    );
  const a = await login(core, sink, closes, 1, 'a', now);
  await login(core, sink, closes, 2, 'b', now);
  tick(100); // the joins are flushed
  // a goes away and comes back before the next flush: nobody hears of it.
  send(1, { type: 'presence.set', id: 2, status: 'away' });
  send(1, { type: 'presence.set', id: 3, status: 'available' });
  tick(200);
  assert.deepEqual(changes(2), []);
  // A change still pending when c joins: c's snapshot has the status b knows, the diff follows.
  send(1, { type: 'presence.set', id: 4, status: 'dnd' });
  await login(core, sink, closes, 3, 'c', now);
  const snap = sink.get(3)?.find((f) => f.type === 'presence.snapshot') as {
    users: { userId: string; status: string }[];
  };
  assert.equal(snap.users.find((u) => u.userId === a.userId)?.status, 'available');
  tick(300);
  for (const viewer of [2, 3]) {
    assert.deepEqual(changes(viewer), [{ userId: a.userId, status: 'dnd' }], `viewer ${viewer}`);
  }
  // Diffs are deferrable (broadcast); answers are not bulk.
  core.handleInput(
    {
      type: 'text',
      connId: 1,
      text: JSON.stringify({ type: 'presence.set', id: 5, status: 'away' }),
    },
    now,
  );
  const answer = core.pollOutput();
  assert.ok(answer.every((o) => o.type === 'send' && o.bulk === undefined));
  now = 400;
  core.handleInput({ type: 'tick' }, now);
  // One broadcast output for the three viewers, not one output each.
  const diffs = core.pollOutput();
  assert.equal(diffs.length, 1);
  assert.deepEqual(diffs[0]?.type === 'broadcast' && [...diffs[0].connIds].sort(), [1, 2, 3]);
  store.close();
});

test('presence: snapshots from the cached list stay exact through joins, leaves, statuses and blocks', async () => {
  const { core, store } = makeCore({ presenceBatchMs: 50 });
  const sink = new Map<number, Record<string, unknown>[]>();
  const closes: CoreOutput[] = [];
  let now = 0;
  const users = new Map<string, string>(); // userId → name
  const snapshotOf = (connId: number) => {
    const frames = (sink.get(connId) ?? []).filter((f) => f.type === 'presence.snapshot');
    const last = frames.at(-1) as { users: { userId: string; status: string }[] };
    return last.users.map((u) => `${users.get(u.userId)}:${u.status}`).sort();
  };
  const identities = new Map<string, GeneratedIdentity>();
  const join = async (connId: number, name: string) => {
    sink.delete(connId);
    const { id, userId } = await login(core, sink, closes, connId, name, now, identities.get(name));
    identities.set(name, id);
    users.set(userId, name);
    return userId;
  };
  const send = (connId: number, msg: object) => {
    core.handleInput({ type: 'text', connId, text: JSON.stringify(msg) }, now);
    collect(core, sink, closes);
  };
  const flush = () => {
    now += 100;
    core.handleInput({ type: 'tick' }, now);
    collect(core, sink, closes);
  };
  await join(1, 'a');
  await join(2, 'b');
  await join(3, 'c');
  assert.deepEqual(snapshotOf(3), ['a:available', 'b:available']);
  core.handleInput({ type: 'closed', connId: 2 }, now);
  send(1, { type: 'presence.set', id: 2, status: 'away' });
  flush();
  await join(4, 'd');
  assert.deepEqual(snapshotOf(4), ['a:away', 'c:available']);
  const e = await join(5, 'e');
  send(1, { type: 'block.add', id: 3, userId: e });
  core.handleInput({ type: 'closed', connId: 5 }, now);
  flush();
  await join(6, 'e');
  assert.deepEqual(snapshotOf(6), ['c:available', 'd:available']);
  await join(7, 'fé');
  await join(8, 'g');
  assert.deepEqual(snapshotOf(7), ['a:away', 'c:available', 'd:available', 'e:available']);
  assert.deepEqual(snapshotOf(8), [
    'a:away',
    'c:available',
    'd:available',
    'e:available',
    'fé:available',
  ]);
  store.close();
});
