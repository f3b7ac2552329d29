/**
 * One TURN allocation (RFC 8656 §2.2, §7): its record, the Allocate request's checks, lifetime and
 * refresh, and its bandwidth bucket. Pure: time comes in as `nowMs`. The counterpart of pion/turn's
 * `internal/allocation/allocation.go`; permissions and channels of an allocation have their own
 * modules (`permission.ts`, `channel-bind.ts`), and the set of allocations is
 * `allocation-manager.ts`.
 */
import { Attr, getAttribute, type StunMessage, type TransportAddress } from './stun.ts';

/** Minimal logger (pino-compatible). */
export interface TurnLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** One client 5-tuple as seen by a listener. Created by the adapter. */
export interface ClientRef {
  /** Client transport. */
  transport: 'udp' | 'tcp';
  /** Client source IP. */
  ip: string;
  /** Client source port. */
  port: number;
  /** Unique key of the 5-tuple (`udp:ip:port` or `tcp:<connection id>`). */
  key: string;
}

/** One channel binding (RFC 8656 §12). */
export interface ChannelEntry {
  /** The peer the channel is bound to. */
  peer: TransportAddress;
  /** `ip:port` of the peer. */
  peerKey: string;
  /** Expiry, ms on the core's clock. */
  expiresAtMs: number;
}

/** One allocation (RFC 8656 §2.2). */
export interface Allocation {
  /** The client 5-tuple that owns it. */
  client: ClientRef;
  /** TURN username that created it. */
  username: string;
  /** Call id from the username ('' in bench mode when absent). */
  callId: string;
  /** User id from the username. */
  userId: string;
  /** MESSAGE-INTEGRITY key, MD5(username:realm:password). */
  key: Buffer;
  /** Relayed transport address. */
  relay: TransportAddress;
  /** Expiry, ms on the core's clock. */
  expiresAtMs: number;
  /** Permissions: peer IP → expiry (ms). */
  permissions: Map<string, number>;
  /** Channels by number. */
  channels: Map<number, ChannelEntry>;
  /** Channel number by `ip:port`. */
  channelByPeer: Map<string, number>;
  /** Transaction id of the Allocate that created it (hex), for retransmissions. */
  allocateTid: string;
  /** The success response sent for that Allocate. */
  allocateResponse: Buffer;
  /** Bandwidth bucket: bytes available. */
  bucketBytes: number;
  /** Bandwidth bucket: last refill time, ms. */
  bucketAtMs: number;
  /** Packets relayed for this allocation (both directions). */
  packets: number;
  /** Whether it was deleted (late socket events must be ignored). */
  deleted: boolean;
  /** RFC 6062 TCP allocation: the relayed address is a TCP listener, data goes over connections. */
  tcpRelay: boolean;
}

/** RFC 8656 §3.2: default allocation lifetime, s. */
export const DEFAULT_LIFETIME_SEC = 600;
/** Largest lifetime we grant, s. */
export const MAX_LIFETIME_SEC = 3600;

/**
 * The lifetime granted for a request's LIFETIME attribute, s (RFC 8656 §7.2, §8): `fallback` when
 * absent, 0 kept (a Refresh that deletes), otherwise at least the default and at most
 * {@link MAX_LIFETIME_SEC}.
 */
export function grantedLifetimeSec(msg: StunMessage, fallback = DEFAULT_LIFETIME_SEC): number {
  const attr = getAttribute(msg, Attr.LIFETIME);
  const asked = attr && attr.length === 4 ? attr.readUInt32BE(0) : fallback;
  return Math.min(Math.max(asked, asked === 0 ? 0 : DEFAULT_LIFETIME_SEC), MAX_LIFETIME_SEC);
}

/** Whether `a` is neither deleted nor expired at `nowMs`. */
export function isLive(a: Allocation, nowMs: number): boolean {
  return !a.deleted && a.expiresAtMs > nowMs;
}

/** What an Allocate request asks for, once its attributes passed {@link parseAllocateRequest}. */
export interface AllocateRequest {
  /** REQUESTED-TRANSPORT was TCP (RFC 6062): the relayed address is a TCP listener. */
  tcpRelay: boolean;
  /** EVEN-PORT was present (RFC 8656 §14.6). */
  evenPort: boolean;
  /** EVEN-PORT R bit: reserve the next port too. */
  reserveNext: boolean;
  /** RESERVATION-TOKEN from the request, if any (8 bytes, a copy). */
  reservationToken: Buffer | undefined;
  /** Lifetime granted, s. */
  lifetimeSec: number;
}

/** A refused request: the STUN error code and the reason that is logged. */
export interface Refusal {
  /** STUN error code (RFC 8489 §14.8). */
  code: number;
  /** Human reason, for the log line. */
  why: string;
}

/**
 * RFC 8656 §7.2 (and RFC 6062 §5.1 for TCP relaying): the checks of an Allocate's attributes, in
 * the order that decides which error a request with several faults gets. `clientTransport` is the
 * transport of the connection it came on.
 */
export function parseAllocateRequest(
  msg: StunMessage,
  clientTransport: 'udp' | 'tcp',
): { ok: true; value: AllocateRequest } | ({ ok: false } & Refusal) {
  const refuse = (code: number, why: string): { ok: false } & Refusal => ({ ok: false, code, why });
  const transport = getAttribute(msg, Attr.REQUESTED_TRANSPORT);
  if (!transport || transport.length !== 4) return refuse(400, 'no REQUESTED-TRANSPORT');
  const tcpRelay = transport[0] === 6;
  if (transport[0] !== 17 && !tcpRelay) return refuse(442, 'only UDP and TCP relaying');
  if (tcpRelay) {
    // RFC 6062 §5.1: a TCP allocation needs a TCP control connection, and takes none of these.
    if (clientTransport !== 'tcp') return refuse(400, 'TCP relaying needs TCP');
    for (const t of [Attr.EVEN_PORT, Attr.RESERVATION_TOKEN, Attr.DONT_FRAGMENT]) {
      if (getAttribute(msg, t)) return refuse(400, 'attribute not allowed');
    }
  }
  const family = getAttribute(msg, Attr.REQUESTED_ADDRESS_FAMILY);
  if (family && (family.length !== 4 || family[0] !== 0x01)) {
    return refuse(440, 'only IPv4 relayed addresses');
  }
  if (getAttribute(msg, Attr.ADDITIONAL_ADDRESS_FAMILY)) return refuse(440, 'no dual allocation');
  const even = getAttribute(msg, Attr.EVEN_PORT);
  const token = getAttribute(msg, Attr.RESERVATION_TOKEN);
  if (even && token) return refuse(400, 'EVEN-PORT with RESERVATION-TOKEN');
  if ((even && even.length !== 1 && even.length !== 4) || (token && token.length !== 8)) {
    return refuse(400, 'malformed attribute');
  }
  return {
    ok: true,
    value: {
      tcpRelay,
      evenPort: even !== undefined,
      reserveNext: even !== undefined && ((even[0] ?? 0) & 0x80) !== 0,
      reservationToken: token ? Buffer.from(token) : undefined,
      lifetimeSec: grantedLifetimeSec(msg),
    },
  };
}

/** Everything a new allocation needs besides its maps and counters. */
export interface AllocationInit {
  /** The owning client 5-tuple. */
  client: ClientRef;
  /** Username, call and user of the credential. */
  username: string;
  callId: string;
  userId: string;
  /** Integrity key. */
  key: Buffer;
  /** Relayed transport address. */
  relay: TransportAddress;
  /** Lifetime granted, s. */
  lifetimeSec: number;
  /** Transaction id of the Allocate (hex) and the success response sent for it. */
  allocateTid: string;
  allocateResponse: Buffer;
  /** RFC 6062 TCP allocation. */
  tcpRelay: boolean;
}

/** A new allocation at `nowMs`, its bandwidth bucket full (`bucketBytes`, bytes). */
export function newAllocation(
  init: AllocationInit,
  nowMs: number,
  bucketBytes: number,
): Allocation {
  return {
    client: init.client,
    username: init.username,
    callId: init.callId,
    userId: init.userId,
    key: init.key,
    relay: init.relay,
    expiresAtMs: nowMs + init.lifetimeSec * 1000,
    permissions: new Map(),
    channels: new Map(),
    channelByPeer: new Map(),
    allocateTid: init.allocateTid,
    allocateResponse: init.allocateResponse,
    bucketBytes,
    bucketAtMs: nowMs,
    packets: 0,
    deleted: false,
    tcpRelay: init.tcpRelay,
  };
}

/** RFC 8656 §8: a Refresh with a non-zero lifetime moves the expiry to `nowMs + lifetimeSec`. */
export function refreshAllocation(a: Allocation, lifetimeSec: number, nowMs: number): void {
  a.expiresAtMs = nowMs + lifetimeSec * 1000;
}

/**
 * The bandwidth cap: a token bucket of `capBytesPerSec` bytes/s that holds at most one second's
 * worth. Takes `bytes` from `a`'s bucket and returns true, or returns false (drop) when it holds
 * fewer.
 */
export function spendBandwidth(
  a: Allocation,
  bytes: number,
  nowMs: number,
  capBytesPerSec: number,
): boolean {
  if (nowMs !== a.bucketAtMs) {
    a.bucketBytes = Math.min(
      capBytesPerSec,
      a.bucketBytes + ((nowMs - a.bucketAtMs) * capBytesPerSec) / 1000,
    );
    a.bucketAtMs = nowMs;
  }
  if (a.bucketBytes < bytes) return false;
  a.bucketBytes -= bytes;
  return true;
}
