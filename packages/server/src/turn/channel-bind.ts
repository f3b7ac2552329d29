/**
 * TURN channel bindings (RFC 8656 §12): the ChannelBind request's checks, bind and rebind, expiry,
 * and the lookups of the data path (channel → peer for ChannelData from the client, peer → channel
 * for data toward it). Channel numbers run from 0x4000 to 0x7FFF: RFC 8656 narrowed the range to
 * 0x4FFF, but RFC 5766 clients (coturn's uclient) still pick numbers up to 0x7FFF. Pure: time
 * comes in as `nowMs`. The counterpart of pion/turn's `internal/allocation/channel_bind.go`.
 */
import type { Allocation, ChannelEntry, Refusal } from './allocation.ts';
import { installPermission } from './permission.ts';
import {
  Attr,
  MAX_CHANNEL,
  MIN_CHANNEL,
  decodeAddress,
  getAttribute,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';

export { MAX_CHANNEL, MIN_CHANNEL };

/** RFC 8656 §12: channel binding lifetime, ms. */
export const CHANNEL_LIFETIME_MS = 600_000;

/** A ChannelBind's channel number and peer, once its attributes parsed. */
export interface ChannelBindRequest {
  /** Channel number, {@link MIN_CHANNEL}-{@link MAX_CHANNEL}. */
  channel: number;
  /** The peer, as decoded (its family not yet checked). */
  peer: TransportAddress & { family: 4 | 6 };
}

/** RFC 8656 §12.2: CHANNEL-NUMBER in range and a decodable XOR-PEER-ADDRESS, or a 400. */
export function parseChannelBindRequest(
  msg: StunMessage,
): { ok: true; value: ChannelBindRequest } | ({ ok: false } & Refusal) {
  const numAttr = getAttribute(msg, Attr.CHANNEL_NUMBER);
  const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
  if (!numAttr || numAttr.length !== 4 || !peerAttr) {
    return { ok: false, code: 400, why: 'CHANNEL-NUMBER and XOR-PEER-ADDRESS needed' };
  }
  const channel = numAttr.readUInt16BE(0);
  if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) {
    return { ok: false, code: 400, why: 'channel number out of range' };
  }
  const peer = decodeAddress(peerAttr, true, msg.transactionId);
  if (!peer.ok) return { ok: false, code: 400, why: 'bad XOR-PEER-ADDRESS' };
  return { ok: true, value: { channel, peer: peer.value } };
}

/**
 * Binds `channel` of `a` to `peer`, or refreshes the binding (RFC 8656 §12.2), and installs or
 * refreshes the peer's permission. A channel is bound to one peer and a peer to one channel:
 * binding either to another gives false and changes nothing (the caller answers 400).
 */
export function bindChannel(
  a: Allocation,
  channel: number,
  peer: TransportAddress,
  nowMs: number,
): boolean {
  const peerKey = `${peer.ip}:${peer.port}`;
  const bound = a.channels.get(channel);
  const boundNumber = a.channelByPeer.get(peerKey);
  if (
    (bound && bound.peerKey !== peerKey) ||
    (boundNumber !== undefined && boundNumber !== channel)
  )
    return false;
  a.channels.set(channel, {
    peer: { ip: peer.ip, port: peer.port },
    peerKey,
    expiresAtMs: nowMs + CHANNEL_LIFETIME_MS,
  });
  a.channelByPeer.set(peerKey, channel);
  installPermission(a, peer.ip, nowMs);
  return true;
}

/** The unexpired binding of `channel` in `a`, if any. */
export function channelPeer(
  a: Allocation,
  channel: number,
  nowMs: number,
): ChannelEntry | undefined {
  const entry = a.channels.get(channel);
  return entry && entry.expiresAtMs > nowMs ? entry : undefined;
}

/** The channel number bound to peer `ip:port` in `a` and unexpired, if any. */
export function channelOfPeer(
  a: Allocation,
  ip: string,
  port: number,
  nowMs: number,
): number | undefined {
  const channel = a.channelByPeer.get(`${ip}:${port}`);
  if (channel === undefined) return undefined;
  const entry = a.channels.get(channel);
  return entry && entry.expiresAtMs > nowMs ? channel : undefined;
}

/** Forgets `a`'s expired bindings, both ways (RFC 8656 §12: a binding is refreshed, never kept). */
export function expireChannels(a: Allocation, nowMs: number): void {
  for (const [n, c] of a.channels) {
    if (c.expiresAtMs <= nowMs) {
      a.channels.delete(n);
      a.channelByPeer.delete(c.peerKey);
    }
  }
}
