import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ClientSession, generateIdentity, type SessionTransport } from '@parloir/protocol';
import { inviteAndWait } from './call.ts';

/** An authenticated session over a fake transport: `sent` are its requests, `frame` feeds it. */
async function session(): Promise<{
  s: ClientSession;
  sent: Record<string, unknown>[];
  frame: (o: object) => void;
}> {
  const s = new ClientSession({ identity: await generateIdentity(), name: 'guest' });
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
    hostMode: true,
  });
  for (let i = 0; i < 100 && !sent.some((m) => m.type === 'auth'); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const auth = sent.find((m) => m.type === 'auth');
  assert.ok(auth !== undefined, 'auth request sent');
  frame({
    type: 'result',
    id: auth.id,
    result: { userId: 'a'.repeat(32), name: 'guest', state: 'ready', resumed: false },
  });
  frame({
    type: 'presence.snapshot',
    users: [{ userId: 'b'.repeat(32), name: 'hostess', status: 'available' }],
  });
  await new Promise((r) => setTimeout(r, 0));
  return { s, sent, frame };
}

test('a call accepted in the same socket read as the invite result is not missed', async () => {
  const { s, sent, frame } = await session();
  const outcome = inviteAndWait(s, 'b'.repeat(32), 'hostess');
  const invite = sent.find((m) => m.type === 'call.invite');
  assert.ok(invite !== undefined, 'invite sent');
  // What a host that accepts at once sends: both frames handled back to back, no turn between.
  frame({ type: 'result', id: invite.id, result: { callId: 'c1' } });
  frame({
    type: 'call.accepted',
    callId: 'c1',
    role: 'offerer',
    peer: { userId: 'b'.repeat(32), name: 'hostess' },
    iceServers: [],
    relayOnly: false,
  });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 2000).unref());
  assert.equal(await Promise.race([outcome, timeout]), 'accepted');
});

test('a refusal right after the invite result is the outcome, with its reason', async () => {
  const { s, sent, frame } = await session();
  const outcome = inviteAndWait(s, 'b'.repeat(32), 'hostess');
  const invite = sent.find((m) => m.type === 'call.invite');
  assert.ok(invite !== undefined);
  frame({ type: 'result', id: invite.id, result: { callId: 'c2' } });
  frame({ type: 'call.ended', callId: 'c2', reason: 'rejected' });
  const r = await outcome;
  assert.ok(r !== 'accepted');
  assert.equal(r.reason, 'rejected');
});
