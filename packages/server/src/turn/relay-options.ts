/**
 * The public types of the TURN relay: the options of `createTurnRelay`, the relay it returns and
 * its stats.
 */
import type { Registry } from 'prom-client';
import type { CallDirectory, MediaRelay } from '../relay-types.ts';
import type { TurnLogger } from './allocation.ts';

/** Options of {@link createTurnRelay}. */
export interface TurnRelayOptions {
  /** IP the UDP and TCP listeners bind (default '0.0.0.0'). */
  listenHost?: string;
  /** Listening port for UDP and TCP; 0 picks an ephemeral one (tests). Default 3478. */
  port?: number;
  /**
   * UDP listening sockets sharing the port through SO_REUSEPORT (default 2). More sockets mean
   * more kernel receive buffer to ride out a stalled event loop without loss.
   */
  udpSockets?: number;
  /** Listen on TCP as well as UDP (default true). */
  tcp?: boolean;
  /**
   * IPv4 address relay sockets bind and advertise. Default: `listenHost`; for 0.0.0.0, the first
   * non-internal IPv4 address of the machine (127.0.0.1 if there is none).
   */
  relayAddress?: string;
  /** Host name or IP put in the `turn:` URLs handed to clients (default: `relayAddress`). */
  publicHost?: string;
  /** Relay port range, inclusive (default 49152-65535). */
  relayPorts?: { min: number; max: number };
  /** Shared secret of TURN REST credentials (also coturn's `static-auth-secret`). */
  secret: string;
  /** Realm (default 'parloir'). */
  realm?: string;
  /** Live calls (required unless `bench`). */
  calls?: CallDirectory;
  /**
   * Bench mode (`--turn-bench`): any unexpired `expiry:anything` credential made with the secret
   * is accepted without a call, and loopback peers are allowed. Refused unless every listener is
   * on loopback.
   */
  bench?: boolean;
  /**
   * Allow loopback peers on any port, outside the call and on this machine's own ports (tests and
   * development on one machine, `--turn-allow-loopback-peers`). Default false: loopback peers are
   * refused, and this machine's addresses are reachable only on live relay ports.
   */
  allowLoopbackPeers?: boolean;
  /**
   * Private-range peers (10/8, 172.16/12, 192.168/16, 100.64/10): 'allow' (default: a call between
   * two people on the server's LAN works) or 'deny' (`--turn-private-peers deny`).
   */
  privatePeers?: 'allow' | 'deny';
  /**
   * Max TCP connections from one IP (default 128, none in bench mode where every client is on
   * 127.0.0.1); past it new ones are closed at once.
   */
  maxTcpConnectionsPerIp?: number;
  /** Max TCP connections in total (default 4 096). */
  maxTcpConnections?: number;
  /**
   * A TCP connection that has not made an authenticated request (an Allocate that succeeded, or a
   * ConnectionBind) this long after it opened is closed, ms (default 10 000).
   */
  tcpAuthDeadlineMs?: number;
  /** Max allocations per user of a call (default 8). */
  maxAllocationsPerUser?: number;
  /** Max allocations per call (default 16). */
  maxAllocationsPerCall?: number;
  /** Max allocations in total (default 10 000). */
  maxAllocations?: number;
  /** Per-allocation bandwidth cap, bytes/s (default 125 000 = 1 Mbit/s). */
  bandwidthBytesPerSec?: number;
  /** Max STUN requests per second from one IP (default 2 000). */
  requestsPerSecPerIp?: number;
  /** Lifetime of credentials handed out by `iceServersFor`, s (default 21 600). */
  credentialTtlSec?: number;
  /**
   * External TURN URLs (e.g. coturn with `use-auth-secret` and the same secret). When set,
   * `iceServersFor` hands these out instead of the built-in relay, which then binds nothing.
   */
  externalUrls?: string[];
  /** Clients must use relayed candidates only (`--relay-only`). */
  relayOnly?: boolean;
  /** Registry to register metrics on. */
  registry?: Registry;
  /** Logger (pino). */
  logger?: TurnLogger;
  /**
   * Forward UDP in the native addon's thread (default true). Falls back to Node `dgram` when the
   * addon cannot load or the listen/relay addresses are not IPv4 literals; `false` forces `dgram`.
   */
  nativeForwarding?: boolean;
}

/** Counters and sizes, for tests and the bench. */
export interface TurnRelayStats {
  /** Live allocations. */
  allocations: number;
  /** Packets relayed, both directions. */
  packetsRelayed: number;
  /** Payload bytes relayed, both directions. */
  bytesRelayed: number;
  /** Refusals by STUN error code (or reason for silent drops). */
  refusals: Record<string, number>;
  /** Packets dropped as malformed. */
  malformed: number;
  /** Packets dropped by the bandwidth cap. */
  bandwidthDropped: number;
}

/** The built-in TURN relay. */
export interface TurnRelay extends MediaRelay {
  /** Bound UDP/TCP listening port (0 when only external URLs are used). */
  readonly port: number;
  /** IPv4 address of relayed transport addresses. */
  readonly relayAddress: string;
  /** How UDP is forwarded: the native thread, Node `dgram`, or nothing (external URLs only). */
  readonly forwarding: 'native' | 'dgram' | 'none';
  /** Counters. */
  stats(): TurnRelayStats;
  /** Closes every socket and the timer. */
  close(): Promise<void>;
}
