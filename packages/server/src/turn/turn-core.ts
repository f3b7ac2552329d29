/**
 * The TURN core (RFC 8656, RFC 6062): the dispatcher that takes each client packet through the
 * rate limit and authentication (`auth.ts`) to the module of its concept: the allocation
 * (`allocation.ts`) and the set of them (`allocation-manager.ts`), permissions (`permission.ts`),
 * channel bindings (`channel-bind.ts`), the data path (`data-path.ts`), RFC 6062 connections.
 * Messages are built by `messages.ts` on the `stun.ts` codec. Sans-IO: bytes and the current time
 * come in, replies and forwarding instructions go out, through `handleInput`/`pollOutput` or the
 * direct methods they wrap; the IO shell (`relay-adapter.ts`) does the I/O.
 */
import { AllocationManager } from './allocation-manager.ts';
import { isLive, type Allocation, type ClientRef, type TurnLogger } from './allocation.ts';
import { TurnAuthenticator, type TurnIdentity } from './auth.ts';
import { connectionSuccess } from './connect.ts';
import {
  channelDataTarget,
  mayRelayToPeer,
  peerDataToClient,
  sendTarget,
  type DataPathContext,
  type DataTarget,
} from './data-path.ts';
import {
  allocateResponse,
  bindingResponse,
  challengeResponse,
  connectionAttempt,
  errorResponse,
} from './messages.ts';
import { hasPermission, type PeerCheckContext } from './permission.ts';
import { PeerPolicy } from './peer-policy.ts';
import { RequestLimiter } from './request-limiter.ts';
import {
  handleAllocate,
  handleChannelBind,
  handleConnect,
  handleConnectionBind,
  handleCreatePermission,
  handleRefresh,
  type RequestContext,
} from './requests.ts';
import {
  Attr,
  MessageClass,
  Method,
  getAttribute,
  looksLikeChannelData,
  parseStunMessage,
  unknownRequiredAttributes,
  type StunBuilder,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';
import type {
  ClientAction,
  PendingAllocate,
  RelayBinding,
  TurnCoreOptions,
  TurnCounters,
  TurnInput,
  TurnOutput,
} from './turn-core-types.ts';

export type { ClientAction, ClientRef, TurnCoreOptions, TurnInput, TurnOutput, TurnLogger };

const NOOP_LOGGER: TurnLogger = { info() {}, warn() {} };

type Limits = Required<
  Pick<
    TurnCoreOptions,
    | 'maxAllocationsPerUser'
    | 'maxAllocationsPerCall'
    | 'maxAllocations'
    | 'bandwidthBytesPerSec'
    | 'bench'
    | 'allowLoopbackPeers'
  >
>;

/** The TURN core. */
export class TurnCore {
  #limits: Limits;
  #logger: TurnLogger;
  #auth: TurnAuthenticator;
  #requests: RequestLimiter;
  #policy: PeerPolicy;
  #peers: PeerCheckContext;
  #data: DataPathContext;
  #req: RequestContext;
  #onChange: ((allocation: Allocation, deleted: boolean) => void) | undefined;
  #set: AllocationManager;
  #outputs: TurnOutput[] = [];
  /** Set while `handleInput` runs: deletions are reported as outputs. */
  #collecting = false;
  /** Counters for metrics and stats. */
  readonly counters: TurnCounters = {
    packetsRelayed: 0,
    bytesRelayed: 0,
    refusals: new Map(),
    malformed: 0,
    bandwidthDropped: 0,
  };

  constructor(options: TurnCoreOptions) {
    const bench = options.bench ?? false;
    this.#limits = {
      bench,
      allowLoopbackPeers: options.allowLoopbackPeers ?? false,
      maxAllocationsPerUser: options.maxAllocationsPerUser ?? 8,
      maxAllocationsPerCall: options.maxAllocationsPerCall ?? 16,
      maxAllocations: options.maxAllocations ?? 10_000,
      bandwidthBytesPerSec: options.bandwidthBytesPerSec ?? 125_000,
    };
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#auth = new TurnAuthenticator({
      secret: options.secret,
      realm: options.realm,
      calls: options.calls,
      bench,
      nonceLifetimeMs: options.nonceLifetimeMs ?? 600_000,
    });
    this.#requests = new RequestLimiter(options.requestsPerSecPerIp ?? 2_000, this.#logger);
    this.#onChange = options.onAllocationChange;
    this.#set = new AllocationManager({
      ...this.#limits,
      logger: this.#logger,
      onChange: (a, deleted) => {
        this.#onChange?.(a, deleted);
        if (deleted && this.#collecting) this.#outputs.push({ kind: 'deleted', allocation: a });
      },
    });
    this.#policy = new PeerPolicy({
      selfAddresses: options.selfAddresses,
      // Bench mode (uclient and its turnutils_peer on 127.0.0.1) needs loopback peers.
      allowLoopbackPeers: this.#limits.allowLoopbackPeers || bench,
      privatePeers: options.privatePeers,
    });
    this.#peers = {
      policy: this.#policy,
      bench,
      allowLoopbackPeers: this.#limits.allowLoopbackPeers,
      isLiveRelayPort: (port, kind, nowMs) => this.#set.isLiveRelayPort(port, kind, nowMs),
      allocationsOfCall: (callId) => this.#set.ofCall(callId),
      refuse: (reason) => this.#refuse(reason),
    };
    this.#data = {
      policy: this.#policy,
      bench,
      bandwidthBytesPerSec: this.#limits.bandwidthBytesPerSec,
      counters: this.counters,
      isLiveRelayPort: (port, nowMs) => this.#set.isLiveRelayPort(port, 'udp', nowMs),
      refuse: (reason) => this.#refuse(reason),
    };
    this.#req = {
      set: this.#set,
      peers: this.#peers,
      changed: (a) => this.#onChange?.(a, false),
      error: (msg, client, code, why, key) => this.#error(msg, client, code, why, undefined, key),
    };
  }

  /** Number of live allocations. */
  get allocationCount(): number {
    return this.#set.size;
  }

  /** The allocation whose relayed port is `port`, if any. */
  allocationByRelayPort(port: number): Allocation | undefined {
    return this.#set.byRelayPort(port);
  }

  /** The allocation of a client 5-tuple, if any. */
  allocationOf(clientKey: string): Allocation | undefined {
    return this.#set.byClient(clientKey);
  }

  /** All live allocations (a snapshot). */
  allocations(): Allocation[] {
    return this.#set.all();
  }

  /**
   * The sans-IO entry: one input at `nowMs`. What the adapter must do next is read with
   * {@link pollOutput} until it returns undefined, before the next input.
   */
  handleInput(input: TurnInput, nowMs: number): void {
    this.#collecting = true;
    try {
      switch (input.kind) {
        case 'client': {
          const act = this.handleClientPacket(input.client, input.data, nowMs);
          if (act) this.#outputs.push(this.#output(input.client, act));
          break;
        }
        case 'peer': {
          const a = input.allocation;
          const out = this.handlePeerData(
            a,
            input.peer.ip,
            input.peer.port,
            input.data,
            nowMs,
            input.from,
            input.headroom,
          );
          if (out) this.#outputs.push({ kind: 'send', client: a.client, data: out });
          break;
        }
        case 'relay-bound': {
          const { reply, allocation } = this.completeAllocate(input.pending, input.relay, nowMs);
          if (allocation) this.#outputs.push({ kind: 'allocated', allocation });
          this.#outputs.push({ kind: 'send', client: input.pending.client, data: reply });
          break;
        }
        case 'call-ended':
          this.callEnded(input.callId);
          break;
        case 'client-gone':
          this.clientGone(input.clientKey);
          break;
        case 'tick':
          this.tick(nowMs);
          break;
      }
    } finally {
      this.#collecting = false;
    }
  }

  /** The next thing to do after {@link handleInput}, or undefined when there is none. */
  pollOutput(): TurnOutput | undefined {
    return this.#outputs.shift();
  }

  /**
   * When the next allocation, permission or channel expires, ms on the core's clock (undefined:
   * nothing to expire). {@link tick} at that time, or about once a second, which also prunes the
   * rate-limit buckets.
   */
  nextTimeoutMs(): number | undefined {
    return this.#set.nextExpiryMs();
  }

  #output(client: ClientRef, act: ClientAction): TurnOutput {
    switch (act.kind) {
      case 'reply':
        return { kind: 'send', client, data: act.data };
      case 'relay':
        // The action is reused across calls: the output gets its own object.
        return { kind: 'relay', allocation: act.allocation, peer: act.peer, data: act.data };
      case 'bind':
        return { kind: 'bind', client, pending: act.pending };
      default:
        return act;
    }
  }

  /**
   * Handles one packet from a client (a STUN message or ChannelData). Returns what to do, or
   * undefined to drop it silently. The returned `relay` action is valid until the next call.
   */
  handleClientPacket(client: ClientRef, buf: Buffer, nowMs: number): ClientAction | undefined {
    if (buf.length === 0) return undefined;
    if (looksLikeChannelData(buf[0] ?? 0)) {
      return this.#onClientData(client, nowMs, (a) => channelDataTarget(this.#data, a, buf, nowMs));
    }
    const parsed = parseStunMessage(buf);
    if (!parsed.ok) {
      this.counters.malformed++;
      return undefined;
    }
    const msg = parsed.value;
    if (msg.cls === MessageClass.INDICATION) {
      if (msg.method !== Method.SEND) return undefined;
      return this.#onClientData(client, nowMs, (a) => sendTarget(a, msg, nowMs));
    }
    if (msg.cls !== MessageClass.REQUEST) return undefined;
    if (!this.#requests.take(client.ip, nowMs)) {
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
    // RFC 8489 §7.3: a Binding request needs no authentication here.
    if (msg.method === Method.BINDING) {
      return { kind: 'reply', data: bindingResponse(msg.transactionId, client) };
    }
    const auth = this.#authenticate(msg, client, nowMs);
    if ('kind' in auth) return auth;
    switch (msg.method) {
      case Method.ALLOCATE:
        return handleAllocate(this.#req, client, msg, auth);
      case Method.REFRESH:
        return handleRefresh(this.#req, client, msg, auth, nowMs);
      case Method.CREATE_PERMISSION:
        return handleCreatePermission(this.#req, client, msg, auth, nowMs);
      case Method.CHANNEL_BIND:
        return handleChannelBind(this.#req, client, msg, auth, nowMs);
      case Method.CONNECT:
        return handleConnect(this.#req, client, msg, auth, nowMs);
      case Method.CONNECTION_BIND:
        return handleConnectionBind(this.#req, client, msg, auth);
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
    relay: RelayBinding | undefined,
    nowMs: number,
  ): { reply: Buffer; allocation: Allocation | undefined } {
    const tidHex = pending.transactionId.toString('hex');
    const tid = pending.transactionId;
    const existing = this.#set.byClient(pending.client.key);
    if (existing) {
      // A retransmission of the Allocate that won (it arrived while the relay socket was being
      // bound) gets that same success response (RFC 8489 §6.3.1, RFC 8656 §7.2); a different
      // Allocate raced for this 5-tuple and lost: 437.
      if (existing.allocateTid === tidHex)
        return { reply: existing.allocateResponse, allocation: undefined };
      const why = 'allocation exists';
      return {
        reply: this.#errorRaw(Method.ALLOCATE, tid, 437, why, pending.client, pending.key),
        allocation: undefined,
      };
    }
    if (!relay) {
      const why = 'no relay port available';
      return {
        reply: this.#errorRaw(Method.ALLOCATE, tid, 508, why, pending.client, pending.key),
        allocation: undefined,
      };
    }
    const reply = allocateResponse(
      tid,
      pending.key,
      relay.address,
      pending.lifetimeSec,
      pending.client,
      relay.reservationToken,
    );
    this.#policy.addSelf(relay.address.ip);
    const allocation = this.#set.create(
      { ...pending, relay: relay.address, allocateTid: tidHex, allocateResponse: reply },
      nowMs,
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
    return peerDataToClient(this.#data, allocation, peerIp, peerPort, data, nowMs, from, headroom);
  }

  /**
   * Deletes every allocation of `callId` at once (hang-up). Returns them so the adapter can close
   * their relay sockets.
   */
  callEnded(callId: string): Allocation[] {
    return this.#set.deleteCall(callId);
  }

  /** Drops the allocation of a client 5-tuple (TCP connection closed). */
  clientGone(clientKey: string): Allocation | undefined {
    const a = this.#set.byClient(clientKey);
    if (a) this.#set.delete(a, 'client connection closed');
    return a;
  }

  /**
   * Expires allocations, permissions and channels, and forgets idle rate-limit buckets. Returns the
   * deleted allocations. Call about once a second.
   */
  tick(nowMs: number): Allocation[] {
    const gone = this.#set.expire(nowMs);
    this.#requests.prune(nowMs);
    this.#auth.prune();
    return gone;
  }

  /** Whether a live allocation `a` has a live permission for `peerIp`. */
  permits(a: Allocation, peerIp: string, nowMs: number): boolean {
    return isLive(a, nowMs) && hasPermission(a, peerIp, nowMs);
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
    return connectionSuccess(method, transactionId, key, result.connectionId);
  }

  /** RFC 6062 §5.3: the ConnectionAttempt indication for a peer that connected to `a`. */
  connectionAttempt(peer: TransportAddress, connectionId: number): Buffer {
    return connectionAttempt(peer, connectionId);
  }

  #refuse(reason: string): void {
    this.counters.refusals.set(reason, (this.counters.refusals.get(reason) ?? 0) + 1);
  }

  /** RFC 8489 §9.2.4: long-term credential checks; returns the identity or an error reply. */
  #authenticate(msg: StunMessage, client: ClientRef, nowMs: number): ClientAction | TurnIdentity {
    const r = this.#auth.authenticate(msg, client, nowMs);
    if (r.ok) return r.identity;
    if (r.code === 400) return this.#error(msg, client, 400, r.why);
    this.#refuse(String(r.code));
    if (r.code === 401 && msg.integrityOffset >= 0) {
      const username = getAttribute(msg, Attr.USERNAME)?.toString('utf8');
      this.#logger.warn(
        { client: `${client.transport}:${client.ip}:${client.port}`, username, why: r.why },
        'turn auth refused',
      );
    }
    const nonce = this.#auth.nonce(client, nowMs);
    const data = challengeResponse(msg.method, msg.transactionId, r.code, this.#auth.realm, nonce);
    return { kind: 'reply', data };
  }

  #relayAction: { kind: 'relay'; allocation: Allocation; peer: TransportAddress; data: Buffer } = {
    kind: 'relay',
    allocation: undefined as unknown as Allocation,
    peer: { ip: '', port: 0 },
    data: Buffer.alloc(0),
  };

  /** A Send indication or ChannelData from a client: the relay action, if it may go. */
  #onClientData(
    client: ClientRef,
    nowMs: number,
    target: (a: Allocation) => DataTarget | undefined,
  ): ClientAction | undefined {
    const a = this.#set.byClient(client.key);
    if (!a || a.expiresAtMs <= nowMs || a.tcpRelay) return undefined;
    const t = target(a);
    if (!t || !mayRelayToPeer(this.#data, a, t.peer, t.data.length, nowMs)) return undefined;
    const act = this.#relayAction;
    act.allocation = a;
    act.peer = t.peer;
    act.data = t.data;
    return act;
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
    this.#logger.warn(
      { client: `${client.transport}:${client.ip}:${client.port}`, method, code, why },
      'turn request refused',
    );
    return errorResponse(method, transactionId, code, key, extra);
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
