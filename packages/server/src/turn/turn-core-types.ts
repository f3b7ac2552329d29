/**
 * The types of the TURN core's interface (`allocation-manager.ts`): its options, its counters,
 * what it asks the adapter to do, and its sans-IO inputs and outputs.
 */
import type { CallDirectory } from '../relay-types.ts';
import type { Allocation, ClientRef, TurnLogger } from './allocation.ts';
import type { TransportAddress } from './stun.ts';

/** An Allocate request that passed every check and now needs a relay socket from the adapter. */
export interface PendingAllocate {
  /** Requesting client. */
  client: ClientRef;
  /** Request, kept for the response. */
  transactionId: Buffer;
  /** Username, call and user. */
  username: string;
  callId: string;
  userId: string;
  /** Integrity key. */
  key: Buffer;
  /** Lifetime granted, seconds. */
  lifetimeSec: number;
  /** EVEN-PORT was present (RFC 8656 §14.6). */
  evenPort: boolean;
  /** EVEN-PORT R bit: reserve the next port too. */
  reserveNext: boolean;
  /** RESERVATION-TOKEN from the request, if any (8 bytes). */
  reservationToken: Buffer | undefined;
  /** REQUESTED-TRANSPORT was TCP (RFC 6062): the adapter binds a TCP listener. */
  tcpRelay: boolean;
}

/** The relay socket the adapter bound for a {@link PendingAllocate}. */
export interface RelayBinding {
  /** Relayed transport address. */
  address: TransportAddress;
  /** RESERVATION-TOKEN of the next port, held for a later Allocate (EVEN-PORT R bit), 8 bytes. */
  reservationToken?: Buffer;
}

/** An RFC 6062 Connect that passed every check: the adapter now opens the TCP connection. */
export interface PendingConnect {
  /** The allocation (a TCP one) whose relayed address connects. */
  allocation: Allocation;
  /** Peer to connect to. */
  peer: TransportAddress;
  /** Request transaction id, for the response. */
  transactionId: Buffer;
}

/** An authenticated RFC 6062 ConnectionBind: the adapter looks up the connection id. */
export interface PendingBind {
  /** CONNECTION-ID from the request. */
  connectionId: number;
  /** Username of the request; it must be the allocation's. */
  username: string;
  /** Integrity key, for the response. */
  key: Buffer;
  /** Request transaction id. */
  transactionId: Buffer;
}

/** What the adapter must do with a client packet. */
export type ClientAction =
  | { kind: 'reply'; data: Buffer }
  | { kind: 'relay'; allocation: Allocation; peer: TransportAddress; data: Buffer }
  | { kind: 'allocate'; pending: PendingAllocate }
  | { kind: 'connect'; pending: PendingConnect }
  | { kind: 'bind'; pending: PendingBind };

/** One input of the core's sans-IO entry (`TurnCore.handleInput`). */
export type TurnInput =
  /** A packet from a client 5-tuple: a STUN message or ChannelData. */
  | { kind: 'client'; client: ClientRef; data: Buffer }
  /**
   * A datagram on `allocation`'s relayed address from `peer`; `from` is the sending allocation when
   * the peer is one of this server's, and `headroom` says the 4 bytes before `data` are scratch.
   */
  | {
      kind: 'peer';
      allocation: Allocation;
      peer: TransportAddress;
      data: Buffer;
      from?: Allocation;
      headroom?: boolean;
    }
  /** The adapter bound the relay socket of an Allocate (`relay`), or could not (undefined). */
  | { kind: 'relay-bound'; pending: PendingAllocate; relay: RelayBinding | undefined }
  /** Signalling says the call is over. */
  | { kind: 'call-ended'; callId: string }
  /** A TCP client's connection closed. */
  | { kind: 'client-gone'; clientKey: string }
  /** Time passed: expire what is due. */
  | { kind: 'tick' };

/** One output of the core's sans-IO entry (`TurnCore.pollOutput`). */
export type TurnOutput =
  /** Send `data` to a client 5-tuple. */
  | { kind: 'send'; client: ClientRef; data: Buffer }
  /** Send `data` from `allocation`'s relayed address to `peer`. */
  | { kind: 'relay'; allocation: Allocation; peer: TransportAddress; data: Buffer }
  /** Bind a relay socket for an Allocate, then give it back as a `relay-bound` input. */
  | { kind: 'allocate'; pending: PendingAllocate }
  /** RFC 6062: open a TCP connection from the relayed address to the peer. */
  | { kind: 'connect'; pending: PendingConnect }
  /** RFC 6062: join the client's connection to the peer connection of the id. */
  | { kind: 'bind'; client: ClientRef; pending: PendingBind }
  /** An allocation was created on the relay socket the adapter bound: keep that socket. */
  | { kind: 'allocated'; allocation: Allocation }
  /** An allocation was deleted: close its relay socket. */
  | { kind: 'deleted'; allocation: Allocation };

/** Counters kept by the core (read by metrics and stats). */
export interface TurnCounters {
  /** Packets forwarded, either direction. */
  packetsRelayed: number;
  /** Payload bytes forwarded, either direction. */
  bytesRelayed: number;
  /** Refusals (error responses and dropped packets) by STUN error code or reason. */
  refusals: Map<string, number>;
  /** Packets dropped because a parser rejected them. */
  malformed: number;
  /** Packets dropped by the bandwidth cap. */
  bandwidthDropped: number;
}

/** Options of `TurnCore`. */
export interface TurnCoreOptions {
  /** Shared secret for TURN REST credentials. */
  secret: string;
  /** Realm, sent in 401/438 (RFC 8489 §9.2). */
  realm: string;
  /** Live calls; absent only in bench mode. */
  calls?: CallDirectory;
  /** Accept `expiry:anything` usernames without a call and any peer but unspecified ones. */
  bench?: boolean;
  /**
   * Allow loopback peers on any port, even outside the call and on the server's own ports (tests
   * and development on one machine). Default false: loopback peers are refused, except the live
   * relay ports of a relay address that is itself on loopback.
   */
  allowLoopbackPeers?: boolean;
  /**
   * This machine's addresses (listening and interface addresses): never reachable as peers,
   * except a live allocation's relay port. Relayed addresses are added as allocations are made.
   */
  selfAddresses?: readonly string[];
  /** Private-range peers (RFC 1918, RFC 6598): 'allow' (default, LAN calls) or 'deny'. */
  privatePeers?: 'allow' | 'deny';
  /** Max allocations per user of a call (default 8). */
  maxAllocationsPerUser?: number;
  /** Max allocations per call (default 16). */
  maxAllocationsPerCall?: number;
  /** Max allocations in total (default 10 000). */
  maxAllocations?: number;
  /** Per-allocation bandwidth cap, bytes/s, both directions together (default 125 000). */
  bandwidthBytesPerSec?: number;
  /** Max STUN requests per second from one IP (default 2 000, burst 4 × that). */
  requestsPerSecPerIp?: number;
  /** Nonce lifetime, ms (default 600 000). */
  nonceLifetimeMs?: number;
  /** Logger. */
  logger?: TurnLogger;
  /**
   * Called whenever an allocation's forwarding state changes: created, refreshed, a permission or
   * channel installed (`deleted` false), or deleted (`deleted` true, before the deletion is logged,
   * so the hook may add to `packets`). The native forwarding thread mirrors its tables from here.
   */
  onAllocationChange?: (allocation: Allocation, deleted: boolean) => void;
}
