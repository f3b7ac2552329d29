/**
 * The control API's schemas: every command with good arguments, and for each one arguments that
 * must be refused with a typed error; the envelope's own bad inputs; pushed messages and results
 * as the UI parses them; random bytes never throw.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONTROL_COMMANDS,
  parseControlPush,
  parseControlRequest,
  parseControlResult,
  type ControlCommand,
} from './control-api.ts';

const ID = 'a'.repeat(32);
const MSG = { msgId: 3, from: ID, to: 'b'.repeat(32), clientMsgId: 'c1', text: 'hi', ts: 1 };
const SETTINGS = {
  bitrateBps: 32000,
  frameMs: 20,
  fec: true,
  expectedLossPct: 0,
  dtx: false,
  jbMinMs: 20,
  jbMaxMs: 400,
  periodMs: 10,
  gainDb: -3.5,
  muted: false,
  adapt: true,
};

/** For each command: valid arguments, and arguments each of which must be refused. */
const CASES: { [K in ControlCommand]: { good: object; bad: unknown[] } } = {
  state: { good: {}, bad: [[], 'x'] },
  connect: {
    good: { server: '192.168.1.20', name: 'Alice', password: 'pw', trust: 'AB:CD:EF' },
    bad: [
      { name: 'Alice' },
      { server: '', name: 'Alice' },
      { server: 'h', name: ' bad ' },
      { server: 'h', name: 'Alice', trust: 'not a fingerprint' },
    ],
  },
  disconnect: { good: {}, bad: [7] },
  host: { good: { name: 'Hôte' }, bad: [{}, { name: 'x'.repeat(33) }, { name: 'a\u0007' }] },
  invite: { good: { peerId: ID }, bad: [{}, { peerId: 'ABC' }, { peerId: 5 }] },
  accept: { good: {}, bad: [null] },
  reject: { good: {}, bad: ['no'] },
  cancel: { good: {}, bad: [true] },
  hangup: { good: {}, bad: [[1]] },
  sendChat: {
    good: { to: ID, text: 'bonjour' },
    bad: [{ to: ID }, { to: ID, text: '' }, { to: ID, text: 'x'.repeat(4001) }],
  },
  loadHistory: { good: { peerId: ID }, bad: [{ peerId: '' }] },
  markRead: { good: { peerId: ID }, bad: [{ peer: ID }] },
  callHistory: { good: { limit: 20 }, bad: [{ limit: 0 }, { limit: 101 }, { limit: '5' }] },
  setStatus: { good: { status: 'dnd' }, bad: [{ status: 'in-call' }, { status: 'busy' }] },
  block: { good: { userId: ID }, bad: [{ userId: ID.toUpperCase() }] },
  unblock: { good: { userId: ID }, bad: [{}] },
  blocked: { good: {}, bad: [1] },
  decideJoin: {
    good: { requestId: 'r1', accept: true, remember: true },
    bad: [{ requestId: 'r1' }, { requestId: 'r1', accept: 'yes' }, { accept: true }],
  },
  forgetDecision: { good: { fingerprint: ID }, bad: [{ fingerprint: 'zz' }] },
  removeGuest: { good: { userId: ID }, bad: [{ userId: 'me' }, {}] },
  set: {
    good: { name: 'bitrate', value: '24k' },
    bad: [
      { name: 'volume!', value: '1' },
      { name: 'fec', value: true },
      { name: 'fec', value: '' },
    ],
  },
  stats: { good: {}, bad: ['x'] },
  devices: { good: {}, bad: [2] },
  testDevices: { good: { seconds: 2 }, bad: [{ seconds: 0 }, { seconds: 60 }, { seconds: '3' }] },
  setDevices: {
    good: { input: 'alsa:hw:1,0', output: 'null' },
    bad: [{ input: '' }, { output: 7 }],
  },
};

test('every command parses with good arguments and refuses bad ones with CONTROL_ERR_BAD_REQUEST', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(CONTROL_COMMANDS).sort());
  for (const [command, c] of Object.entries(CASES)) {
    const ok = parseControlRequest(JSON.stringify({ id: 4, command, args: c.good }));
    assert.ok(ok.ok, `${command}: ${ok.ok ? '' : ok.error.message}`);
    assert.equal(ok.value.command, command);
    assert.equal(ok.value.id, 4);
    assert.deepEqual(ok.value.args, c.good);
    for (const args of c.bad) {
      const r = parseControlRequest({ id: 5, command, args });
      assert.equal(r.ok, false, `${command} accepted ${JSON.stringify(args)}`);
      if (r.ok) continue;
      assert.equal(r.error.code, 'CONTROL_ERR_BAD_REQUEST', command);
      assert.equal(r.error.name, 'ControlApiError');
      assert.match(r.error.message, new RegExp(`^${command}: \\$\\.args`));
      assert.equal(r.id, 5, 'the id comes back with the error');
    }
  }
});

test('arguments are copied without unknown fields; args may be absent for commands without any', () => {
  const r = parseControlRequest({ command: 'invite', args: { peerId: ID, evil: 1 } });
  assert.ok(r.ok);
  assert.deepEqual(r.value.args, { peerId: ID });
  assert.equal(r.value.id, undefined);
  const s = parseControlRequest({ command: 'state' });
  assert.ok(s.ok);
  assert.deepEqual(s.value.args, {});
});

test('bad envelopes: not JSON, not an object, no command, unknown command, bad id, huge', () => {
  const cases: [unknown, string][] = [
    ['{', 'CONTROL_ERR_BAD_REQUEST'],
    ['[]', 'CONTROL_ERR_BAD_REQUEST'],
    [null, 'CONTROL_ERR_BAD_REQUEST'],
    [{ id: 1 }, 'CONTROL_ERR_BAD_REQUEST'],
    [{ command: 7 }, 'CONTROL_ERR_BAD_REQUEST'],
    [{ command: 'selfDestruct' }, 'CONTROL_ERR_UNKNOWN_COMMAND'],
    [{ command: '__proto__' }, 'CONTROL_ERR_UNKNOWN_COMMAND'],
    [{ command: 'toString' }, 'CONTROL_ERR_UNKNOWN_COMMAND'],
    [{ id: -1, command: 'state' }, 'CONTROL_ERR_BAD_REQUEST'],
    [{ id: 1.5, command: 'state' }, 'CONTROL_ERR_BAD_REQUEST'],
    [{ command: 'state', args: [] }, 'CONTROL_ERR_BAD_REQUEST'],
    [`{"command":"state","x":"${'y'.repeat(70_000)}"}`, 'CONTROL_ERR_BAD_REQUEST'],
  ];
  for (const [input, code] of cases) {
    const r = parseControlRequest(input);
    assert.equal(r.ok, false, JSON.stringify(input).slice(0, 80));
    if (!r.ok) assert.equal(r.error.code, code, JSON.stringify(input).slice(0, 80));
  }
});

test('pushed messages: state, events, media, qos and answers parse; malformed ones are typed errors', () => {
  const state = {
    version: 2,
    app: {
      mode: 'host',
      recentServers: ['10.0.0.2'],
      hostAddresses: ['10.0.0.5:8443'],
      decisions: [{ fingerprint: ID, name: 'Bob', accept: false }],
      input: 'wav:/tmp/a.wav',
      output: 'null',
      canConnect: true,
    },
    connection: { kind: 'ready' },
    userId: ID,
    name: 'Host',
    status: 'available',
    online: [{ userId: 'b'.repeat(32), name: 'Bob', status: 'in-call' }],
    call: { phase: 'outgoing', callId: 'c-1', peerId: 'b'.repeat(32), ringing: true },
    conversations: [{ peerId: 'b'.repeat(32), messages: [MSG], unread: 1 }],
    joinRequests: [{ requestId: 'r1', name: 'Eve', fingerprint: ID, address: '10.0.0.9' }],
    media: { phase: 'up', sas: { words: 'a b c d', digits: '012345' }, settings: SETTINGS },
  };
  const good: unknown[] = [
    { type: 'state', state },
    { type: 'event', event: 'connection', payload: { kind: 'disconnected', fatal: true } },
    { type: 'event', event: 'chat', payload: MSG },
    { type: 'event', event: 'callEnded', payload: { callId: 'c-1', reason: 'hangup' } },
    { type: 'event', event: 'error', payload: { code: 'SIG_ERR_X', message: 'm' } },
    {
      type: 'event',
      event: 'peerReconnecting',
      payload: { callId: 'c-1', userId: ID, graceMs: 30_000 },
    },
    { type: 'event', event: 'peerReconnected', payload: { callId: 'c-1', userId: ID } },
    { type: 'media', state: { phase: 'idle' } },
    {
      type: 'qos',
      snapshot: {
        tMs: 1000,
        path: 'direct',
        rttMs: null,
        lossPct: 0,
        jitterMs: 1.5,
        sendKbps: 33,
        jitterBuffer: { delayMs: 40 },
        mos: 4.3,
        grade: 'excellent',
        suggestions: [{ en: 'e', fr: 'f', change: { fec: true, frameMs: 40 } }],
        settings: SETTINGS,
        inputLevelDb: -23.5,
      },
    },
    { type: 'mediaEnded', callId: 'c-1', reason: 'hangup-local', durationMs: 5000 },
    { type: 'result', id: 3, result: { callId: 'c-1', extra: [1] } },
    { type: 'error', id: 3, code: 'SIG_ERR_DISCONNECTED', message: 'gone' },
  ];
  for (const m of good) {
    const r = parseControlPush(JSON.stringify(m));
    assert.ok(r.ok, `${JSON.stringify(m).slice(0, 60)}: ${r.ok ? '' : r.error.message}`);
  }
  // A result is kept whole, to be checked against its command's result schema.
  const res = parseControlPush(JSON.stringify(good.at(-2)));
  assert.ok(res.ok && res.value.type === 'result');
  assert.deepEqual(res.value.result, { callId: 'c-1', extra: [1] });
  const bad: unknown[] = [
    { type: 'nope' },
    { type: 'event', event: 'signal', payload: {} },
    { type: 'event', event: 'chat', payload: { ...MSG, msgId: 0 } },
    {
      type: 'event',
      event: 'peerReconnecting',
      payload: { callId: 'c-1', userId: ID, graceMs: -1 },
    },
    { type: 'event', event: 'peerReconnected', payload: { callId: 'c-1' } },
    { type: 'state', state: { ...state, call: { phase: 'flying' } } },
    { type: 'media', state: { phase: 'up', settings: { ...SETTINGS, frameMs: 5 } } },
    { type: 'result', result: {} },
    { type: 'error', id: 1, message: 'no code' },
  ];
  for (const m of bad) {
    const r = parseControlPush(JSON.stringify(m));
    assert.equal(r.ok, false, JSON.stringify(m).slice(0, 80));
    if (!r.ok) assert.equal(r.error.code, 'CONTROL_ERR_BAD_REQUEST');
  }
  const notJson = parseControlPush('{');
  assert.equal(notJson.ok, false);
});

test('command results are checked against their schema', () => {
  assert.ok(parseControlResult('invite', { callId: 'c-1' }).ok);
  assert.ok(parseControlResult('connect', {}).ok);
  const q = { kind: 'changed', server: 'h:8443', fingerprint: 'AB:CD', pinned: '01:02' };
  assert.ok(parseControlResult('connect', { trust: q }).ok);
  assert.equal(parseControlResult('connect', { trust: { ...q, kind: 'odd' } }).ok, false);
  assert.ok(parseControlResult('set', SETTINGS).ok);
  assert.ok(parseControlResult('host', { addresses: ['10.0.0.5:8443'] }).ok);
  assert.ok(parseControlResult('blocked', { users: [{ userId: ID, name: 'Bob' }] }).ok);
  const bad = parseControlResult('set', { ...SETTINGS, bitrateBps: 'fast' });
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.error.message, /\$\.result\.bitrateBps/);
  assert.equal(parseControlResult('loadHistory', { messages: [{}] }).ok, false);
});

test('random and mutated input never throws', () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const base = JSON.stringify({ id: 1, command: 'sendChat', args: { to: ID, text: 'hello' } });
  for (let i = 0; i < 3000; i++) {
    const chars = [...base];
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rnd() * chars.length);
      chars[at] = String.fromCharCode(Math.floor(rnd() * 128));
    }
    const text = chars.join('');
    const a = parseControlRequest(text);
    const b = parseControlPush(text);
    if (!a.ok) assert.match(a.error.code, /^CONTROL_ERR_/);
    if (!b.ok) assert.match(b.error.code, /^CONTROL_ERR_/);
  }
  const deep = '['.repeat(100_000);
  assert.equal(parseControlRequest(deep).ok, false);
});
