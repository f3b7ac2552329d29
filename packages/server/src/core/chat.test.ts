/**
 * The chat module on the in-memory store with a fake clock: storing before acknowledging,
 * delivery after the result, durable frames, silent drops for a blocking recipient, duplicates,
 * the quota, stored-message delivery, receipts and history pages. No SQLite.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CHAT_CHARS, MAX_HISTORY_PAGE, SignalingError } from '@parloir/protocol';
import { BlockIndex } from './blocks.ts';
import { Chat, type ChatQuotaPort } from './chat.ts';
import { Harness } from './testing/harness.ts';

const T0 = 1_800_000_000_000;

function setup(quota?: ChatQuotaPort) {
  const h = new Harness();
  const blocks = new BlockIndex();
  const recorded: string[] = [];
  const chat = new Chat(
    h.ctx,
    blocks,
    quota ?? {
      chatCheck: () => ({ ok: true }),
      chatRecord: (_u, text) => recorded.push(text),
    },
  );
  const a = h.online(1, 'ua', 'alice');
  const b = h.online(2, 'ub', 'bob');
  return { h, blocks, chat, a, b, recorded };
}

const send = (id: number, to: string, clientMsgId: string, text: string) =>
  ({ type: 'chat.send', id, to, clientMsgId, text }) as const;

test('chat.send: stored first, the recipient gets it after the result, both frames durable', () => {
  const { h, chat, a, recorded } = setup();
  h.ctx.nowMs = T0;
  const r = chat.handleRequest(a, send(1, 'ub', 'c1', 'hello'), T0);
  assert.deepEqual(r, { msgId: 1, ts: T0 });
  assert.equal(h.store.messages.length, 1, 'stored before the answer');
  assert.equal(h.ctx.chatWritten, true, 'the answer must wait for durability');
  h.ctx.result(a.conn, 1, r);
  h.ctx.runAfterResult();
  const out = h.drain();
  assert.deepEqual(
    out.map((o) => o.type === 'send' && [o.connId, o.durable]),
    [
      [1, true],
      [2, true],
    ],
  );
  assert.deepEqual(h.events(2, 'chat.message'), [
    {
      type: 'chat.message',
      msgId: 1,
      from: 'ua',
      to: 'ub',
      clientMsgId: 'c1',
      text: 'hello',
      ts: T0,
    },
  ]);
  assert.deepEqual(recorded, ['hello']);
  assert.equal(h.ctx.counters.chatMessages, 1);
});

test('chat.send: a resend of the same client id returns the first copy and delivers nothing', () => {
  const { h, chat, a, recorded } = setup();
  chat.handleRequest(a, send(1, 'ub', 'c1', 'hello'), T0);
  h.ctx.runAfterResult();
  h.drain();
  const again = chat.handleRequest(a, send(2, 'ub', 'c1', 'hello'), T0 + 5_000);
  assert.deepEqual(again, { msgId: 1, ts: T0 });
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(h.events(2, 'chat.message').length, 1);
  assert.equal(h.store.messages.length, 1);
  assert.deepEqual(recorded, ['hello'], 'a duplicate is not counted against the quota');
});

test('chat.send to someone who blocks you: acknowledged, stored as dropped, never delivered', () => {
  const { h, blocks, chat, a } = setup();
  blocks.add('ub', 'ua');
  const r = chat.handleRequest(a, send(1, 'ub', 'c1', 'let me in'), T0);
  assert.deepEqual(r, { msgId: 1, ts: T0 });
  h.ctx.runAfterResult();
  h.drain();
  assert.deepEqual(h.events(2, 'chat.message'), []);
  assert.equal(h.store.messages[0]?.dropped, true);
  assert.deepEqual(h.store.undelivered('ub'), []);
  // The sender's history shows it; the recipient's does not.
  const b = h.ctx.sessions.get('ub');
  assert.ok(b);
  assert.deepEqual(chat.handleRequest(b, { type: 'chat.history', id: 2, with: 'ua' }, T0), {
    messages: [],
    hasMore: false,
  });
  const mine = chat.handleRequest(a, { type: 'chat.history', id: 3, with: 'ub' }, T0);
  assert.equal((mine as { messages: unknown[] }).messages.length, 1);
});

test('chat.send refusals are typed and store nothing: too long, yourself, unknown, blocked by you, quota', () => {
  const { chat, blocks, a, h } = setup({
    chatCheck: (_u, text) =>
      text === 'over'
        ? { ok: false, limit: 'messages-per-day', message: 'chat quota: at most 1 a day' }
        : { ok: true },
    chatRecord: () => undefined,
  });
  const code = (r: object) => (r instanceof SignalingError ? r.code : 'ok');
  assert.equal(
    code(chat.handleRequest(a, send(1, 'ub', 'c1', 'x'.repeat(MAX_CHAT_CHARS + 1)), T0)),
    'SIG_ERR_MESSAGE_TOO_LONG',
  );
  assert.equal(code(chat.handleRequest(a, send(2, 'ua', 'c2', 'me'), T0)), 'SIG_ERR_SELF');
  assert.equal(
    code(chat.handleRequest(a, send(3, 'nobody', 'c3', 'hi'), T0)),
    'SIG_ERR_UNAVAILABLE',
  );
  assert.equal(code(chat.handleRequest(a, send(4, 'ub', 'c4', 'over'), T0)), 'SIG_ERR_CHAT_QUOTA');
  blocks.add('ua', 'ub');
  assert.equal(code(chat.handleRequest(a, send(5, 'ub', 'c5', 'hi'), T0)), 'SIG_ERR_BLOCKED');
  assert.equal(h.store.messages.length, 0);
  assert.equal(h.ctx.chatWritten, false);
});

test('stored messages are delivered on entering until confirmed with chat.received', () => {
  const { h, chat, a } = setup();
  h.store.insertUser({ userId: 'uc', name: 'carol', publicKey: 'kc', createdAt: T0 });
  chat.handleRequest(a, send(1, 'uc', 'c1', 'one'), T0);
  chat.handleRequest(a, send(2, 'uc', 'c2', 'two'), T0 + 1);
  h.ctx.runAfterResult();
  h.drain();
  const c = h.online(3, 'uc', 'carol', T0 + 10);
  chat.deliverStored(c);
  h.drain();
  assert.deepEqual(
    h.events(3, 'chat.message').map((m) => m.text),
    ['one', 'two'],
  );
  assert.deepEqual(
    chat.handleRequest(c, { type: 'chat.received', id: 9, msgIds: [1] }, T0 + 20),
    {},
  );
  // Someone else's receipt for c's message changes nothing.
  chat.handleRequest(a, { type: 'chat.received', id: 10, msgIds: [2] }, T0 + 20);
  h.clear();
  chat.deliverStored(c);
  h.drain();
  assert.deepEqual(
    h.events(3, 'chat.message').map((m) => m.text),
    ['two'],
  );
});

test('chat.history: newest first, paged by id, the page size capped at MAX_HISTORY_PAGE', () => {
  const { chat, a, b } = setup();
  for (let i = 0; i < MAX_HISTORY_PAGE + 5; i++)
    chat.handleRequest(i % 2 ? a : b, send(i, i % 2 ? 'ub' : 'ua', `m${i}`, `t${i}`), T0 + i);
  const first = chat.handleRequest(
    a,
    { type: 'chat.history', id: 1, with: 'ub', limit: 3 },
    T0,
  ) as {
    messages: { text: string; msgId: number }[];
    hasMore: boolean;
  };
  assert.deepEqual(
    first.messages.map((m) => m.text),
    [`t${MAX_HISTORY_PAGE + 4}`, `t${MAX_HISTORY_PAGE + 3}`, `t${MAX_HISTORY_PAGE + 2}`],
  );
  assert.equal(first.hasMore, true);
  const all = chat.handleRequest(a, { type: 'chat.history', id: 2, with: 'ub' }, T0) as {
    messages: unknown[];
  };
  assert.equal(all.messages.length, 50, 'default page');
  const max = chat.handleRequest(
    a,
    { type: 'chat.history', id: 3, with: 'ub', before: first.messages[2]?.msgId, limit: 1000 },
    T0,
  ) as { messages: unknown[]; hasMore: boolean };
  assert.equal(max.messages.length, MAX_HISTORY_PAGE, 'capped even if the client asks for more');
  assert.equal(max.hasMore, true, '102 older messages, 100 shown');
});
