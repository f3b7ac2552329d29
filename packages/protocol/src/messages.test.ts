import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignalingError } from './errors.ts';
import {
  MAX_FRAME_BYTES,
  encodeEvent,
  encodeRequest,
  parseClientMessage,
  parseServerMessage,
} from './messages.ts';
import { generateIdentity, userIdOf, verifyEd25519 } from './identity.ts';
import { backoffDelayMs } from './backoff.ts';

const U1 = '0123456789abcdef0123456789abcdef';

test('a request round-trips through encode and parse', () => {
  const r = parseClientMessage(encodeRequest('call.invite', 7, { to: U1 }));
  assert.deepEqual(r, { ok: true, value: { type: 'call.invite', id: 7, to: U1 } });
  const s = parseClientMessage(
    encodeRequest('call.signal', 8, {
      callId: 'c1',
      signal: {
        kind: 'candidate',
        candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host',
        sdpMid: '0',
      },
    }),
  );
  assert.ok(s.ok);
});

test('the ICE restart request is a call signal with a known reason', () => {
  const req = (reason: string) =>
    parseClientMessage(
      JSON.stringify({
        type: 'call.signal',
        id: 9,
        callId: 'c1',
        signal: { kind: 'restart-request', reason },
      }),
    );
  for (const reason of ['consent-failed', 'address-changed', 'reattached', 'relay-lost']) {
    assert.ok(req(reason).ok, reason);
  }
  const bad = req('because');
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.error.code, 'SIG_ERR_SCHEMA');
  const ev = parseServerMessage(
    encodeEvent('call.signal', {
      callId: 'c1',
      signal: { kind: 'restart-request', reason: 'reattached' },
    }),
  );
  assert.ok(ev.ok);
});

test('bad frames give typed errors with the id when there is one', () => {
  const cases: [string, string, number | undefined][] = [
    ['{', 'SIG_ERR_BAD_JSON', undefined],
    ['[1]', 'SIG_ERR_SCHEMA', undefined],
    ['{"type":"nope","id":3}', 'SIG_ERR_UNKNOWN_TYPE', 3],
    ['{"type":"call.invite","id":4,"to":"bob"}', 'SIG_ERR_SCHEMA', 4],
    ['{"type":"call.invite","to":"' + U1 + '"}', 'SIG_ERR_SCHEMA', undefined],
    [
      JSON.stringify({ type: 'ping', id: 1, pad: 'x'.repeat(MAX_FRAME_BYTES) }),
      'SIG_ERR_MESSAGE_TOO_LARGE',
      undefined,
    ],
  ];
  for (const [text, code, id] of cases) {
    const r = parseClientMessage(text);
    assert.equal(r.ok, false, text.slice(0, 40));
    if (!r.ok) {
      assert.ok(r.error instanceof SignalingError);
      assert.equal(r.error.code, code, text.slice(0, 40));
      assert.equal(r.id, id);
    }
  }
});

test('display names refuse control characters and surrounding spaces', () => {
  const base = { protocolVersion: 1, publicKey: 'AAAA', signature: 'AAAA' };
  for (const name of ['', ' a', 'a ', 'a\nb', 'x'.repeat(33)]) {
    assert.equal(parseClientMessage(encodeRequest('auth', 1, { ...base, name })).ok, false, name);
  }
  assert.ok(parseClientMessage(encodeRequest('auth', 1, { ...base, name: 'Zoé Martin' })).ok);
});

test('events parse, unknown fields are dropped', () => {
  const r = parseServerMessage(
    JSON.stringify({ type: 'call.ringing', callId: 'abc', extra: { deep: 1 } }),
  );
  assert.deepEqual(r, { ok: true, value: { type: 'call.ringing', callId: 'abc' } });
  assert.ok(parseServerMessage(encodeEvent('presence.diff', { left: [U1] })).ok);
});

test('fuzz: random and mutated frames never throw', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const seeds = [
    encodeRequest('call.invite', 1, { to: U1 }),
    encodeRequest('chat.send', 2, { to: U1, clientMsgId: 'a', text: 'hello' }),
    encodeRequest('auth', 3, { protocolVersion: 1, name: 'a', publicKey: 'AAAA', signature: 'AA' }),
    encodeEvent('presence.snapshot', { users: [{ userId: U1, name: 'a', status: 'available' }] }),
  ];
  const alphabet = '{}[]":,0123456789abcdef-truefalsnul \\u\u0000\u00e9\ud800';
  for (let i = 0; i < 5000; i++) {
    const base = seeds[i % seeds.length] as string;
    const chars = [...base];
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const pos = Math.floor(rnd() * chars.length);
      const c = alphabet[Math.floor(rnd() * alphabet.length)] as string;
      const op = rnd();
      if (op < 0.4) chars[pos] = c;
      else if (op < 0.7) chars.splice(pos, 0, c);
      else chars.splice(pos, 1);
    }
    const text = i % 10 === 0 ? '['.repeat(5000) : chars.join('');
    const a = parseClientMessage(text);
    const b = parseServerMessage(text);
    assert.ok(a.ok || a.error instanceof SignalingError);
    assert.ok(b.ok || b.error instanceof SignalingError);
  }
});

test('Ed25519 identities sign and verify through Web Crypto', async () => {
  const id = await generateIdentity();
  const data = new TextEncoder().encode('hello');
  const sig = await id.sign(data);
  assert.equal(sig.length, 64);
  assert.equal(await verifyEd25519(id.publicKey, sig, data), true);
  assert.equal(await verifyEd25519(id.publicKey, sig, new TextEncoder().encode('hellO')), false);
  assert.equal(await verifyEd25519(new Uint8Array(3), sig, data), false);
  assert.match(await userIdOf(id.publicKey), /^[0-9a-f]{32}$/);
});

test('backoff grows, is capped, and is jittered within [cap/2, cap]', () => {
  assert.equal(backoffDelayMs(0, { random: () => 0 }), 250);
  assert.equal(backoffDelayMs(0, { random: () => 0.999999 }), 500);
  assert.equal(backoffDelayMs(3, { random: () => 0 }), 2000);
  assert.equal(backoffDelayMs(50, { random: () => 0.999999, maxMs: 30_000 }), 30_000);
});
