/**
 * Which peers an allocation may reach (RFC 8656 §21, "no open relay"), by address alone. The call
 * rule (a peer must be the other party of the same call) is in `permission.ts`; this module
 * decides what no call makes reachable:
 *
 * - unspecified (0.0.0.0/8), broadcast, multicast (224.0.0.0/4), reserved (240.0.0.0/4) and
 *   link-local (169.254.0.0/16) addresses: always refused, as coturn's `denied-peer-ip` defaults;
 * - loopback (127.0.0.0/8): refused, unless `allowLoopbackPeers` (tests and development on one
 *   machine, where every peer is on 127.0.0.1), as coturn's `no-loopback-peers`;
 * - the server's own addresses: reachable only on a live allocation's relay port of the relay
 *   address, which is how two clients relayed by the same server talk. A permission is per IP
 *   (RFC 8656 §9), so the port is checked again for every Send, ChannelData and Connect;
 * - private ranges (10/8, 172.16/12, 192.168/16, 100.64/10): allowed by default, so that a call
 *   between two people on the server's LAN still works through the relay; `privatePeers: 'deny'`
 *   refuses them.
 *
 * IPv6 peers never get here: the relay is IPv4 only (443 in `permission.ts`).
 */

import { parseIPv4 } from './stun.ts';

/** What kind of IPv4 address a peer is. */
export type PeerAddressClass =
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  | 'reserved'
  | 'link-local'
  | 'loopback'
  | 'private'
  | 'public';

/** How a peer was judged: allowed, or refused with the reason (logged and counted). */
export type PeerVerdict =
  | { ok: true }
  | {
      ok: false;
      reason:
        'peer-denied-class' | 'peer-loopback' | 'peer-private' | 'peer-self' | 'peer-self-port';
    };

/** Options of {@link PeerPolicy}. */
export interface PeerPolicyOptions {
  /**
   * Addresses of this machine (relay address, listening address, interface addresses). Relay
   * addresses of live allocations count as own addresses without being listed here.
   */
  selfAddresses?: readonly string[];
  /** Allow loopback peers on any port, the server's own included (tests, development). */
  allowLoopbackPeers?: boolean;
  /** Private-range peers (RFC 1918, RFC 6598): 'allow' (default, LAN calls) or 'deny'. */
  privatePeers?: 'allow' | 'deny';
}

const OK: PeerVerdict = { ok: true };

/** Parses a dotted-quad IPv4 address to a 32-bit unsigned integer; undefined if not one. */
export const ipv4ToInt = parseIPv4;

function inRange(n: number, base: string, bits: number): boolean {
  const b = ipv4ToInt(base) ?? 0;
  const size = 2 ** (32 - bits);
  return n >= b && n < b + size;
}

/** Classifies an IPv4 address (RFC 6890 special-purpose registry, the parts that matter here). */
export function classifyIPv4(ip: string): PeerAddressClass {
  const n = ipv4ToInt(ip);
  if (n === undefined) return 'reserved';
  if (n === 0xffffffff) return 'broadcast';
  if (inRange(n, '0.0.0.0', 8)) return 'unspecified';
  if (inRange(n, '127.0.0.0', 8)) return 'loopback';
  if (inRange(n, '169.254.0.0', 16)) return 'link-local';
  if (inRange(n, '224.0.0.0', 4)) return 'multicast';
  if (inRange(n, '240.0.0.0', 4)) return 'reserved';
  if (
    inRange(n, '10.0.0.0', 8) ||
    inRange(n, '172.16.0.0', 12) ||
    inRange(n, '192.168.0.0', 16) ||
    inRange(n, '100.64.0.0', 10)
  ) {
    return 'private';
  }
  return 'public';
}

/** The address rules of the relay's peers. Pure: no sockets, no clock. */
export class PeerPolicy {
  #self: Set<string>;
  #allowLoopback: boolean;
  #denyPrivate: boolean;

  constructor(options: PeerPolicyOptions = {}) {
    this.#self = new Set(options.selfAddresses ?? []);
    this.#allowLoopback = options.allowLoopbackPeers ?? false;
    this.#denyPrivate = options.privatePeers === 'deny';
  }

  /** Whether loopback peers are allowed (the test and development opt-in). */
  get allowLoopbackPeers(): boolean {
    return this.#allowLoopback;
  }

  /** Records an address of this machine (each relayed address, as allocations are made). */
  addSelf(ip: string): void {
    this.#self.add(ip);
  }

  /** Whether `ip` is one of this machine's addresses that the policy knows. */
  isSelf(ip: string): boolean {
    return this.#self.has(ip);
  }

  /**
   * The check of a permission (CreatePermission, ChannelBind, Connect): by IP only, since a
   * permission covers every port of its IP. `relayIp` is the relay address of the allocations:
   * its relay ports are reachable, so a permission for it is granted and the port is checked per
   * packet by {@link checkPort}.
   */
  checkIp(ip: string, relayIp: string): PeerVerdict {
    const cls = classifyIPv4(ip);
    if (
      cls === 'unspecified' ||
      cls === 'broadcast' ||
      cls === 'multicast' ||
      cls === 'reserved' ||
      cls === 'link-local'
    ) {
      return { ok: false, reason: 'peer-denied-class' };
    }
    if (cls === 'loopback' && this.#allowLoopback) return OK;
    if (ip === relayIp) return OK;
    if (cls === 'loopback') return { ok: false, reason: 'peer-loopback' };
    if (this.#self.has(ip)) return { ok: false, reason: 'peer-self' };
    if (cls === 'private' && this.#denyPrivate) return { ok: false, reason: 'peer-private' };
    return OK;
  }

  /**
   * The check of one destination (ip, port) that already passed {@link checkIp}: on an own
   * address only a live allocation's relay port is reachable. `isLiveRelayPort(port)` says whether
   * `port` of `relayIp` belongs to a live allocation.
   */
  checkPort(
    ip: string,
    port: number,
    relayIp: string,
    isLiveRelayPort: (port: number) => boolean,
  ): PeerVerdict {
    if (ip !== relayIp && !this.#self.has(ip)) return OK;
    if (this.#allowLoopback && classifyIPv4(ip) === 'loopback') return OK;
    if (ip === relayIp && isLiveRelayPort(port)) return OK;
    return { ok: false, reason: 'peer-self-port' };
  }
}
