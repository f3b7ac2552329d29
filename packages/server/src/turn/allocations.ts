/**
 * TURN allocation state (RFC 8656): authentication, nonces, allocations, permissions, channels,
 * lifetimes, quotas, the "no open relay" policy and the bandwidth cap. Sans-IO: bytes and the
 * current time come in, replies and forwarding instructions go out; the socket adapters in
 * `relay.ts` do the I/O. The counterpart of pion/turn's `internal/allocation`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { CallDirectory } from '../relay-types.ts';
import { parseTurnUsername, turnPassword } from './credentials.ts';
import { PeerPolicy } from './peer-policy.ts';
import {
  Attr,
  MAX_CHANNEL,
  MIN_CHANNEL,
  MessageClass,
  Method,
  StunBuilder,
  buildChannelData,
  checkIntegrity,
  decodeAddress,
  getAttribute,
  longTermKey,
  looksLikeChannelData,
  parseChannelData,
  parseStunMessage,
  unknownRequiredAttributes,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';

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
  channels: Map<number, { peer: TransportAddress; peerKey: string; expiresAtMs: number }>;
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

/** Options of {@link TurnCore}. */
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

/** RFC 8656 §3.2: default allocation lifetime, s. */
export const DEFAULT_LIFETIME_SEC = 600;
/** Largest lifetime we grant, s. */
export const MAX_LIFETIME_SEC = 3600;
/** RFC 8656 §9: permission lifetime, ms. */
export const PERMISSION_LIFETIME_MS = 300_000;
/** RFC 8656 §12: channel binding lifetime, ms. */
export const CHANNEL_LIFETIME_MS = 600_000;
const SOFTWARE = 'parloir';

const NOOP_LOGGER: TurnLogger = { info() {}, warn() {} };

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

const indicationTid = Buffer.alloc(12);
/** A transaction id for an indication: never matched against anything, so no CSPRNG needed. */
function indicationId(): Buffer {
  for (let i = 0; i < 12; i += 4)
    indicationTid.writeUInt32BE((Math.random() * 0x1_0000_0000) >>> 0, i);
  return indicationTid;
}

/** The TURN allocation manager. */
export class TurnCore {
  #opts: Required<
    Omit<TurnCoreOptions, 'calls' | 'onAllocationChange' | 'selfAddresses' | 'privatePeers'>
  > & {
    calls: CallDirectory | undefined;
  };
  #policy: PeerPolicy;
  #onChange: ((allocation: Allocation, deleted: boolean) => void) | undefined;
  #nonceKey = randomBytes(16);
  #byClient = new Map<string, Allocation>();
  #byRelayPort = new Map<number, Allocation>();
  #byCall = new Map<string, Set<Allocation>>();
  #byUser = new Map<string, number>();
  #ipBuckets = new Map<string, { tokens: number; atMs: number; warned: boolean }>();
  #keyCache = new Map<string, Buffer>();
  /** Counters for metrics and stats. */
  readonly counters: TurnCounters = {
    packetsRelayed: 0,
    bytesRelayed: 0,
    refusals: new Map(),
    malformed: 0,
    bandwidthDropped: 0,
  };

  constructor(options: TurnCoreOptions) {
    this.#opts = {
      secret: options.secret,
      realm: options.realm,
      calls: options.calls,
      bench: options.bench ?? false,
      allowLoopbackPeers: options.allowLoopbackPeers ?? false,
      maxAllocationsPerUser: options.maxAllocationsPerUser ?? 8,
      maxAllocationsPerCall: options.maxAllocationsPerCall ?? 16,
      maxAllocations: options.maxAllocations ?? 10_000,
      bandwidthBytesPerSec: options.bandwidthBytesPerSec ?? 125_000,
      requestsPerSecPerIp: options.requestsPerSecPerIp ?? 2_000,
      nonceLifetimeMs: options.nonceLifetimeMs ?? 600_000,
      logger: options.logger ?? NOOP_LOGGER,
    };
    this.#onChange = options.onAllocationChange;
    this.#policy = new PeerPolicy({
      selfAddresses: options.selfAddresses,
      // Bench mode (uclient and its turnutils_peer on 127.0.0.1) needs loopback peers.
      allowLoopbackPeers: (options.allowLoopbackPeers ?? false) || (options.bench ?? false),
      privatePeers: options.privatePeers,
    });
  }

  /** Number of live allocations. */
  get allocationCount(): number {
    return this.#byClient.size;
  }

  /** The allocation whose relayed port is `port`, if any. */
  allocationByRelayPort(port: number): Allocation | undefined {
    return this.#byRelayPort.get(port);
  }

  /** The allocation of a client 5-tuple, if any. */
  allocationOf(clientKey: string): Allocation | undefined {
    return this.#byClient.get(clientKey);
  }

  /** All live allocations (a snapshot). */
  allocations(): Allocation[] {
    return [...this.#byClient.values()];
  }

  /**
   * Handles one packet from a client (a STUN message or ChannelData). Returns what to do, or
   * undefined to drop it silently. The returned `relay` action is valid until the next call.
   */
  handleClientPacket(client: ClientRef, buf: Buffer, nowMs: number): ClientAction | undefined {
    if (buf.length === 0) return undefined;
    if (looksLikeChannelData(buf[0] ?? 0)) return this.#onChannelData(client, buf, nowMs);
    const parsed = parseStunMessage(buf);
    if (!parsed.ok) {
      this.counters.malformed++;
      return undefined;
    }
    const msg = parsed.value;
    if (msg.cls === MessageClass.INDICATION) {
      return msg.method === Method.SEND ? this.#onSend(client, msg, nowMs) : undefined;
    }
    if (msg.cls !== MessageClass.REQUEST) return undefined;
    if (!this.#takeRequestToken(client.ip, nowMs)) {
      this.#refuse('rate-limited');
      return undefined;
    }
    const unknown = unknownRequiredAttributes(msg);
    if (unknown.length > 0) {
      const list = Buffer.alloc(unknown.length * 2);
      unknown.forEach((t, i) => list.writeUInt16BE(t, i * 2));
      return this.#error(msg, client, 420, 'unknown comprehension-required attribute', (b) =>
        b.add(Attr.UNKNOWN_ATTRIBUTES, list),
      );
    }
    if (msg.method === Method.BINDING) {
      // RFC 8489 §7.3: a Binding request needs no authentication here.
      const reply = new StunBuilder(Method.BINDING, MessageClass.SUCCESS, msg.transactionId)
        .addAddress(Attr.XOR_MAPPED_ADDRESS, client)
        .addString(Attr.SOFTWARE, SOFTWARE)
        .build({ fingerprint: true });
      return { kind: 'reply', data: reply };
    }
    const auth = this.#authenticate(msg, client, nowMs);
    if ('kind' in auth) return auth;
    switch (msg.method) {
      case Method.ALLOCATE:
        return this.#onAllocate(client, msg, auth);
      case Method.REFRESH:
        return this.#onRefresh(client, msg, auth, nowMs);
      case Method.CREATE_PERMISSION:
        return this.#onCreatePermission(client, msg, auth, nowMs);
      case Method.CHANNEL_BIND:
        return this.#onChannelBind(client, msg, auth, nowMs);
      case Method.CONNECT:
        return this.#onConnect(client, msg, auth, nowMs);
      case Method.CONNECTION_BIND:
        return this.#onConnectionBind(client, msg, auth);
      default:
        return this.#error(msg, client, 400, 'unsupported method', undefined, auth.key);
    }
  }

  /**
   * Finishes an Allocate once the adapter has bound a relay socket (`relay`), or failed to
   * (undefined: 508). Returns the response to send to the client.
   */
  completeAllocate(
    pending: PendingAllocate,
    relay: { address: TransportAddress; reservationToken?: Buffer } | undefined,
    nowMs: number,
  ): { reply: Buffer; allocation: Allocation | undefined } {
    const tidHex = pending.transactionId.toString('hex');
    const existing = this.#byClient.get(pending.client.key);
    if (existing) {
      // A retransmission of the Allocate that won (it arrived while the relay socket was being
      // bound) gets that same success response (RFC 8489 §6.3.1, RFC 8656 §7.2); a different
      // Allocate raced for this 5-tuple and lost: 437.
      if (existing.allocateTid === tidHex)
        return { reply: existing.allocateResponse, allocation: undefined };
      return {
        reply: this.#errorRaw(
          Method.ALLOCATE,
          pending.transactionId,
          437,
          'allocation exists',
          pending.client,
          pending.key,
        ),
        allocation: undefined,
      };
    }
    if (!relay) {
      return {
        reply: this.#errorRaw(
          Method.ALLOCATE,
          pending.transactionId,
          508,
          'no relay port available',
          pending.client,
          pending.key,
        ),
        allocation: undefined,
      };
    }
    const b = new StunBuilder(Method.ALLOCATE, MessageClass.SUCCESS, pending.transactionId)
      .addAddress(Attr.XOR_RELAYED_ADDRESS, relay.address)
      .addUint32(Attr.LIFETIME, pending.lifetimeSec)
      .addAddress(Attr.XOR_MAPPED_ADDRESS, pending.client);
    if (relay.reservationToken) b.add(Attr.RESERVATION_TOKEN, relay.reservationToken);
    b.addString(Attr.SOFTWARE, SOFTWARE);
    const reply = b.build({ integrityKey: pending.key, fingerprint: true });
    const allocation: Allocation = {
      client: pending.client,
      username: pending.username,
      callId: pending.callId,
      userId: pending.userId,
      key: pending.key,
      relay: relay.address,
      expiresAtMs: nowMs + pending.lifetimeSec * 1000,
      permissions: new Map(),
      channels: new Map(),
      channelByPeer: new Map(),
      allocateTid: tidHex,
      allocateResponse: reply,
      bucketBytes: this.#opts.bandwidthBytesPerSec,
      bucketAtMs: nowMs,
      packets: 0,
      deleted: false,
      tcpRelay: pending.tcpRelay,
    };
    this.#byClient.set(pending.client.key, allocation);
    this.#byRelayPort.set(relay.address.port, allocation);
    this.#policy.addSelf(relay.address.ip);
    let set = this.#byCall.get(pending.callId);
    if (!set) this.#byCall.set(pending.callId, (set = new Set()));
    set.add(allocation);
    const userKey = `${pending.callId}\n${pending.userId}`;
    this.#byUser.set(userKey, (this.#byUser.get(userKey) ?? 0) + 1);
    this.#onChange?.(allocation, false);
    this.#opts.logger.info(
      {
        client: `${pending.client.transport}:${pending.client.ip}:${pending.client.port}`,
        relay: `${relay.address.ip}:${relay.address.port}`,
        callId: pending.callId,
        userId: pending.userId,
      },
      'turn allocation created',
    );
    return { reply, allocation };
  }

  /**
   * Handles a datagram that arrived on an allocation's relayed address from a peer. Returns the
   * bytes to send to the allocation's client (ChannelData or a Data indication), or undefined to
   * drop it (no permission, cap exceeded). `from` is the sending allocation when the peer is
   * another allocation of this server (forwarded internally). With `headroom`, the 4 bytes before
   * `data` in its backing memory are scratch (a ChannelData or attribute header of a UDP datagram
   * we own), so ChannelData is built in place without a copy.
   */
  handlePeerData(
    allocation: Allocation,
    peerIp: string,
    peerPort: number,
    data: Buffer,
    nowMs: number,
    from?: Allocation,
    headroom = false,
  ): Buffer | undefined {
    if (allocation.deleted || allocation.expiresAtMs <= nowMs) return undefined;
    const permission = allocation.permissions.get(peerIp);
    if (permission === undefined || permission <= nowMs) return undefined;
    if (from && !this.#opts.bench && from.callId !== allocation.callId) {
      this.#refuse('cross-call');
      return undefined;
    }
    if (!this.#spend(allocation, data.length, nowMs)) return undefined;
    this.counters.packetsRelayed++;
    this.counters.bytesRelayed += data.length;
    allocation.packets++;
    const channel = allocation.channelByPeer.get(`${peerIp}:${peerPort}`);
    if (channel !== undefined) {
      const entry = allocation.channels.get(channel);
      if (entry && entry.expiresAtMs > nowMs) {
        if (headroom && allocation.client.transport === 'udp' && data.byteOffset >= 4) {
          const out = Buffer.from(data.buffer, data.byteOffset - 4, data.length + 4);
          out.writeUInt16BE(channel, 0);
          out.writeUInt16BE(data.length, 2);
          return out;
        }
        return buildChannelData(channel, data, allocation.client.transport === 'tcp');
      }
    }
    // RFC 8656 §11.4: no channel, so a Data indication.
    return new StunBuilder(Method.DATA, MessageClass.INDICATION, indicationId())
      .addAddress(Attr.XOR_PEER_ADDRESS, { ip: peerIp, port: peerPort })
      .add(Attr.DATA, data)
      .build();
  }

  /**
   * Deletes every allocation of `callId` at once (hang-up). Returns them so the adapter can close
   * their relay sockets.
   */
  callEnded(callId: string): Allocation[] {
    const set = this.#byCall.get(callId);
    if (!set) return [];
    const gone = [...set];
    for (const a of gone) this.#delete(a, 'call ended');
    return gone;
  }

  /** Drops the allocation of a client 5-tuple (TCP connection closed). */
  clientGone(clientKey: string): Allocation | undefined {
    const a = this.#byClient.get(clientKey);
    if (a) this.#delete(a, 'client connection closed');
    return a;
  }

  /**
   * Expires allocations, permissions and channels, and forgets idle rate-limit buckets. Returns the
   * deleted allocations. Call about once a second.
   */
  tick(nowMs: number): Allocation[] {
    const gone: Allocation[] = [];
    for (const a of this.#byClient.values()) {
      if (a.expiresAtMs <= nowMs) {
        gone.push(a);
        continue;
      }
      for (const [ip, exp] of a.permissions) if (exp <= nowMs) a.permissions.delete(ip);
      for (const [n, c] of a.channels) {
        if (c.expiresAtMs <= nowMs) {
          a.channels.delete(n);
          a.channelByPeer.delete(c.peerKey);
        }
      }
    }
    for (const a of gone) this.#delete(a, 'lifetime expired');
    for (const [ip, b] of this.#ipBuckets) if (nowMs - b.atMs > 10_000) this.#ipBuckets.delete(ip);
    if (this.#keyCache.size > 10_000) this.#keyCache.clear();
    return gone;
  }

  #delete(a: Allocation, reason: string): void {
    if (a.deleted) return;
    a.deleted = true;
    this.#byClient.delete(a.client.key);
    if (this.#byRelayPort.get(a.relay.port) === a) this.#byRelayPort.delete(a.relay.port);
    const set = this.#byCall.get(a.callId);
    if (set) {
      set.delete(a);
      if (set.size === 0) this.#byCall.delete(a.callId);
    }
    const userKey = `${a.callId}\n${a.userId}`;
    const n = (this.#byUser.get(userKey) ?? 1) - 1;
    if (n <= 0) this.#byUser.delete(userKey);
    else this.#byUser.set(userKey, n);
    this.#onChange?.(a, true);
    this.#opts.logger.info(
      { relay: `${a.relay.ip}:${a.relay.port}`, callId: a.callId, packets: a.packets, reason },
      'turn allocation deleted',
    );
  }

  #takeRequestToken(ip: string, nowMs: number): boolean {
    const rate = this.#opts.requestsPerSecPerIp;
    let b = this.#ipBuckets.get(ip);
    if (!b) {
      b = { tokens: rate * 4, atMs: nowMs, warned: false };
      this.#ipBuckets.set(ip, b);
    }
    b.tokens = Math.min(rate * 4, b.tokens + ((nowMs - b.atMs) * rate) / 1000);
    b.atMs = nowMs;
    if (b.tokens < 1) {
      if (!b.warned) {
        b.warned = true;
        this.#opts.logger.warn({ ip }, 'turn request flood: dropping requests from this address');
      }
      return false;
    }
    b.warned = false;
    b.tokens -= 1;
    return true;
  }

  #spend(a: Allocation, bytes: number, nowMs: number): boolean {
    const cap = this.#opts.bandwidthBytesPerSec;
    if (nowMs !== a.bucketAtMs) {
      a.bucketBytes = Math.min(cap, a.bucketBytes + ((nowMs - a.bucketAtMs) * cap) / 1000);
      a.bucketAtMs = nowMs;
    }
    if (a.bucketBytes < bytes) {
      this.counters.bandwidthDropped++;
      return false;
    }
    a.bucketBytes -= bytes;
    return true;
  }

  #refuse(reason: string): void {
    this.counters.refusals.set(reason, (this.counters.refusals.get(reason) ?? 0) + 1);
  }

  /**
   * What a nonce is bound to: the UDP 5-tuple, or for TCP the client's IP (a TCP source cannot be
   * spoofed, and RFC 6062 clients reuse the control connection's nonce on data connections).
   */
  #nonceScope(client: ClientRef): string {
    return client.transport === 'tcp' ? `tcp:${client.ip}` : client.key;
  }

  #nonce(client: ClientRef, nowMs: number): string {
    const expiry = (nowMs + this.#opts.nonceLifetimeMs).toString(16);
    const mac = createHmac('sha1', this.#nonceKey)
      .update(`${expiry}|${this.#nonceScope(client)}`)
      .digest('hex')
      .slice(0, 20);
    return `${expiry}-${mac}`;
  }

  #nonceValid(nonce: string, client: ClientRef, nowMs: number): boolean {
    const dash = nonce.indexOf('-');
    if (dash <= 0) return false;
    const expiry = nonce.slice(0, dash);
    if (!/^[0-9a-f]{1,13}$/.test(expiry) || parseInt(expiry, 16) <= nowMs) return false;
    const mac = createHmac('sha1', this.#nonceKey)
      .update(`${expiry}|${this.#nonceScope(client)}`)
      .digest('hex')
      .slice(0, 20);
    return mac === nonce.slice(dash + 1);
  }

  /** RFC 8489 §9.2.4: long-term credential checks; returns the identity or an error reply. */
  #authenticate(
    msg: StunMessage,
    client: ClientRef,
    nowMs: number,
  ): ClientAction | { username: string; callId: string; userId: string; key: Buffer } {
    const challenge = (code: 401 | 438, why: string): ClientAction => {
      this.#refuse(String(code));
      if (code === 401 && msg.integrityOffset >= 0) {
        const username = getAttribute(msg, Attr.USERNAME)?.toString('utf8');
        this.#opts.logger.warn(
          { client: `${client.transport}:${client.ip}:${client.port}`, username, why },
          'turn auth refused',
        );
      }
      const reply = new StunBuilder(msg.method, MessageClass.ERROR, msg.transactionId)
        .addError(code)
        .addString(Attr.REALM, this.#opts.realm)
        .addString(Attr.NONCE, this.#nonce(client, nowMs))
        .addString(Attr.SOFTWARE, SOFTWARE)
        .build({ fingerprint: true });
      return { kind: 'reply', data: reply };
    };
    if (msg.integrityOffset < 0) return challenge(401, 'no MESSAGE-INTEGRITY');
    const userAttr = getAttribute(msg, Attr.USERNAME);
    const realmAttr = getAttribute(msg, Attr.REALM);
    const nonceAttr = getAttribute(msg, Attr.NONCE);
    if (!userAttr || !realmAttr || !nonceAttr) {
      return this.#error(msg, client, 400, 'missing USERNAME, REALM or NONCE');
    }
    if (!this.#nonceValid(nonceAttr.toString('latin1'), client, nowMs)) {
      return challenge(438, 'stale nonce');
    }
    const username = userAttr.toString('utf8');
    const realm = realmAttr.toString('utf8');
    if (realm !== this.#opts.realm) return challenge(401, 'wrong realm');
    const parsed = parseTurnUsername(username);
    if (!parsed) return challenge(401, 'malformed username');
    if (parsed.expirySec * 1000 <= nowMs) return challenge(401, 'expired credential');
    const cacheKey = `${username}\n${realm}`;
    let key = this.#keyCache.get(cacheKey);
    if (!key) {
      key = longTermKey(username, realm, turnPassword(this.#opts.secret, username));
      this.#keyCache.set(cacheKey, key);
    }
    if (!checkIntegrity(msg, key)) return challenge(401, 'wrong MESSAGE-INTEGRITY');
    if (!this.#opts.bench) {
      const parties = this.#opts.calls?.partiesOf(parsed.callId);
      if (!parties || parsed.userId === '' || !parties.includes(parsed.userId)) {
        return challenge(401, 'call is not live or user not in it');
      }
    }
    return { username, callId: parsed.callId, userId: parsed.userId, key };
  }

  #onAllocate(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; callId: string; userId: string; key: Buffer },
  ): ClientAction {
    const existing = this.#byClient.get(client.key);
    if (existing) {
      // RFC 8656 §7.2: a retransmitted Allocate gets the same answer; anything else is 437.
      if (existing.allocateTid === msg.transactionId.toString('hex')) {
        return { kind: 'reply', data: existing.allocateResponse };
      }
      return this.#error(msg, client, 437, 'allocation exists', undefined, auth.key);
    }
    const transport = getAttribute(msg, Attr.REQUESTED_TRANSPORT);
    if (!transport || transport.length !== 4) {
      return this.#error(msg, client, 400, 'no REQUESTED-TRANSPORT', undefined, auth.key);
    }
    const tcpRelay = transport[0] === 6;
    if (transport[0] !== 17 && !tcpRelay) {
      return this.#error(msg, client, 442, 'only UDP and TCP relaying', undefined, auth.key);
    }
    if (tcpRelay) {
      // RFC 6062 §5.1: a TCP allocation needs a TCP control connection, and takes none of these.
      if (client.transport !== 'tcp') {
        return this.#error(msg, client, 400, 'TCP relaying needs TCP', undefined, auth.key);
      }
      for (const t of [Attr.EVEN_PORT, Attr.RESERVATION_TOKEN, Attr.DONT_FRAGMENT]) {
        if (getAttribute(msg, t)) {
          return this.#error(msg, client, 400, 'attribute not allowed', undefined, auth.key);
        }
      }
    }
    const family = getAttribute(msg, Attr.REQUESTED_ADDRESS_FAMILY);
    if (family && (family.length !== 4 || family[0] !== 0x01)) {
      return this.#error(msg, client, 440, 'only IPv4 relayed addresses', undefined, auth.key);
    }
    if (getAttribute(msg, Attr.ADDITIONAL_ADDRESS_FAMILY)) {
      return this.#error(msg, client, 440, 'no dual allocation', undefined, auth.key);
    }
    const even = getAttribute(msg, Attr.EVEN_PORT);
    const token = getAttribute(msg, Attr.RESERVATION_TOKEN);
    if (even && token) {
      return this.#error(msg, client, 400, 'EVEN-PORT with RESERVATION-TOKEN', undefined, auth.key);
    }
    if ((even && even.length !== 1 && even.length !== 4) || (token && token.length !== 8)) {
      return this.#error(msg, client, 400, 'malformed attribute', undefined, auth.key);
    }
    if (this.#byClient.size >= this.#opts.maxAllocations) {
      return this.#error(msg, client, 486, 'server allocation quota', undefined, auth.key);
    }
    if (!this.#opts.bench) {
      const perUser = this.#byUser.get(`${auth.callId}\n${auth.userId}`) ?? 0;
      const perCall = this.#byCall.get(auth.callId)?.size ?? 0;
      if (perUser >= this.#opts.maxAllocationsPerUser) {
        return this.#error(msg, client, 486, 'per-user allocation quota', undefined, auth.key);
      }
      if (perCall >= this.#opts.maxAllocationsPerCall) {
        return this.#error(msg, client, 486, 'per-call allocation quota', undefined, auth.key);
      }
    }
    return {
      kind: 'allocate',
      pending: {
        client,
        transactionId: Buffer.from(msg.transactionId),
        ...auth,
        lifetimeSec: this.#lifetime(msg, DEFAULT_LIFETIME_SEC),
        evenPort: even !== undefined,
        reserveNext: even !== undefined && ((even[0] ?? 0) & 0x80) !== 0,
        reservationToken: token ? Buffer.from(token) : undefined,
        tcpRelay,
      },
    };
  }

  #lifetime(msg: StunMessage, fallback: number): number {
    const attr = getAttribute(msg, Attr.LIFETIME);
    const asked = attr && attr.length === 4 ? attr.readUInt32BE(0) : fallback;
    return Math.min(Math.max(asked, asked === 0 ? 0 : DEFAULT_LIFETIME_SEC), MAX_LIFETIME_SEC);
  }

  #ownAllocation(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
  ): Allocation | ClientAction {
    const a = this.#byClient.get(client.key);
    if (!a) return this.#error(msg, client, 437, 'no allocation', undefined, auth.key);
    // RFC 8656 §5: requests on an allocation must use the credentials that created it.
    if (a.username !== auth.username) {
      return this.#error(msg, client, 441, 'wrong credentials', undefined, auth.key);
    }
    return a;
  }

  #onRefresh(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
    nowMs: number,
  ): ClientAction {
    const a = this.#ownAllocation(client, msg, auth);
    if ('kind' in a) return a;
    const lifetime = this.#lifetime(msg, DEFAULT_LIFETIME_SEC);
    if (lifetime === 0) this.#delete(a, 'refresh with lifetime 0');
    else {
      a.expiresAtMs = nowMs + lifetime * 1000;
      this.#onChange?.(a, false);
    }
    const reply = new StunBuilder(Method.REFRESH, MessageClass.SUCCESS, msg.transactionId)
      .addUint32(Attr.LIFETIME, lifetime)
      .addString(Attr.SOFTWARE, SOFTWARE)
      .build({ integrityKey: a.key, fingerprint: true });
    return { kind: 'reply', data: reply };
  }

  /**
   * Whether `port` of the relay address is a live allocation's relay port that can take what
   * `kind` sends: datagrams (a UDP relay socket) or a TCP connection (an RFC 6062 listener).
   */
  #liveRelayPort(port: number, kind: 'udp' | 'tcp', nowMs: number): boolean {
    const t = this.#byRelayPort.get(port);
    return (
      t !== undefined && !t.deleted && t.expiresAtMs > nowMs && t.tcpRelay === (kind === 'tcp')
    );
  }

  /**
   * RFC 8656 §9 plus our "no open relay" policy. Returns an error code or 0 if allowed. `port`:
   * also check the peer's port (ChannelBind, Connect), not only its IP (CreatePermission), for
   * datagrams (`'udp'`) or a TCP connection (`'tcp'`).
   */
  #checkPeer(
    a: Allocation,
    peer: TransportAddress & { family: 4 | 6 },
    port: 'udp' | 'tcp' | undefined,
    nowMs: number,
  ): number {
    if (peer.family !== 4) return 443;
    if (peer.ip === '0.0.0.0' || peer.ip === '255.255.255.255' || peer.port === 0) return 403;
    const byIp = this.#policy.checkIp(peer.ip, a.relay.ip);
    if (!byIp.ok) {
      this.#refuse(byIp.reason);
      return 403;
    }
    if (port !== undefined) {
      const byPort = this.#policy.checkPort(peer.ip, peer.port, a.relay.ip, (p) =>
        this.#liveRelayPort(p, port, nowMs),
      );
      if (!byPort.ok) {
        this.#refuse(byPort.reason);
        return 403;
      }
    }
    if (this.#opts.bench) return 0;
    if (this.#opts.allowLoopbackPeers && isLoopback(peer.ip)) return 0;
    // Only the other party of the same call: its relayed address or the address we see it from.
    const set = this.#byCall.get(a.callId);
    if (set) {
      for (const other of set) {
        if (other.userId === a.userId) continue;
        if (other.relay.ip === peer.ip || other.client.ip === peer.ip) return 0;
      }
    }
    return 403;
  }

  #onCreatePermission(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
    nowMs: number,
  ): ClientAction {
    const a = this.#ownAllocation(client, msg, auth);
    if ('kind' in a) return a;
    const peers: string[] = [];
    for (const attr of msg.attributes) {
      if (attr.type !== Attr.XOR_PEER_ADDRESS) continue;
      const peer = decodeAddress(attr.value, true, msg.transactionId);
      if (!peer.ok) return this.#error(msg, client, 400, 'bad XOR-PEER-ADDRESS', undefined, a.key);
      const code = this.#checkPeer(a, peer.value, undefined, nowMs);
      if (code !== 0) {
        return this.#error(msg, client, code, `peer ${peer.value.ip} refused`, undefined, a.key);
      }
      peers.push(peer.value.ip);
    }
    if (peers.length === 0) {
      return this.#error(msg, client, 400, 'no XOR-PEER-ADDRESS', undefined, a.key);
    }
    // RFC 8656 §10.2: all or nothing, so permissions are installed only after every check.
    for (const ip of peers) a.permissions.set(ip, nowMs + PERMISSION_LIFETIME_MS);
    this.#onChange?.(a, false);
    const reply = new StunBuilder(Method.CREATE_PERMISSION, MessageClass.SUCCESS, msg.transactionId)
      .addString(Attr.SOFTWARE, SOFTWARE)
      .build({ integrityKey: a.key, fingerprint: true });
    return { kind: 'reply', data: reply };
  }

  #onChannelBind(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
    nowMs: number,
  ): ClientAction {
    const a = this.#ownAllocation(client, msg, auth);
    if ('kind' in a) return a;
    if (a.tcpRelay) return this.#error(msg, client, 400, 'no channels on TCP', undefined, a.key);
    const numAttr = getAttribute(msg, Attr.CHANNEL_NUMBER);
    const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
    if (!numAttr || numAttr.length !== 4 || !peerAttr) {
      return this.#error(
        msg,
        client,
        400,
        'CHANNEL-NUMBER and XOR-PEER-ADDRESS needed',
        undefined,
        a.key,
      );
    }
    const channel = numAttr.readUInt16BE(0);
    if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) {
      return this.#error(msg, client, 400, 'channel number out of range', undefined, a.key);
    }
    const peer = decodeAddress(peerAttr, true, msg.transactionId);
    if (!peer.ok) return this.#error(msg, client, 400, 'bad XOR-PEER-ADDRESS', undefined, a.key);
    const code = this.#checkPeer(a, peer.value, 'udp', nowMs);
    if (code !== 0) {
      return this.#error(
        msg,
        client,
        code,
        `peer ${peer.value.ip}:${peer.value.port} refused`,
        undefined,
        a.key,
      );
    }
    const peerKey = `${peer.value.ip}:${peer.value.port}`;
    const bound = a.channels.get(channel);
    const boundNumber = a.channelByPeer.get(peerKey);
    // RFC 8656 §12.2: a channel is bound to one peer and a peer to one channel.
    if (
      (bound && bound.peerKey !== peerKey) ||
      (boundNumber !== undefined && boundNumber !== channel)
    ) {
      return this.#error(msg, client, 400, 'channel or peer already bound', undefined, a.key);
    }
    a.channels.set(channel, {
      peer: { ip: peer.value.ip, port: peer.value.port },
      peerKey,
      expiresAtMs: nowMs + CHANNEL_LIFETIME_MS,
    });
    a.channelByPeer.set(peerKey, channel);
    a.permissions.set(peer.value.ip, nowMs + PERMISSION_LIFETIME_MS);
    this.#onChange?.(a, false);
    const reply = new StunBuilder(Method.CHANNEL_BIND, MessageClass.SUCCESS, msg.transactionId)
      .addString(Attr.SOFTWARE, SOFTWARE)
      .build({ integrityKey: a.key, fingerprint: true });
    return { kind: 'reply', data: reply };
  }

  /** RFC 6062 §5.2: Connect from a TCP allocation to a peer the policy allows. */
  #onConnect(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
    nowMs: number,
  ): ClientAction {
    const a = this.#ownAllocation(client, msg, auth);
    if ('kind' in a) return a;
    if (!a.tcpRelay) return this.#error(msg, client, 400, 'not a TCP allocation', undefined, a.key);
    const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
    const peer = peerAttr ? decodeAddress(peerAttr, true, msg.transactionId) : undefined;
    if (!peer?.ok) return this.#error(msg, client, 400, 'bad XOR-PEER-ADDRESS', undefined, a.key);
    const code = this.#checkPeer(a, peer.value, 'tcp', nowMs);
    if (code !== 0) {
      return this.#error(
        msg,
        client,
        code,
        `peer ${peer.value.ip}:${peer.value.port} refused`,
        undefined,
        a.key,
      );
    }
    // The connection's data is relayed under the peer's permission, as for UDP.
    a.permissions.set(peer.value.ip, nowMs + PERMISSION_LIFETIME_MS);
    return {
      kind: 'connect',
      pending: {
        allocation: a,
        peer: { ip: peer.value.ip, port: peer.value.port },
        transactionId: Buffer.from(msg.transactionId),
      },
    };
  }

  /** RFC 6062 §5.4: ConnectionBind on a new connection; the adapter checks the id. */
  #onConnectionBind(
    client: ClientRef,
    msg: StunMessage,
    auth: { username: string; key: Buffer },
  ): ClientAction {
    const id = getAttribute(msg, Attr.CONNECTION_ID);
    // RFC 6062 §5.4: on a new connection, never on a control connection.
    if (client.transport !== 'tcp' || !id || id.length !== 4 || this.#byClient.has(client.key)) {
      return this.#error(
        msg,
        client,
        400,
        'ConnectionBind needs a new TCP connection and CONNECTION-ID',
        undefined,
        auth.key,
      );
    }
    return {
      kind: 'bind',
      pending: {
        connectionId: id.readUInt32BE(0),
        username: auth.username,
        key: auth.key,
        transactionId: Buffer.from(msg.transactionId),
      },
    };
  }

  /**
   * The answer to a Connect or ConnectionBind (RFC 6062): success, with CONNECTION-ID for a
   * Connect, or the error `code` (400, 446, 447), logged and counted.
   */
  connectionResponse(
    method: number,
    transactionId: Buffer,
    key: Buffer,
    client: ClientRef,
    result: { connectionId?: number } | { code: number; why: string },
  ): Buffer {
    if ('code' in result) {
      return this.#errorRaw(method, transactionId, result.code, result.why, client, key);
    }
    const b = new StunBuilder(method, MessageClass.SUCCESS, transactionId);
    if (result.connectionId !== undefined) {
      const id = Buffer.alloc(4);
      id.writeUInt32BE(result.connectionId, 0);
      b.add(Attr.CONNECTION_ID, id);
    }
    return b.addString(Attr.SOFTWARE, SOFTWARE).build({ integrityKey: key, fingerprint: true });
  }

  /** RFC 6062 §5.3: the ConnectionAttempt indication for a peer that connected to `a`. */
  connectionAttempt(peer: TransportAddress, connectionId: number): Buffer {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(connectionId, 0);
    return new StunBuilder(Method.CONNECTION_ATTEMPT, MessageClass.INDICATION, indicationId())
      .addAddress(Attr.XOR_PEER_ADDRESS, peer)
      .add(Attr.CONNECTION_ID, id)
      .addString(Attr.SOFTWARE, SOFTWARE)
      .build({ fingerprint: true });
  }

  /** Whether a live allocation `a` has a live permission for `peerIp`. */
  permits(a: Allocation, peerIp: string, nowMs: number): boolean {
    if (a.deleted || a.expiresAtMs <= nowMs) return false;
    const p = a.permissions.get(peerIp);
    return p !== undefined && p > nowMs;
  }

  #relayAction: { kind: 'relay'; allocation: Allocation; peer: TransportAddress; data: Buffer } = {
    kind: 'relay',
    allocation: undefined as unknown as Allocation,
    peer: { ip: '', port: 0 },
    data: Buffer.alloc(0),
  };

  #relay(
    a: Allocation,
    peer: TransportAddress,
    data: Buffer,
    nowMs: number,
  ): ClientAction | undefined {
    // A permission covers every port of its IP (RFC 8656 §9): on this machine's addresses only a
    // live relay port may be reached (the same check as relay.c's relay_out).
    const v = this.#policy.checkPort(peer.ip, peer.port, a.relay.ip, (p) =>
      this.#liveRelayPort(p, 'udp', nowMs),
    );
    if (!v.ok) {
      this.#refuse(v.reason);
      return undefined;
    }
    if (!this.#spend(a, data.length, nowMs)) return undefined;
    this.counters.packetsRelayed++;
    this.counters.bytesRelayed += data.length;
    a.packets++;
    const act = this.#relayAction;
    act.allocation = a;
    act.peer = peer;
    act.data = data;
    return act;
  }

  #onChannelData(client: ClientRef, buf: Buffer, nowMs: number): ClientAction | undefined {
    const a = this.#byClient.get(client.key);
    if (!a || a.expiresAtMs <= nowMs || a.tcpRelay) return undefined;
    const cd = parseChannelData(buf);
    if (!cd.ok) {
      this.counters.malformed++;
      return undefined;
    }
    const entry = a.channels.get(cd.value.channel);
    if (!entry || entry.expiresAtMs <= nowMs) return undefined;
    const perm = a.permissions.get(entry.peer.ip);
    if (perm === undefined || perm <= nowMs) return undefined;
    return this.#relay(a, entry.peer, cd.value.data, nowMs);
  }

  #onSend(client: ClientRef, msg: StunMessage, nowMs: number): ClientAction | undefined {
    const a = this.#byClient.get(client.key);
    if (!a || a.expiresAtMs <= nowMs || a.tcpRelay) return undefined;
    const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
    const data = getAttribute(msg, Attr.DATA);
    if (!peerAttr || !data) return undefined;
    const peer = decodeAddress(peerAttr, true, msg.transactionId);
    if (!peer.ok || peer.value.family !== 4) return undefined;
    const perm = a.permissions.get(peer.value.ip);
    // RFC 8656 §11.2: no permission, silently discard.
    if (perm === undefined || perm <= nowMs) return undefined;
    return this.#relay(a, { ip: peer.value.ip, port: peer.value.port }, data, nowMs);
  }

  #errorRaw(
    method: number,
    transactionId: Buffer,
    code: number,
    why: string,
    client: ClientRef,
    key?: Buffer,
    extra?: (b: StunBuilder) => void,
  ): Buffer {
    this.#refuse(String(code));
    this.#opts.logger.warn(
      { client: `${client.transport}:${client.ip}:${client.port}`, method, code, why },
      'turn request refused',
    );
    const b = new StunBuilder(method, MessageClass.ERROR, transactionId).addError(code);
    extra?.(b);
    b.addString(Attr.SOFTWARE, SOFTWARE);
    return b.build({ integrityKey: key, fingerprint: true });
  }

  #error(
    msg: StunMessage,
    client: ClientRef,
    code: number,
    why: string,
    extra?: (b: StunBuilder) => void,
    key?: Buffer,
  ): ClientAction {
    return {
      kind: 'reply',
      data: this.#errorRaw(msg.method, msg.transactionId, code, why, client, key, extra),
    };
  }
}
