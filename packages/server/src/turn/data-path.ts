/**
 * The TURN data path in the core (RFC 8656 §11, §12.4): where a client's Send indication or
 * ChannelData goes, whether it may, and what a peer's datagram becomes for the client (ChannelData
 * on a bound channel, else a Data indication). Every relayed packet passes the permission, the
 * own-address port check and the allocation's bandwidth bucket here, and is counted once. The
 * native forwarding thread (`relay.c`) applies the same rules to the UDP packets it takes. Pure:
 * time comes in as `nowMs`.
 */
import { isLive, spendBandwidth, type Allocation } from './allocation.ts';
import { channelOfPeer, channelPeer } from './channel-bind.ts';
import { channelDataToClient, dataIndication } from './messages.ts';
import { hasPermission } from './permission.ts';
import type { PeerPolicy } from './peer-policy.ts';
import {
  Attr,
  decodeAddress,
  getAttribute,
  parseChannelData,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';
import type { TurnCounters } from './turn-core-types.ts';

/** What the data path needs from the allocation manager. */
export interface DataPathContext {
  /** The peer address policy (own addresses reachable on live relay ports only). */
  policy: PeerPolicy;
  /** Bench mode: allocations of different calls may relay to each other. */
  bench: boolean;
  /** Per-allocation bandwidth cap, bytes/s. */
  bandwidthBytesPerSec: number;
  /** The core's counters. */
  counters: TurnCounters;
  /** Whether `port` of the relay address is a live UDP allocation's relay port. */
  isLiveRelayPort(port: number, nowMs: number): boolean;
  /** Counts a refusal by reason. */
  refuse(reason: string): void;
}

/** Where a client's data goes: its peer and the payload (a view into the input). */
export interface DataTarget {
  /** The peer. */
  peer: TransportAddress;
  /** Application data. */
  data: Buffer;
}

/** Takes `bytes` from `a`'s bandwidth bucket and counts the packet; false: dropped by the cap. */
function account(ctx: DataPathContext, a: Allocation, bytes: number, nowMs: number): boolean {
  if (!spendBandwidth(a, bytes, nowMs, ctx.bandwidthBytesPerSec)) {
    ctx.counters.bandwidthDropped++;
    return false;
  }
  ctx.counters.packetsRelayed++;
  ctx.counters.bytesRelayed += bytes;
  a.packets++;
  return true;
}

/**
 * RFC 8656 §12.4: the peer of a ChannelData from `a`'s client, when its channel is bound and the
 * peer's permission live; undefined to drop it (malformed ones are counted).
 */
export function channelDataTarget(
  ctx: DataPathContext,
  a: Allocation,
  buf: Buffer,
  nowMs: number,
): DataTarget | undefined {
  const cd = parseChannelData(buf);
  if (!cd.ok) {
    ctx.counters.malformed++;
    return undefined;
  }
  const entry = channelPeer(a, cd.value.channel, nowMs);
  if (!entry || !hasPermission(a, entry.peer.ip, nowMs)) return undefined;
  return { peer: entry.peer, data: cd.value.data };
}

/**
 * RFC 8656 §11.2: the peer and data of a Send indication from `a`'s client; undefined to drop it
 * silently (attributes missing, not IPv4, no permission).
 */
export function sendTarget(a: Allocation, msg: StunMessage, nowMs: number): DataTarget | undefined {
  const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
  const data = getAttribute(msg, Attr.DATA);
  if (!peerAttr || !data) return undefined;
  const peer = decodeAddress(peerAttr, true, msg.transactionId);
  if (!peer.ok || peer.value.family !== 4) return undefined;
  if (!hasPermission(a, peer.value.ip, nowMs)) return undefined;
  return { peer: { ip: peer.value.ip, port: peer.value.port }, data };
}

/**
 * Whether `a` may send `bytes` to `target.peer` now, counting it if so. A permission covers every
 * port of its IP (RFC 8656 §9): on this machine's addresses only a live relay port may be reached
 * (the same check as relay.c's relay_out).
 */
export function mayRelayToPeer(
  ctx: DataPathContext,
  a: Allocation,
  peer: TransportAddress,
  bytes: number,
  nowMs: number,
): boolean {
  const v = ctx.policy.checkPort(peer.ip, peer.port, a.relay.ip, (p) =>
    ctx.isLiveRelayPort(p, nowMs),
  );
  if (!v.ok) {
    ctx.refuse(v.reason);
    return false;
  }
  return account(ctx, a, bytes, nowMs);
}

/**
 * A datagram from `peerIp:peerPort` on `a`'s relayed address, as bytes for `a`'s client, or
 * undefined to drop it (no permission, another call's allocation, cap exceeded). `from` is the
 * sending allocation when the peer is one of this server's; with `headroom` the ChannelData
 * header is written in place (see `channelDataToClient`).
 */
export function peerDataToClient(
  ctx: DataPathContext,
  a: Allocation,
  peerIp: string,
  peerPort: number,
  data: Buffer,
  nowMs: number,
  from: Allocation | undefined,
  headroom: boolean,
): Buffer | undefined {
  if (!isLive(a, nowMs)) return undefined;
  if (!hasPermission(a, peerIp, nowMs)) return undefined;
  if (from && !ctx.bench && from.callId !== a.callId) {
    ctx.refuse('cross-call');
    return undefined;
  }
  if (!account(ctx, a, data.length, nowMs)) return undefined;
  const channel = channelOfPeer(a, peerIp, peerPort, nowMs);
  const tcp = a.client.transport === 'tcp';
  if (channel !== undefined) return channelDataToClient(channel, data, tcp, headroom);
  // RFC 8656 §11.4: no channel, so a Data indication.
  return dataIndication({ ip: peerIp, port: peerPort }, data);
}
