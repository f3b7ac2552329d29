/**
 * Unit tests of the web UI's pure parts, run by node:test without a browser: translations, the
 * SAS (checked against the native client's implementation), SDP munging, URL building, quality,
 * the store, and the shared session binding driven by the real protocol ClientSession.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  ClientSession,
  deriveSas,
  generateIdentity,
  sdpFingerprint,
  type SessionTransport,
} from '@parloir/protocol';
import { deriveSas as nativeSas } from '../../client/src/transport/sas.ts';
import { SuggestionAdvisor, quality, settingsFromChange } from '../src/app/quality.ts';
import { SessionBinding, outcomeOf } from '../src/app/session-binding.ts';
import { initialState, QOS_WINDOW_S, Store } from '../src/app/store.ts';
import { wsUrlFor } from '../src/browser/browser-backend.ts';
import { mungeOpus } from '../src/browser/webrtc-call.ts';
import { MSG_KEYS, STRINGS, detectLang, t } from '../src/i18n.ts';

test('every string has a French translation with the same placeholders', () => {
  const untranslated: string[] = [];
  for (const key of MSG_KEYS) {
    const en = STRINGS.en[key];
    const fr = STRINGS.fr[key];
    assert.ok(fr.length > 0, `${key}: empty French string`);
    const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(vars(fr), vars(en), `${key}: placeholders differ`);
    if (fr === en) untranslated.push(key);
  }
  // Words that are the same in both languages (checked by hand): nothing else may be left.
  assert.deepEqual(untranslated.sort(), ['chart_mos', 'message', 'pathDirect', 'suggestions']);
  assert.equal(t('fr', 'call', { name: 'Zoé' }), 'Appeler Zoé');
  assert.equal(t('en', 'unread', { count: 3 }), '3 unread');
});

test('language follows the browser preference, French or else English', () => {
  assert.equal(detectLang(['fr-FR', 'en']), 'fr');
  assert.equal(detectLang(['en-GB', 'fr']), 'en');
  assert.equal(detectLang(['de-DE', 'fr-CA']), 'fr');
  assert.equal(detectLang(['de-DE']), 'en');
  assert.equal(detectLang([]), 'en');
});

test('browser SAS equals the native client SAS for the same fingerprints', async () => {
  const fp = () =>
    `sha-256 ${[...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
  for (let i = 0; i < 50; i++) {
    const a = { identityKey: new Uint8Array(randomBytes(32)), certificateFingerprint: fp() };
    const b = { identityKey: new Uint8Array(randomBytes(32)), certificateFingerprint: fp() };
    const web = await deriveSas(a, b);
    assert.deepEqual(web, nativeSas(a, b));
    assert.deepEqual(await deriveSas(b, a), web, 'order-independent');
  }
  const sdp = 'v=0\r\na=fingerprint:sha-256 AA:BB:CC\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';
  assert.equal(sdpFingerprint(sdp), 'sha-256 AA:BB:CC');
  assert.equal(sdpFingerprint('v=0\r\n'), undefined);
});

test('Opus SDP munging sets FEC, frame size and bitrate on the Opus payload type only', () => {
  const sdp = [
    'v=0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
    'a=rtpmap:111 opus/48000/2',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    '',
  ].join('\r\n');
  const out = mungeOpus(sdp, { fec: false, frameMs: 40, bitrateKbps: 24 });
  assert.match(out, /a=fmtp:111 minptime=40;useinbandfec=0;maxaveragebitrate=24000\r\n/);
  assert.match(out, /m=audio [^\r]*\r\na=ptime:40\r\n/);
  assert.equal(out.match(/a=ptime:/g)?.length, 1);
  assert.equal(mungeOpus('v=0\r\n', { fec: true }), 'v=0\r\n', 'no Opus: unchanged');
});

test('server field → WebSocket URL', () => {
  assert.equal(wsUrlFor('example.org:8443', 'https:'), 'wss://example.org:8443/ws');
  assert.equal(wsUrlFor('127.0.0.1:8443', 'http:'), 'ws://127.0.0.1:8443/ws');
  assert.equal(wsUrlFor('https://example.org:8443/x', 'http:'), 'wss://example.org:8443/ws');
  assert.equal(wsUrlFor('http://10.0.0.2:8443', 'https:'), 'ws://10.0.0.2:8443/ws');
  assert.equal(wsUrlFor(' wss://h/ws ', 'http:'), 'wss://h/ws');
});

test('quality uses the media E-model: clean wideband Opus is excellent, loss and delay lower it', () => {
  const clean = quality({ oneWayDelayMs: 40, lossPct: 0, bitrateKbps: 32, fec: true });
  assert.equal(clean.grade, 'excellent');
  assert.ok(clean.mos > 4.2 && clean.mos <= 4.5, `MOS ${clean.mos}`);
  let prev = clean.mos + 1;
  for (const lossPct of [0, 1, 2, 5, 10, 20]) {
    const { mos } = quality({ oneWayDelayMs: 50, lossPct, bitrateKbps: 32, fec: false });
    assert.ok(mos < prev, `MOS falls with loss (${lossPct} %)`);
    prev = mos;
  }
  assert.ok(
    quality({ oneWayDelayMs: 450, lossPct: 0, bitrateKbps: 32, fec: true }).mos < clean.mos,
  );
});

test('the media policy advises FEC on under sustained loss; applying a suggestion removes it', () => {
  const settings = { bitrateKbps: 32, frameMs: 20, fec: false };
  const advisor = new SuggestionAdvisor(settings);
  let shown: ReturnType<SuggestionAdvisor['next']> = [];
  for (let s = 0; s < 12; s++) shown = advisor.next({ lossPct: 6, jitterMs: 5 }, settings);
  const fec = shown.find((s) => s.id === 'fec-on');
  assert.ok(fec, `suggestions: ${shown.map((s) => s.id).join(', ')}`);
  assert.equal(fec.change.fec, true);
  assert.match(fec.fr, /FEC/);
  advisor.dismiss('fec-on');
  assert.equal(
    advisor
      .next({ lossPct: 0, jitterMs: 1 }, { ...settings, fec: true })
      .find((s) => s.id === 'fec-on'),
    undefined,
  );
  assert.deepEqual(settingsFromChange({ jitterMinDelayMs: 60, expectedLossPct: 5 }), {
    jbMinMs: 60,
  });
});

test('store keeps 60 s of samples and replaces a pending chat message by its ack', () => {
  const store = new Store(initialState(['fr'], 'browser'));
  assert.equal(store.get().lang, 'fr');
  for (let s = 0; s < 100; s++)
    store.pushSample({
      t: 1000 + s,
      jitterMs: 1,
      lossPct: 0,
      rttMs: 1,
      mos: 4.4,
      bitrateKbps: 32,
      bufferDelayMs: 40,
    });
  assert.equal(store.get().samples.length, QOS_WINDOW_S);
  assert.equal(store.get().samples[0]?.t, 1000 + 100 - QOS_WINDOW_S);
  const pending = { id: 'local-1', from: 'me', to: 'p', text: 'hi', atMs: 5, pending: true };
  store.upsertMessage('p', pending);
  store.upsertMessage('p', { ...pending, id: '42', atMs: 6, pending: false }, 'local-1');
  assert.deepEqual(
    store.get().chats.p?.messages.map((m) => [m.id, m.pending]),
    [['42', false]],
  );
});

test('call end reasons map to the outcomes the UI explains', () => {
  assert.equal(outcomeOf('rejected', false), 'refused');
  assert.equal(outcomeOf('busy', false), 'busy');
  assert.equal(outcomeOf('timeout', false), 'timeout');
  assert.equal(outcomeOf('disconnected', false), 'offline');
  assert.equal(outcomeOf('disconnected', true), 'hangup');
  assert.equal(outcomeOf('glare', false), null);
});

test('session binding turns real ClientSession events into UI state', async () => {
  const identity = await generateIdentity();
  const session = new ClientSession({ identity, name: 'Alice' });
  const store = new Store(initialState(['en'], 'browser'));
  const binding = new SessionBinding(session, store);
  const sent: Record<string, unknown>[] = [];
  const transport: SessionTransport = {
    send: (text) => sent.push(JSON.parse(text) as Record<string, unknown>),
    close: () => undefined,
  };
  session.handleOpen(transport);
  const idA = 'a'.repeat(32);
  const idB = 'b'.repeat(32);
  const idC = 'c'.repeat(32);
  const frame = (o: object) => session.handleText(JSON.stringify(o));
  frame({
    type: 'hello',
    protocolVersion: 1,
    serverName: 'test',
    challenge: Buffer.from(randomBytes(32)).toString('base64'),
    passwordRequired: false,
    hostMode: false,
  });
  // The session signs the challenge asynchronously, then sends `auth`.
  for (let i = 0; i < 50 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const auth = sent.find((m) => m.type === 'auth');
  assert.ok(auth !== undefined, 'auth request sent');
  frame({
    type: 'result',
    id: auth.id,
    result: { userId: idA, name: 'Alice', state: 'ready', resumed: false },
  });
  await new Promise((r) => setTimeout(r, 0));
  // The server follows the auth result with the presence snapshot; `ready` may wait for it.
  frame({
    type: 'presence.snapshot',
    users: [
      { userId: idC, name: 'Zoé', status: 'away' },
      { userId: idB, name: 'Bob', status: 'available' },
    ],
  });
  assert.equal(store.get().phase, 'connected');
  assert.equal(store.get().myId, idA);
  assert.deepEqual(
    store.get().people.map((p) => [p.name, p.status]),
    [
      ['Bob', 'available'],
      ['Zoé', 'away'],
    ],
  );
  frame({ type: 'presence.diff', changed: [{ userId: idB, status: 'dnd' }], left: [idC] });
  assert.deepEqual(
    store.get().people.map((p) => [p.name, p.status]),
    [['Bob', 'dnd']],
  );

  frame({ type: 'call.incoming', callId: 'c1', from: { userId: idB, name: 'Bob' } });
  assert.equal(store.get().call?.direction, 'incoming');
  assert.equal(store.get().call?.phase, 'ringing');
  assert.equal(store.get().call?.peerName, 'Bob');
  frame({ type: 'call.ended', callId: 'c1', reason: 'cancelled', by: idB });
  assert.equal(store.get().call, null);
  assert.equal(store.get().lastOutcome?.outcome, 'cancelled');

  frame({
    type: 'chat.message',
    msgId: 7,
    from: idB,
    to: idA,
    clientMsgId: 'x',
    text: 'salut',
    ts: 1000,
  });
  assert.equal(store.get().chats[idB]?.messages[0]?.text, 'salut');
  assert.equal(store.get().chats[idB]?.unread, 1);

  frame({
    type: 'host.request',
    requestId: 'r1',
    name: 'Eve',
    fingerprint: 'e'.repeat(32),
    address: '10.0.0.9',
  });
  assert.equal(store.get().hostRequests[0]?.name, 'Eve');
  frame({ type: 'host.resolved', requestId: 'r1', outcome: 'withdrawn' });
  assert.equal(store.get().hostRequests.length, 0);

  binding.setBlocked(idB, true);
  assert.equal(store.get().people[0]?.blocked, true);
  binding.dispose();
  session.handleClose(1000);
});
