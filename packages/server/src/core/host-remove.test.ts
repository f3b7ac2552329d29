/**
 * `host.remove` (issue 19 §2): the host removes a guest it accepted. The guest's connection is
 * closed with the refused close code (clients do not retry it) and its approval is withdrawn, so
 * its next login is a join request again. A guest cannot remove anyone, the host cannot remove
 * itself, and removing a stranger is a typed error. On the in-memory harness, no sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE_CODES, SignalingError } from '@parloir/protocol';
import type { Session } from './context.ts';
import { HostApprovals } from './host-approvals.ts';
import { Harness } from './testing/harness.ts';

function setup() {
  const h = new Harness();
  let n = 0;
  const approvals = new HostApprovals(h.ctx, {
    host: { name: 'host' },
    randomId: () => `req${++n}`,
    enter: (s: Session) => {
      h.ctx.sessions.set(s.userId, s);
    },
    sendSnapshot: () => undefined,
  });
  const host = h.online(1, 'uh', 'host');
  host.isHost = true;
  return { h, approvals, host };
}

test('the host removes an accepted guest: closed as refused, and asked again at the next login', () => {
  const { h, approvals, host } = setup();
  approvals.park(h.conn(2), 'ug', 'guest', 1);
  approvals.settle('req1', true);
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(approvals.needsApproval('ug', false), false);
  const r = approvals.handleRequest(host, { type: 'host.remove', id: 9, userId: 'ug' });
  assert.deepEqual(r, {});
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(h.of(2).at(-1)?.code, 'SIG_ERR_REFUSED');
  assert.deepEqual(
    h.closes.map((c) => [c.connId, c.code]),
    [[2, CLOSE_CODES.REFUSED]],
  );
  assert.equal(approvals.needsApproval('ug', false), true, 'the approval is withdrawn');
  // The core's drop handler (presence leave) takes the closed session out; the harness has none.
  h.ctx.sessions.delete('ug');
  // Removing again: the guest is neither approved nor online.
  const again = approvals.remove('ug');
  assert.ok(again instanceof SignalingError);
  assert.equal(again.code, 'SIG_ERR_UNAVAILABLE');
});

test('only the host removes, never itself; a stranger is a typed error', () => {
  const { h, approvals, host } = setup();
  approvals.park(h.conn(2), 'ug', 'guest', 1);
  approvals.settle('req1', true);
  h.ctx.runAfterResult();
  const guest = h.ctx.sessions.get('ug');
  assert.ok(guest !== undefined);
  const byGuest = approvals.handleRequest(guest, { type: 'host.remove', id: 1, userId: 'uh' });
  assert.ok(byGuest instanceof SignalingError);
  assert.equal(byGuest.code, 'SIG_ERR_FORBIDDEN');
  const self = approvals.handleRequest(host, { type: 'host.remove', id: 2, userId: 'uh' });
  assert.ok(self instanceof SignalingError);
  assert.equal(self.code, 'SIG_ERR_SELF');
  const stranger = approvals.handleRequest(host, { type: 'host.remove', id: 3, userId: 'uz' });
  assert.ok(stranger instanceof SignalingError);
  assert.equal(stranger.code, 'SIG_ERR_UNAVAILABLE');
  assert.equal(approvals.needsApproval('ug', false), false, 'the guest is still accepted');
});
