/**
 * Issue 17: what `parloir connect` prints from the network is sanitised — a chat message or a
 * name carrying escape sequences, bidi overrides or line breaks cannot drive the terminal or fake
 * a line of its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ClientSession, generateIdentity, type SessionTransport } from '@parloir/protocol';
import type { NativeClient } from '../engine/native-client.ts';
import { describeJoinRequest } from '../signaling/host-mode.ts';
import { chatLines, printEvents } from './connect.ts';

const EVIL = 'b'.repeat(32);
/** A name the server's schema lets through (no C0 controls) but the new rules refuse. */
const EVIL_NAME = 'eve\u202eoob\u200b';

test('chat text and names from the network are printed without escapes or bidi overrides', async () => {
  const s = new ClientSession({ identity: await generateIdentity(), name: 'me' });
  const sent: Record<string, unknown>[] = [];
  const transport: SessionTransport = {
    send: (text) => sent.push(JSON.parse(text) as Record<string, unknown>),
    close: () => undefined,
  };
  s.handleOpen(transport);
  const frame = (o: object): void => s.handleText(JSON.stringify(o));
  frame({
    type: 'hello',
    protocolVersion: 1,
    serverName: 'test',
    challenge: randomBytes(32).toString('base64'),
    passwordRequired: false,
    hostMode: false,
  });
  // The session signs asynchronously; wait for its auth request (bounded).
  const deadline = Date.now() + 10_000;
  while (!sent.some((m) => m.type === 'auth') && Date.now() < deadline)
    await new Promise((r) => setImmediate(r));
  const auth = sent.find((m) => m.type === 'auth');
  assert.ok(auth !== undefined, 'auth request sent');
  const lines: string[] = [];
  const fakeClient = {
    session: s,
    media: { on: () => () => undefined },
  } as unknown as NativeClient;
  const off = printEvents(fakeClient, (l) => lines.push(l));
  frame({
    type: 'result',
    id: auth.id,
    result: { userId: 'a'.repeat(32), name: 'me', state: 'ready', resumed: false },
  });
  frame({
    type: 'presence.snapshot',
    users: [{ userId: EVIL, name: EVIL_NAME, status: 'available' }],
  });
  frame({
    type: 'chat.message',
    msgId: 1,
    from: EVIL,
    to: 'a'.repeat(32),
    clientMsgId: 'x',
    text: 'hi\u001b]0;owned\u0007\u001b[2J\r\n* admin is online\u009b6n',
    ts: 1,
  });
  const deadline2 = Date.now() + 10_000;
  while (!lines.some((l) => l.startsWith('<')) && Date.now() < deadline2)
    await new Promise((r) => setImmediate(r));
  off();
  const chat = lines.filter((l) => l.startsWith('<')).join('\n');
  assert.equal(
    chat,
    '< eve\\u202eoob\\u200b: hi\\x1b]0;owned\\x07\\x1b[2J\\x0d\n    * admin is online\\x9b6n',
  );
  for (const l of lines.flatMap((x) => x.split('\n'))) assert.doesNotMatch(l, /[\p{Cc}\p{Cf}]/u);
});

test('chatLines indents continuation lines; describeJoinRequest escapes every field', () => {
  assert.equal(chatLines('a\nb'), 'a\n    b');
  assert.equal(chatLines('\u001b[31mred'), '\\x1b[31mred');
  assert.equal(
    describeJoinRequest({
      requestId: 'r1',
      name: 'x\u202ey',
      fingerprint: 'f',
      address: '1.2.3.4\u001b[8m',
    }),
    'join request r1: "x\\u202ey" key f from 1.2.3.4\\x1b[8m',
  );
});
