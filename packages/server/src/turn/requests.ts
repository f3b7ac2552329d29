/**
 * The TURN requests on an allocation, one handler per method (RFC 8656 §7-§12, RFC 6062 §5), as
 * pion/turn's `server/turn.go`: each runs after authentication, checks its request through the
 * module of its concept, changes the allocation and answers. Pure: time comes in as `nowMs`.
 */
import type { AllocationManager } from './allocation-manager.ts';
import {
  grantedLifetimeSec,
  parseAllocateRequest,
  refreshAllocation,
  type Allocation,
  type ClientRef,
} from './allocation.ts';
import type { TurnIdentity } from './auth.ts';
import { bindChannel, parseChannelBindRequest } from './channel-bind.ts';
import { parseConnectRequest, parseConnectionBindRequest } from './connect.ts';
import { successResponse } from './messages.ts';
import {
  checkPeer,
  installPermission,
  permissionPeers,
  type PeerCheckContext,
} from './permission.ts';
import { Attr, Method, type StunMessage } from './stun.ts';
import type { ClientAction } from './turn-core-types.ts';

/** What the request handlers need from the core. */
export interface RequestContext {
  /** The allocations. */
  set: AllocationManager;
  /** The peer checks of permissions, channels and connections. */
  peers: PeerCheckContext;
  /** Tells the forwarding mirror that `a`'s expiry, permissions or channels changed. */
  changed(a: Allocation): void;
  /** An error response to `msg`, logged and counted; integrity-protected when `key` is known. */
  error(msg: StunMessage, client: ClientRef, code: number, why: string, key?: Buffer): ClientAction;
}

/** RFC 8656 §7.2: Allocate. Passing every check, it asks the adapter for a relay socket. */
export function handleAllocate(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
): ClientAction {
  const existing = ctx.set.byClient(client.key);
  if (existing) {
    // RFC 8656 §7.2: a retransmitted Allocate gets the same answer; anything else is 437.
    if (existing.allocateTid === msg.transactionId.toString('hex')) {
      return { kind: 'reply', data: existing.allocateResponse };
    }
    return ctx.error(msg, client, 437, 'allocation exists', auth.key);
  }
  const req = parseAllocateRequest(msg, client.transport);
  if (!req.ok) return ctx.error(msg, client, req.code, req.why, auth.key);
  const quota = ctx.set.quotaRefusal(auth.callId, auth.userId);
  if (quota) return ctx.error(msg, client, quota.code, quota.why, auth.key);
  return {
    kind: 'allocate',
    pending: { client, transactionId: Buffer.from(msg.transactionId), ...auth, ...req.value },
  };
}

/** The requesting client's allocation, made with the same credentials (RFC 8656 §5), or a 437/441. */
function ownAllocation(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
): Allocation | ClientAction {
  const a = ctx.set.byClient(client.key);
  if (!a) return ctx.error(msg, client, 437, 'no allocation', auth.key);
  // RFC 8656 §5: requests on an allocation must use the credentials that created it.
  if (a.username !== auth.username) {
    return ctx.error(msg, client, 441, 'wrong credentials', auth.key);
  }
  return a;
}

/** RFC 8656 §8: Refresh; lifetime 0 deletes the allocation. */
export function handleRefresh(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
  nowMs: number,
): ClientAction {
  const a = ownAllocation(ctx, client, msg, auth);
  if ('kind' in a) return a;
  const lifetime = grantedLifetimeSec(msg);
  if (lifetime === 0) ctx.set.delete(a, 'refresh with lifetime 0');
  else {
    refreshAllocation(a, lifetime, nowMs);
    ctx.changed(a);
  }
  const data = successResponse(Method.REFRESH, msg.transactionId, a.key, (b) =>
    b.addUint32(Attr.LIFETIME, lifetime),
  );
  return { kind: 'reply', data };
}

/** RFC 8656 §10: CreatePermission, all or nothing. */
export function handleCreatePermission(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
  nowMs: number,
): ClientAction {
  const a = ownAllocation(ctx, client, msg, auth);
  if ('kind' in a) return a;
  const peers = permissionPeers(msg, (peer) => checkPeer(ctx.peers, a, peer, undefined, nowMs));
  if (!peers.ok) return ctx.error(msg, client, peers.code, peers.why, a.key);
  for (const ip of peers.ips) installPermission(a, ip, nowMs);
  ctx.changed(a);
  return {
    kind: 'reply',
    data: successResponse(Method.CREATE_PERMISSION, msg.transactionId, a.key),
  };
}

/** RFC 8656 §12.2: ChannelBind (not on TCP allocations). */
export function handleChannelBind(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
  nowMs: number,
): ClientAction {
  const a = ownAllocation(ctx, client, msg, auth);
  if ('kind' in a) return a;
  if (a.tcpRelay) return ctx.error(msg, client, 400, 'no channels on TCP', a.key);
  const req = parseChannelBindRequest(msg);
  if (!req.ok) return ctx.error(msg, client, req.code, req.why, a.key);
  const { channel, peer } = req.value;
  const code = checkPeer(ctx.peers, a, peer, 'udp', nowMs);
  if (code !== 0) {
    const why = `peer ${peer.ip}:${peer.port} refused`;
    return ctx.error(msg, client, code, why, a.key);
  }
  if (!bindChannel(a, channel, peer, nowMs)) {
    return ctx.error(msg, client, 400, 'channel or peer already bound', a.key);
  }
  ctx.changed(a);
  return { kind: 'reply', data: successResponse(Method.CHANNEL_BIND, msg.transactionId, a.key) };
}

/** RFC 6062 §5.2: Connect from a TCP allocation to a peer the policy allows. */
export function handleConnect(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
  nowMs: number,
): ClientAction {
  const a = ownAllocation(ctx, client, msg, auth);
  if ('kind' in a) return a;
  const req = parseConnectRequest(msg, a);
  if (!req.ok) return ctx.error(msg, client, req.code, req.why, a.key);
  const peer = req.peer;
  const code = checkPeer(ctx.peers, a, peer, 'tcp', nowMs);
  if (code !== 0) {
    const why = `peer ${peer.ip}:${peer.port} refused`;
    return ctx.error(msg, client, code, why, a.key);
  }
  // The connection's data is relayed under the peer's permission, as for UDP.
  installPermission(a, peer.ip, nowMs);
  return {
    kind: 'connect',
    pending: {
      allocation: a,
      peer: { ip: peer.ip, port: peer.port },
      transactionId: Buffer.from(msg.transactionId),
    },
  };
}

/** RFC 6062 §5.4: ConnectionBind on a new connection; the adapter checks the id. */
export function handleConnectionBind(
  ctx: RequestContext,
  client: ClientRef,
  msg: StunMessage,
  auth: TurnIdentity,
): ClientAction {
  const has = ctx.set.byClient(client.key) !== undefined;
  const req = parseConnectionBindRequest(msg, client, has);
  if (!req.ok) return ctx.error(msg, client, req.code, req.why, auth.key);
  return {
    kind: 'bind',
    pending: {
      connectionId: req.connectionId,
      username: auth.username,
      key: auth.key,
      transactionId: Buffer.from(msg.transactionId),
    },
  };
}
