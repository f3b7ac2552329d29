import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transitionCall, type CallInput, type CallState } from './call-state.ts';

const A = { userId: 'a'.repeat(32), name: 'A' };
const B = { userId: 'b'.repeat(32), name: 'B' };

function run(inputs: CallInput[], from: CallState = { phase: 'idle' }): CallState {
  let s = from;
  for (const i of inputs) {
    const t = transitionCall(s, i);
    assert.ok(t.ok, `${s.phase} + ${i.kind}: ${t.ok ? '' : t.error.message}`);
    s = t.state;
  }
  return s;
}

const accepted = (callId: string): CallInput => ({
  kind: 'accepted',
  callId,
  peer: B,
  role: 'offerer',
  iceServers: [],
  relayOnly: false,
});

test('outgoing call: invite → ringing → accepted → ended', () => {
  const s = run([
    { kind: 'invite', peerId: B.userId },
    { kind: 'invite-result', callId: 'c1' },
    { kind: 'ringing', callId: 'c1' },
    accepted('c1'),
  ]);
  assert.equal(s.phase, 'active');
  assert.deepEqual(run([{ kind: 'ended', callId: 'c1', reason: 'hangup' }], s), { phase: 'idle' });
});

test('glare: an incoming call from the invited peer keeps us inviting with its id', () => {
  const s = run([
    { kind: 'invite', peerId: B.userId },
    { kind: 'incoming', callId: 'c9', from: B },
  ]);
  assert.deepEqual(s, { phase: 'inviting', peerId: B.userId, callId: 'c9' });
  assert.equal(run([accepted('c9')], s).phase, 'active');
});

test('illegal transitions return typed errors and keep the state', () => {
  const idle: CallState = { phase: 'idle' };
  const t = transitionCall(idle, { kind: 'accept' });
  assert.equal(t.ok, false);
  if (!t.ok) assert.equal(t.error.code, 'SIG_ERR_NOT_IN_CALL');
  const active = run([{ kind: 'incoming', callId: 'c1', from: A }, accepted('c1')]);
  const again = transitionCall(active, { kind: 'invite', peerId: B.userId });
  assert.equal(again.ok, false);
  if (!again.ok) {
    assert.equal(again.error.code, 'SIG_ERR_ALREADY_IN_CALL');
    assert.equal(again.state, active);
  }
  const wrong = transitionCall(active, { kind: 'ended', callId: 'other', reason: 'hangup' });
  assert.equal(wrong.ok, false);
  if (!wrong.ok) assert.equal(wrong.error.code, 'SIG_ERR_ILLEGAL_TRANSITION');
});
