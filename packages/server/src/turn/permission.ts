/**
 * TURN permissions (RFC 8656 §9): install, expire, check, and the "no open relay" rule of which
 * peers a permission may name: the peer address policy (`peer-policy.ts`, RFC 8656 §21) plus the
 * call rule (only the other party of the same call). Pure: time comes in as `nowMs`. The
 * counterpart of pion/turn's `internal/allocation/permission.go`.
 */
import type { Allocation, Refusal } from './allocation.ts';
import type { PeerPolicy } from './peer-policy.ts';
import { Attr, decodeAddress, type StunMessage, type TransportAddress } from './stun.ts';

/** RFC 8656 §9: permission lifetime, ms. */
export const PERMISSION_LIFETIME_MS = 300_000;

/** Installs (or refreshes) a permission of `a` for `peerIp` (RFC 8656 §9.1). */
export function installPermission(a: Allocation, peerIp: string, nowMs: number): void {
  a.permissions.set(peerIp, nowMs + PERMISSION_LIFETIME_MS);
}

/** Whether `a` holds an unexpired permission for `peerIp` (its own liveness not checked). */
export function hasPermission(a: Allocation, peerIp: string, nowMs: number): boolean {
  const p = a.permissions.get(peerIp);
  return p !== undefined && p > nowMs;
}

/** Forgets `a`'s expired permissions (RFC 8656 §9: they are not refreshed by data). */
export function expirePermissions(a: Allocation, nowMs: number): void {
  for (const [ip, exp] of a.permissions) if (exp <= nowMs) a.permissions.delete(ip);
}

/** What {@link checkPeer} needs from the allocation manager. */
export interface PeerCheckContext {
  /** The peer address policy. */
  policy: PeerPolicy;
  /** Bench mode: any peer the address policy allows, no call rule. */
  bench: boolean;
  /** Loopback peers allowed on any port, outside the call too (tests, development). */
  allowLoopbackPeers: boolean;
  /**
   * Whether `port` of the relay address is a live allocation's relay port that takes `kind`:
   * datagrams (`'udp'`) or a TCP connection (`'tcp'`, an RFC 6062 listener).
   */
  isLiveRelayPort(port: number, kind: 'udp' | 'tcp', nowMs: number): boolean;
  /** The live allocations of a call. */
  allocationsOfCall(callId: string): Iterable<Allocation> | undefined;
  /** Counts a refusal by reason (the metrics label). */
  refuse(reason: string): void;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * RFC 8656 §9 plus our "no open relay" policy: may `a` reach `peer`? Returns a STUN error code
 * (403, 443) or 0 if allowed. `port`: also check the peer's port (ChannelBind, Connect), not only
 * its IP (CreatePermission), for datagrams (`'udp'`) or a TCP connection (`'tcp'`).
 */
export function checkPeer(
  ctx: PeerCheckContext,
  a: Allocation,
  peer: TransportAddress & { family: 4 | 6 },
  port: 'udp' | 'tcp' | undefined,
  nowMs: number,
): number {
  if (peer.family !== 4) return 443;
  if (peer.ip === '0.0.0.0' || peer.ip === '255.255.255.255' || peer.port === 0) return 403;
  const byIp = ctx.policy.checkIp(peer.ip, a.relay.ip);
  if (!byIp.ok) {
    ctx.refuse(byIp.reason);
    return 403;
  }
  if (port !== undefined) {
    const byPort = ctx.policy.checkPort(peer.ip, peer.port, a.relay.ip, (p) =>
      ctx.isLiveRelayPort(p, port, nowMs),
    );
    if (!byPort.ok) {
      ctx.refuse(byPort.reason);
      return 403;
    }
  }
  if (ctx.bench) return 0;
  if (ctx.allowLoopbackPeers && isLoopback(peer.ip)) return 0;
  // Only the other party of the same call: its relayed address or the address we see it from.
  const others = ctx.allocationsOfCall(a.callId);
  if (others) {
    for (const other of others) {
      if (other.userId === a.userId) continue;
      if (other.relay.ip === peer.ip || other.client.ip === peer.ip) return 0;
    }
  }
  return 403;
}

/**
 * RFC 8656 §10.2: the peers of a CreatePermission, each decoded and checked by `check` (a
 * {@link checkPeer} by IP). All or nothing: the first bad peer refuses the whole request, so
 * nothing is installed until every peer passed.
 */
export function permissionPeers(
  msg: StunMessage,
  check: (peer: TransportAddress & { family: 4 | 6 }) => number,
): { ok: true; ips: string[] } | ({ ok: false } & Refusal) {
  const ips: string[] = [];
  for (const attr of msg.attributes) {
    if (attr.type !== Attr.XOR_PEER_ADDRESS) continue;
    const peer = decodeAddress(attr.value, true, msg.transactionId);
    if (!peer.ok) return { ok: false, code: 400, why: 'bad XOR-PEER-ADDRESS' };
    const code = check(peer.value);
    if (code !== 0) return { ok: false, code, why: `peer ${peer.value.ip} refused` };
    ips.push(peer.value.ip);
  }
  if (ips.length === 0) return { ok: false, code: 400, why: 'no XOR-PEER-ADDRESS' };
  return { ok: true, ips };
}
