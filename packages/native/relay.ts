/**
 * Typed wrapper over the addon's TURN forwarding thread (`src/relay.c`): a C thread that owns the
 * UDP listener and the relay sockets, and forwards ChannelData, Send and Data indications with
 * `recvmmsg`/`sendmmsg` by the allocation, permission and channel tables written here. Anything
 * the tables do not cover reaches `onPackets`, batched. Policy lives with the caller
 * (packages/server/src/turn); this class only moves bytes.
 * @module
 */
import { addon } from './addon.ts';
import { NativeError } from './errors.ts';

/** Codes raised by {@link TurnForwarder}. */
export type RelayErrorCode =
  | 'RELAY_ERR_BAD_ARG'
  | 'RELAY_ERR_ADDRESS_IN_USE'
  | 'RELAY_ERR_SOCKET'
  | 'RELAY_ERR_NO_MEMORY'
  | 'RELAY_ERR_CLOSED'
  | 'RELAY_ERR_INTERNAL'
  | 'RELAY_ERR_UNAVAILABLE';

/** A forwarding-thread call failed. */
export class RelayError extends NativeError {
  declare readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RelayError';
  }
}

interface RawRelay {
  port(): number;
  openRelay(port: number): boolean;
  closeRelay(port: number): void;
  setAllocation(
    relayPort: number,
    clientIp: number,
    clientPort: number,
    tcp: boolean,
    group: number,
    expiresAtMs: number,
    perms: Float64Array,
    chans: Float64Array,
  ): void;
  deleteAllocation(relayPort: number): number;
  sendToClient(ip: number, port: number, data: Uint8Array): boolean;
  sendFromRelay(relayPort: number, ip: number, port: number, data: Uint8Array): boolean;
  counters(): ForwarderCounters;
  close(): void;
}

type RawRelayCtor = new (
  listenIp: string,
  port: number,
  sockets: number,
  relayIp: string,
  capBytesPerSec: number,
  onPackets: (flat: (number | Buffer)[]) => void,
  selfPortsOpen: boolean,
) => RawRelay;

const Raw = (addon as unknown as { NativeTurnRelay?: RawRelayCtor }).NativeTurnRelay;

/** A packet the forwarding thread hands up because no table entry covers it. */
export interface ForwarderPacket {
  /** `client`: arrived on the listener; `peer`: arrived on relay socket `relayPort`. */
  kind: 'client' | 'peer';
  /** Relay port it arrived on (0 for `client`). */
  relayPort: number;
  /** Source IPv4 address. */
  ip: string;
  /** Source port. */
  port: number;
  /** The datagram (a copy the receiver owns). */
  data: Buffer;
}

/** Counters of the forwarding thread, since it started. */
export interface ForwarderCounters {
  /** Packets forwarded (hops: client→peer and peer→client each count one). */
  packets: number;
  /** Payload bytes forwarded. */
  bytes: number;
  /** Packets dropped by the per-allocation bandwidth cap. */
  bandwidthDropped: number;
  /** Packets dropped because they came from an allocation of another call group. */
  crossCall: number;
  /** ChannelData from a known client that failed to parse. */
  malformed: number;
  /** Packets not handed up because the up-call queue was full (16 384 packets or 16 MiB). */
  upcallsDropped: number;
  /**
   * Packets a client sent to a port of the relay IP that no live allocation holds (another
   * service of this machine), dropped.
   */
  selfPort: number;
}

/** One allocation as the forwarding thread sees it. */
export interface ForwarderAllocation {
  /** Relayed port (the table key); its socket must have been opened with `openRelay`. */
  relayPort: number;
  /** Client IPv4 address and port. */
  clientIp: string;
  clientPort: number;
  /** TCP client: the thread never sends to it and hands its peers' packets up. */
  tcp: boolean;
  /** Call group: packets between allocations of different groups are dropped (0 = all one group). */
  group: number;
  /** Allocation expiry, ms on the `Date.now()` clock. */
  expiresAtMs: number;
  /** Permissions: peer IPv4 → expiry (ms, `Date.now()` clock). */
  permissions: Iterable<[string, number]>;
  /** Channels: number → peer and expiry (ms, `Date.now()` clock). */
  channels: Iterable<[number, { peer: { ip: string; port: number }; expiresAtMs: number }]>;
}

/** Options of {@link TurnForwarder}. */
export interface TurnForwarderOptions {
  /** IPv4 address the UDP listener binds. */
  listenIp: string;
  /** Listening port (0: ephemeral). */
  port: number;
  /** Listener sockets sharing the port through SO_REUSEPORT (1-8). */
  sockets: number;
  /** IPv4 address relay sockets bind (the relayed address). */
  relayIp: string;
  /** Per-allocation bandwidth cap, bytes/s, both directions together. */
  bandwidthBytesPerSec: number;
  /** Called on the JavaScript thread with the packets no table entry covered, in arrival order. */
  onPackets(packets: ForwarderPacket[]): void;
  /**
   * Let clients send to any port of `relayIp`, not only to live relay ports (default false).
   * Only for tests and development on loopback, where every peer shares the relay's IP.
   */
  selfPortsOpen?: boolean;
}

/** IPv4 dotted quad → unsigned 32-bit number. Throws RELAY_ERR_BAD_ARG otherwise. */
export function ipv4ToNumber(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) {
    throw new RelayError('RELAY_ERR_BAD_ARG', `not an IPv4 address: ${ip}`);
  }
  return parts.reduce((n, p) => n * 256 + p, 0);
}

/** Unsigned 32-bit number → IPv4 dotted quad. */
export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function rethrow(err: unknown): never {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('RELAY_ERR_')) {
    throw new RelayError(e.code as RelayErrorCode, e.message ?? e.code, { cause: err });
  }
  throw err;
}

/** The native TURN forwarding thread. Close it with `close()`; until then it keeps Node alive. */
export class TurnForwarder {
  #raw: RawRelay;
  #port: number;

  /** Whether this build of the addon has the forwarding thread. */
  static get available(): boolean {
    return Raw !== undefined;
  }

  constructor(options: TurnForwarderOptions) {
    if (!Raw) throw new RelayError('RELAY_ERR_UNAVAILABLE', 'the addon has no NativeTurnRelay');
    const cb = (flat: (number | Buffer)[]): void => {
      const out: ForwarderPacket[] = [];
      for (let i = 0; i + 4 < flat.length; i += 5) {
        out.push({
          kind: flat[i] === 0 ? 'client' : 'peer',
          relayPort: flat[i + 1] as number,
          ip: numberToIpv4(flat[i + 2] as number),
          port: flat[i + 3] as number,
          data: flat[i + 4] as Buffer,
        });
      }
      options.onPackets(out);
    };
    try {
      this.#raw = new Raw(
        options.listenIp,
        options.port,
        options.sockets,
        options.relayIp,
        Math.max(1, Math.round(options.bandwidthBytesPerSec)),
        cb,
        options.selfPortsOpen ?? false,
      );
    } catch (err) {
      rethrow(err);
    }
    this.#port = this.#raw.port();
  }

  /** The bound listening port. */
  get port(): number {
    return this.#port;
  }

  /** Binds relayIp:`port` exclusively for an allocation or a reservation. False if taken. */
  openRelay(port: number): boolean {
    try {
      return this.#raw.openRelay(port);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Closes the relay socket of `port` (no-op if not open). */
  closeRelay(port: number): void {
    try {
      this.#raw.closeRelay(port);
    } catch (err) {
      rethrow(err);
    }
  }

  /**
   * Creates or replaces the table entry of one allocation (whole state: permissions and channels
   * are replaced, the bandwidth bucket and packet count are kept).
   */
  setAllocation(a: ForwarderAllocation): void {
    const perms: number[] = [];
    for (const [ip, exp] of a.permissions) perms.push(ipv4ToNumber(ip), exp);
    const chans: number[] = [];
    for (const [num, c] of a.channels) {
      chans.push(num, ipv4ToNumber(c.peer.ip), c.peer.port, c.expiresAtMs);
    }
    try {
      this.#raw.setAllocation(
        a.relayPort,
        ipv4ToNumber(a.clientIp),
        a.clientPort,
        a.tcp,
        a.group,
        a.expiresAtMs,
        Float64Array.from(perms),
        Float64Array.from(chans),
      );
    } catch (err) {
      rethrow(err);
    }
  }

  /** Removes an allocation's entry at once; returns the packets the thread forwarded for it. */
  deleteAllocation(relayPort: number): number {
    try {
      return this.#raw.deleteAllocation(relayPort);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Sends one datagram from the listening address. False if the kernel refused it. */
  sendToClient(ip: string, port: number, data: Uint8Array): boolean {
    try {
      return this.#raw.sendToClient(ipv4ToNumber(ip), port, data);
    } catch (err) {
      rethrow(err);
    }
  }

  /** Sends one datagram from relay socket `relayPort`. False if it is closed or the send failed. */
  sendFromRelay(relayPort: number, ip: string, port: number, data: Uint8Array): boolean {
    try {
      return this.#raw.sendFromRelay(relayPort, ipv4ToNumber(ip), port, data);
    } catch (err) {
      rethrow(err);
    }
  }

  /** The thread's counters. */
  counters(): ForwarderCounters {
    try {
      return this.#raw.counters();
    } catch (err) {
      rethrow(err);
    }
  }

  /** Stops the thread and closes every socket. Idempotent. */
  close(): void {
    this.#raw.close();
  }
}
