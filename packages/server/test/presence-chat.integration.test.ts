/**
 * Presence (snapshot then diffs, leave on close and on ping timeout, session resume), chat
 * (online, offline delivery, history paging, limits), block and do-not-disturb, name binding;
 * real clients on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  generateIdentity,
  MAX_CHAT_CHARS,
  type RequestParams,
  type RequestResult,
  type RequestType,
  type SignalingError,
} from '@parloir/protocol';
import {
  connectUser,
  next,
  rawClient,
  startTestServer,
  until,
  type TestClient,
} from './helpers.ts';

let server: Awaited<ReturnType<typeof startTestServer>>;
const clients: TestClient[] = [];
async function user(name?: string, extra?: Parameters<typeof connectUser>[2]): Promise<TestClient> {
  const c = await connectUser(server, name, extra);
  clients.push(c);
  return c;
}

before(async () => {
  server = await startTestServer({ pingTimeoutMs: 600 });
});
after(async () => {
  for (const c of clients) c.client.close();
  await server.cleanup();
});

test('presence: snapshot, then joined / changed / left diffs only', async () => {
  const a = await user('alice');
  const b = await user('bob');
  assert.ok(b.session.online.has(a.userId), 'snapshot lists alice');
  assert.equal(b.session.online.has(b.userId), false, 'not ourselves');
  await until(() => a.session.online.has(b.userId), 2000, 'joined diff');

  const snapshots: number[] = [];
  a.client.session.on('presence', (p) => snapshots.push(p.online.size));
  const changed = next(a.session, 'presence', (p) =>
    p.changed.some((c) => c.userId === b.userId && c.status === 'away'),
  );
  await b.session.setStatus('away');
  await changed;
  const left = next(a.session, 'presence', (p) => p.left.includes(b.userId));
  b.client.close();
  await left;
  assert.equal(a.session.online.has(b.userId), false);
});

test('presence: a client that stops answering pings leaves after the ping timeout', async () => {
  const a = await user();
  const id = await generateIdentity();
  // A real session whose socket then goes silent: no pongs (autoPong off), no frames.
  const raw = await rawClient(server.url, { autoPong: false });
  const hello = await raw.frame((f) => f.type === 'hello');
  const { authSigningText, serverOriginName, toBase64, userIdOf } =
    await import('@parloir/protocol');
  const origin = serverOriginName(server.url);
  const sig = await id.sign(
    new TextEncoder().encode(authSigningText(String(hello.challenge), 'silent', origin)),
  );
  raw.ws.send(
    JSON.stringify({
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name: 'silent',
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
      server: origin,
    }),
  );
  const silentId = await userIdOf(id.publicKey);
  await until(() => a.session.online.has(silentId), 2000, 'silent joined');
  const t0 = Date.now();
  await until(() => !a.session.online.has(silentId), 3000, 'silent left');
  assert.ok(Date.now() - t0 < 2000);
  assert.equal((await raw.closed).code, 4011);
});

test('resume: the same key reconnecting takes over the session without leave/join', async () => {
  const watcher = await user();
  const identity = await generateIdentity();
  const first = await user('resumer', { identity });
  await until(() => watcher.session.online.has(first.userId), 2000, 'joined');
  const diffs: string[] = [];
  watcher.session.on('presence', (p) => {
    if (p.left.includes(first.userId) || p.joined.some((u) => u.userId === first.userId))
      diffs.push('x');
  });
  const second = await user('resumer', { identity });
  await until(() => first.session.connection.kind === 'disconnected', 3000, 'first closed');
  // Barrier instead of a sleep: diffs reach the watcher in order, so once it sees the resumed
  // session's later status change, any leave/join sent before it has arrived too.
  await second.session.setStatus('away');
  await until(
    () => watcher.session.online.get(second.userId)?.status === 'away',
    3000,
    'status diff after the resume',
  );
  const conn = first.session.connection;
  assert.equal(conn.kind === 'disconnected' ? conn.closeCode : 0, 4009);
  assert.equal(second.session.connection.kind, 'ready');
  assert.deepEqual(diffs, [], 'others saw no leave/join');
  assert.ok(watcher.session.online.has(second.userId));
});

test('names are bound to the first key that uses them', async () => {
  await user('carol');
  await assert.rejects(user('Carol'), (e: SignalingError) =>
    /4001|NAME|closed/.test(`${e.code} ${e.message}`),
  );
});

test('chat online: delivered at once, acked with server id and time, limits enforced', async () => {
  const a = await user();
  const b = await user();
  const got = next(b.session, 'chat');
  const t0 = Date.now();
  const sent = await a.session.sendChat(b.userId, 'bonjour');
  assert.ok(sent.msgId > 0 && sent.ts >= t0 - 5);
  const m = await got;
  assert.equal(m.text, 'bonjour');
  assert.equal(m.from, a.userId);
  assert.equal(b.session.conversations.get(a.userId)?.unread, 1);
  b.session.markRead(a.userId);
  assert.equal(b.session.conversations.get(a.userId)?.unread, 0);
  await assert.rejects(
    a.session.sendChat(b.userId, 'x'.repeat(MAX_CHAT_CHARS + 1)),
    (e: SignalingError) => e.code === 'SIG_ERR_MESSAGE_TOO_LONG' && /4000/.test(e.message),
  );
  // A resend with the same client id is stored once.
  const r1 = await a.session.request('chat.send', {
    to: b.userId,
    clientMsgId: 'same',
    text: 'once',
  });
  const r2 = await a.session.request('chat.send', {
    to: b.userId,
    clientMsgId: 'same',
    text: 'once',
  });
  assert.equal(r1.msgId, r2.msgId);
});

test('chat offline: stored, delivered on reconnect, history pages', async () => {
  const a = await user();
  const identity = await generateIdentity();
  const b = await user(undefined, { identity });
  const bId = b.userId;
  const bName = b.name;
  b.client.close();
  await until(() => !a.session.online.has(bId), 2000, 'b offline');
  for (let i = 0; i < 25; i++) await a.session.sendChat(bId, `msg ${i}`);
  const b2 = await user(bName, { identity });
  await until(
    () => (b2.session.conversations.get(a.userId)?.messages.length ?? 0) === 25,
    3000,
    'offline delivery',
  );
  assert.equal(b2.session.conversations.get(a.userId)?.unread, 25);
  // Confirmed: a third connection gets nothing again. A request answered on the same socket
  // is the barrier: the server handles b2's chat.received before it, and sends b3's stored
  // messages before the answer to b3's first request.
  await b2.session.request('chat.history', { with: a.userId, limit: 1 });
  b2.client.close();
  const b3 = await user(bName, { identity });
  await b3.session.request('chat.history', { with: a.userId, limit: 1 });
  assert.equal(b3.session.conversations.get(a.userId)?.messages.length ?? 0, 0, 'no re-delivery');
  // Paging: 25 messages in pages of 10.
  const p1 = await b3.session.loadHistory(a.userId, 10);
  const p2 = await b3.session.loadHistory(a.userId, 10);
  const p3 = await b3.session.loadHistory(a.userId, 10);
  assert.deepEqual([p1.length, p2.length, p3.length], [10, 10, 5]);
  assert.equal(b3.session.conversations.get(a.userId)?.hasMore, false);
  assert.equal(b3.session.conversations.get(a.userId)?.messages[0]?.text, 'msg 0');
  assert.equal(b3.session.conversations.get(a.userId)?.messages[24]?.text, 'msg 24');
});

test('chat: a message delivered but never confirmed is delivered again after a reconnect, then not again once confirmed', async () => {
  const a = await user();
  const identity = await generateIdentity();
  const b = await user(undefined, { identity });
  // b's client gets the message but its confirmation never reaches the server (as if the
  // connection died between the two): its chat.received requests are swallowed.
  const request = b.session.request.bind(b.session);
  let swallowed = 0;
  b.session.request = <K extends RequestType>(
    type: K,
    params: RequestParams<K>,
  ): Promise<RequestResult<K>> => {
    if (type !== 'chat.received') return request(type, params);
    swallowed++;
    return new Promise<never>(() => {});
  };
  const got = next(b.session, 'chat', (m) => m.text === 'unconfirmed');
  const sent = await a.session.sendChat(b.userId, 'unconfirmed');
  assert.equal((await got).msgId, sent.msgId, 'delivered live');
  await until(() => swallowed === 1, 3000, 'confirmation attempted');
  b.client.close();
  await until(() => !a.session.online.has(b.userId), 3000, 'b offline');

  const b2 = await user(b.name, { identity });
  await until(
    () =>
      b2.session.conversations.get(a.userId)?.messages.some((m) => m.msgId === sent.msgId) === true,
    3000,
    'unconfirmed message delivered again',
  );
  const again = b2.session.conversations.get(a.userId)?.messages;
  assert.deepEqual(
    again?.map((m) => [m.msgId, m.text]),
    [[sent.msgId, 'unconfirmed']],
  );
  // b2's client confirms; a request on the same socket is the barrier for it.
  await b2.session.request('chat.history', { with: a.userId, limit: 1 });
  b2.client.close();
  const b3 = await user(b.name, { identity });
  await b3.session.request('chat.history', { with: a.userId, limit: 1 });
  assert.equal(
    b3.session.conversations.get(a.userId)?.messages.length ?? 0,
    0,
    'confirmed: not delivered a third time',
  );
});

test('block: the blocked user sees "unavailable" only; unblock restores; stored', async () => {
  const a = await user();
  const b = await user();
  await until(() => b.session.online.has(a.userId), 2000, 'b sees a');
  const gone = next(b.session, 'presence', (p) => p.left.includes(a.userId));
  await a.session.block(b.userId);
  await gone;
  assert.deepEqual(
    (await a.session.blocked()).map((u) => u.userId),
    [b.userId],
  );
  await assert.rejects(
    b.session.invite(a.userId),
    (e: SignalingError) => e.code === 'SIG_ERR_UNAVAILABLE',
  );
  assert.equal(b.session.call.phase, 'idle');
  let leaked = false;
  a.session.on('chat', () => (leaked = true));
  const ack = await b.session.sendChat(a.userId, 'let me in');
  assert.ok(ack.msgId > 0, 'acked like any message');
  // A newcomer's snapshot also hides a from b's point of view after reconnect.
  const c = await user();
  await until(
    () => c.session.online.has(a.userId) && c.session.online.has(b.userId),
    2000,
    'c sees both',
  );
  // Barrier: a live delivery to a would have been queued before a's next answer.
  await a.session.blocked();
  assert.equal(leaked, false, 'blocked message not delivered');
  assert.equal(b.session.online.has(a.userId), false);
  const back = next(b.session, 'presence', (p) => p.joined.some((u) => u.userId === a.userId));
  await a.session.unblock(b.userId);
  await back;
  assert.deepEqual(await a.session.blocked(), []);
  const inc = next(a.session, 'incomingCall');
  await b.session.invite(a.userId);
  await inc;
  await b.session.cancel();
});

test('do-not-disturb: calls refused automatically, messages still arrive', async () => {
  const a = await user();
  const b = await user();
  await b.session.setStatus('dnd');
  const ended = next(a.session, 'callEnded');
  await a.session.invite(b.userId);
  assert.equal((await ended).reason, 'dnd');
  const got = next(b.session, 'chat');
  await a.session.sendChat(b.userId, 'still there?');
  assert.equal((await got).text, 'still there?');
});
