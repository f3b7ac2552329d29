/**
 * Host approvals on the in-memory store: who must wait, the request the host sees, accept,
 * refuse, a request withdrawn when its connection closes, requests replayed to a host who comes
 * online, a takeover of an online session, and a non-host trying to decide. Then the core's
 * programmatic `decide()` with no host online — it once faked a host session with an undefined
 * connection. No SQLite, no sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE_CODES, SignalingError } from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import type { Session } from './context.ts';
import { HostApprovals } from './host-approvals.ts';
import { SignalingCore } from './signaling-core.ts';
import { FakeStore } from './testing/fake-store.ts';
import { Harness } from './testing/harness.ts';

function setup(acceptAll = false) {
  const h = new Harness();
  const entered: string[] = [];
  const snapshots: string[] = [];
  let n = 0;
  const approvals = new HostApprovals(h.ctx, {
    host: { name: 'host', acceptAll },
    randomId: () => `req${++n}`,
    enter: (s: Session) => {
      entered.push(s.userId);
      h.ctx.sessions.set(s.userId, s);
    },
    sendSnapshot: (s: Session) => snapshots.push(s.userId),
  });
  const host = h.online(1, 'uh', 'host');
  host.isHost = true;
  return { h, approvals, host, entered, snapshots };
}

test('who waits: everyone but the host, unless accept-all or already accepted', () => {
  const { approvals } = setup();
  assert.equal(approvals.needsApproval('ux', false), true);
  assert.equal(approvals.needsApproval('uh', true), false);
  assert.equal(setup(true).approvals.needsApproval('ux', false), false);
  const none = new HostApprovals(new Harness().ctx, {
    randomId: () => 'r',
    enter: () => undefined,
    sendSnapshot: () => undefined,
  });
  assert.equal(none.needsApproval('ux', false), false, 'not in host mode');
});

test('a parked login: pending answer, the host sees the request; accepting lets it enter', () => {
  const { h, approvals, host, entered } = setup();
  const conn = h.conn(2, 0, '10.0.0.7');
  approvals.park(conn, 'ux', 'xavier', 1);
  h.drain();
  assert.equal(conn.state, 'pending');
  assert.deepEqual(h.of(2), [
    {
      type: 'result',
      id: 1,
      result: { userId: 'ux', name: 'xavier', state: 'pending', resumed: false },
    },
  ]);
  assert.deepEqual(h.events(1, 'host.request'), [
    {
      type: 'host.request',
      requestId: 'req1',
      name: 'xavier',
      fingerprint: 'ux',
      address: '10.0.0.7',
    },
  ]);
  assert.equal(approvals.pendingCount, 1);
  const r = approvals.handleRequest(host, {
    type: 'host.decide',
    id: 5,
    requestId: 'req1',
    accept: true,
  });
  assert.deepEqual(r, {});
  h.ctx.runAfterResult();
  h.drain();
  assert.deepEqual(h.events(1, 'host.resolved'), [
    { type: 'host.resolved', requestId: 'req1', outcome: 'accepted' },
  ]);
  assert.deepEqual(h.events(2, 'auth.approved'), [{ type: 'auth.approved' }]);
  assert.deepEqual(entered, ['ux']);
  assert.equal(approvals.pendingCount, 0);
  assert.equal(approvals.needsApproval('ux', false), false, 'remembered');
});

test('refusing: a typed error and the REFUSED close code; a second decision finds no request', () => {
  const { h, approvals, host } = setup();
  approvals.park(h.conn(2), 'ux', 'xavier', 1);
  approvals.handleRequest(host, { type: 'host.decide', id: 5, requestId: 'req1', accept: false });
  h.ctx.runAfterResult();
  h.drain();
  assert.deepEqual(
    h.of(2).map((f) => f.code),
    [undefined, 'SIG_ERR_REFUSED'],
  );
  assert.deepEqual(
    h.closes.map((c) => [c.connId, c.code]),
    [[2, CLOSE_CODES.REFUSED]],
  );
  const again = approvals.settle('req1', true);
  assert.ok(again instanceof SignalingError);
  assert.equal(again.code, 'SIG_ERR_UNKNOWN_REQUEST');
});

test('only the host decides', () => {
  const { h, approvals } = setup();
  approvals.park(h.conn(2), 'ux', 'xavier', 1);
  const other = h.online(3, 'uo', 'other');
  const r = approvals.handleRequest(other, {
    type: 'host.decide',
    id: 1,
    requestId: 'req1',
    accept: true,
  });
  assert.ok(r instanceof SignalingError);
  assert.equal(r.code, 'SIG_ERR_FORBIDDEN');
  assert.equal(approvals.pendingCount, 1);
});

test('a request is withdrawn when its connection closes, and replayed to a host coming online', () => {
  const { h, approvals } = setup();
  const c2 = h.conn(2);
  approvals.park(c2, 'ux', 'xavier', 1);
  approvals.park(h.conn(3), 'uy', 'yves', 1);
  approvals.withdraw(c2);
  h.drain();
  assert.deepEqual(h.events(1, 'host.resolved'), [
    { type: 'host.resolved', requestId: 'req1', outcome: 'withdrawn' },
  ]);
  const host2 = h.online(9, 'uh2', 'second host');
  host2.isHost = true;
  approvals.replayTo(host2);
  h.drain();
  assert.deepEqual(
    h.events(9, 'host.request').map((f) => f.requestId),
    ['req2'],
  );
});

test('an accepted login of a user already online takes the session over', () => {
  const { h, approvals, snapshots, entered } = setup();
  const online = h.online(2, 'ux', 'xavier');
  const fresh = h.conn(3);
  approvals.park(fresh, 'ux', 'xavier', 1);
  approvals.settle('req1', true);
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(online.conn, fresh);
  assert.equal(fresh.state, 'ready');
  assert.deepEqual(
    h.closes.map((c) => [c.connId, c.code]),
    [[2, CLOSE_CODES.REPLACED]],
  );
  assert.deepEqual(snapshots, ['ux']);
  assert.deepEqual(entered, [], 'not a second entry');
});

test('core.decide() with no host online settles the request through the same path', async () => {
  const { generateIdentity, authSigningText, toBase64 } = await import('@parloir/protocol');
  const core = new SignalingCore({
    store: new FakeStore(),
    ...CORE_CRYPTO,
    host: { name: 'host' },
  });
  const frames: Record<string, unknown>[] = [];
  const drain = () => {
    for (const o of core.pollOutput())
      if (o.type === 'send')
        frames.push(
          JSON.parse(
            typeof o.text === 'string' ? o.text : new TextDecoder().decode(o.text),
          ) as Record<string, unknown>,
        );
  };
  core.handleInput({ type: 'open', connId: 1, address: '127.0.0.1' }, 0);
  drain();
  const id = await generateIdentity();
  const challenge = String(frames.find((f) => f.type === 'hello')?.challenge);
  const sig = await id.sign(new TextEncoder().encode(authSigningText(challenge, 'guest')));
  const auth = {
    type: 'auth',
    id: 1,
    protocolVersion: 1,
    name: 'guest',
    publicKey: toBase64(id.publicKey),
    signature: toBase64(sig),
  };
  core.handleInput({ type: 'text', connId: 1, text: JSON.stringify(auth) }, 0);
  drain();
  assert.equal(core.stats().pending, 1);
  assert.equal(core.decide('no-such-request', true, 10)?.code, 'SIG_ERR_UNKNOWN_REQUEST');
  for (const f of frames) assert.notEqual(f.type, 'auth.approved');
  // A host UI in the server process lists the requests (the guest never sees their ids).
  const pending = core.pendingRequests();
  assert.equal(pending.length, 1);
  assert.equal(pending[0]?.name, 'guest');
  assert.equal(pending[0]?.address, '127.0.0.1');
  assert.equal(core.decide(pending[0]?.requestId ?? '', true, 20), undefined);
  drain();
  assert.ok(frames.some((f) => f.type === 'auth.approved'));
  assert.ok(frames.some((f) => f.type === 'presence.snapshot'));
  assert.equal(core.stats().pending, 0);
  assert.equal(core.stats().online, 1);
});
