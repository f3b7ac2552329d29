/**
 * The client session core shared by the native client and the web UI. It owns no socket and no
 * reconnect loop: an adapter feeds it a {@link SessionTransport} when a connection opens, the
 * incoming text frames, and the close. It keeps request/response correlation, the online list
 * (snapshot + diffs), the call state machine, chat (history, paging, unread), blocks, status
 * and host-mode approvals, and reports everything through a typed event map.
 */
import { transitionCall, type CallInput, type CallState, type Peer } from './call-state.ts';
import { SignalingError, type SigErrorCode } from './errors.ts';
import { authSigningText, type UserInfo } from './messages.ts';
import {
  PROTOCOL_VERSION,
  encodeRequest,
  parseResult,
  parseServerMessage,
  type CallEndReason,
  type CallRecord,
  type CallSignal,
  type ChatMessage,
  type EventBody,
  type RequestParams,
  type RequestResult,
  type RequestType,
  type ServerEvent,
  type Status,
} from './messages.ts';
import { toBase64, userIdOf, type Signer } from './identity.ts';

/** What the session needs from a connection: Browser WebSocket and Node `ws` both fit. */
export interface SessionTransport {
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes the connection (RFC 6455 §7.4 close code). */
  close(code?: number, reason?: string): void;
}

/** Timers, injectable so tests run on a fake clock. */
export interface SessionClock {
  /** Current time, Unix ms. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns a handle for {@link clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(handle: unknown): void;
}

const defaultClock: SessionClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Close codes the server uses (RFC 6455 §7.4.2 private range 4000–4999). */
export const CLOSE_CODES = {
  /** Authentication failed (bad signature, password, name taken, server full, version). */
  AUTH_FAILED: 4001,
  /** Host refused the connection. */
  REFUSED: 4003,
  /** Too many protocol violations. */
  POLICY: 4008,
  /** Another connection with the same key took over this session. */
  REPLACED: 4009,
  /** No `auth` within the unauthenticated timeout (10 s). */
  AUTH_TIMEOUT: 4010,
  /** No pong within the ping timeout. */
  PING_TIMEOUT: 4011,
  /** Server shutting down (RFC 6455 "going away"). */
  GOING_AWAY: 1001,
} as const;

/** Close codes after which reconnecting with the same settings is pointless. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.AUTH_FAILED,
  CLOSE_CODES.REFUSED,
  CLOSE_CODES.REPLACED,
]);

/** The signalling connection's state. */
export type ConnectionState =
  | { kind: 'disconnected'; closeCode?: number; closeReason?: string; fatal: boolean }
  | { kind: 'awaiting-hello' }
  | { kind: 'authenticating' }
  | { kind: 'pending-approval' }
  | { kind: 'ready' };

/** One conversation as the session knows it. */
export interface Conversation {
  /** Known messages, oldest first (by server `msgId`). */
  messages: ChatMessage[];
  /** Received messages not yet marked read. */
  unread: number;
  /** Whether older messages exist on the server (after a history load). */
  hasMore: boolean;
}

/** A pending host-mode join request (host only). */
export type JoinRequest = EventBody<'host.request'>;

/** Events of {@link ClientSession}, with their payloads. */
export interface ClientSessionEvents {
  /** The connection state changed. */
  connection: ConnectionState;
  /** Authenticated (and approved, in host mode). */
  ready: { userId: string; name: string; resumed: boolean };
  /** The online list changed; `online` is the full current list. */
  presence: {
    online: ReadonlyMap<string, UserInfo>;
    joined: UserInfo[];
    left: string[];
    changed: { userId: string; status: Status }[];
  };
  /** The call state changed. */
  call: CallState;
  /** Someone calls. */
  incomingCall: { callId: string; from: Peer };
  /** The call is accepted; start media (the offerer creates the offer). */
  callAccepted: Extract<CallState, { phase: 'active' }>;
  /** A call ended or never started. */
  callEnded: { callId: string; reason: CallEndReason; by?: string };
  /** A call you missed (busy, do-not-disturb). */
  callMissed: EventBody<'call.missed'>;
  /** SDP/candidate from the peer of the active call. */
  signal: { callId: string; signal: CallSignal };
  /**
   * The peer's signalling connection dropped during the active call: the server keeps the call
   * for `graceMs` ms while it reconnects (show "reconnecting…", not a hang-up).
   */
  peerReconnecting: EventBody<'call.peerReconnecting'>;
  /** The peer is back and re-attached to the active call. */
  peerReconnected: EventBody<'call.peerReconnected'>;
  /** A chat message arrived (live or stored). */
  chat: ChatMessage;
  /** The unread count of a conversation changed. */
  unread: { peerId: string; count: number };
  /** Host only: someone asks to join. */
  joinRequest: JoinRequest;
  /** Host only: a join request was decided or withdrawn. */
  joinResolved: EventBody<'host.resolved'>;
  /** The server announced shutdown. */
  shutdown: { reason: string };
  /** A protocol problem that no request is waiting for (logged by apps). */
  error: SignalingError;
}

/** Options of {@link ClientSession}. */
export interface ClientSessionOptions {
  /** Ed25519 identity. */
  identity: Signer;
  /** Display name to register or log in with. */
  name: string;
  /** Server password, when the server has one. */
  password?: string;
  /** How long to wait for a request's answer, ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Timers; default the global ones. */
  clock?: SessionClock;
  /** Generates client message ids; default `crypto.randomUUID`. */
  newClientMsgId?: () => string;
  /**
   * The server's name as this client sees it, signed with the login challenge so the login
   * cannot be replayed to another server: `serverOriginName` of the URL, or
   * `serverTlsName` of the certificate the TLS connection presented, as the server's `hello`
   * hints (`loginName`). Read at each login. Without it the session signs the unbound v1 text,
   * which real servers refuse.
   */
  serverName?: (hint: 'tls' | 'origin' | undefined) => string | undefined;
}

interface Pending {
  type: RequestType;
  /** Runs synchronously when the answer arrives, before later frames are handled. */
  onAnswer?: (result: unknown, error: SignalingError | undefined) => void;
  resolve: (v: unknown) => void;
  reject: (e: SignalingError) => void;
  timer: unknown;
}

type Listener<T> = (payload: T) => void;

/** The shared signalling client core. See docs/protocol.md for a walkthrough. */
export class ClientSession {
  #opts: Required<Omit<ClientSessionOptions, 'password' | 'serverName'>> & { password?: string };
  #serverName: ((hint: 'tls' | 'origin' | undefined) => string | undefined) | undefined;
  #transport: SessionTransport | undefined;
  #connection: ConnectionState = { kind: 'disconnected', fatal: false };
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Map<keyof ClientSessionEvents, Set<Listener<never>>>();
  #online = new Map<string, UserInfo>();
  #call: CallState = { phase: 'idle' };
  #conversations = new Map<string, Conversation>();
  #seenMsgIds = new Set<number>();
  #receivedBatch: number[] = [];
  #joinRequests = new Map<string, JoinRequest>();
  #userId: string | undefined;
  #myStatus: Status = 'available';

  constructor(options: ClientSessionOptions) {
    this.#opts = {
      requestTimeoutMs: 10_000,
      clock: defaultClock,
      newClientMsgId: () => crypto.randomUUID(),
      ...options,
    };
    this.#serverName = options.serverName;
  }

  // ---- state getters ---------------------------------------------------------------------

  /** Connection state. */
  get connection(): ConnectionState {
    return this.#connection;
  }
  /** The identity this session logs in with (media bindings are signed with it too). */
  get identity(): Signer {
    return this.#opts.identity;
  }
  /** Our user id once known (after the first `ready`). */
  get userId(): string | undefined {
    return this.#userId;
  }
  /** Our display name. */
  get name(): string {
    return this.#opts.name;
  }
  /** Our own status as last set. */
  get status(): Status {
    return this.#myStatus;
  }
  /** Who is online (ourselves excluded), by user id. */
  get online(): ReadonlyMap<string, UserInfo> {
    return this.#online;
  }
  /** The call state. */
  get call(): CallState {
    return this.#call;
  }
  /** Conversations by peer user id. */
  get conversations(): ReadonlyMap<string, Conversation> {
    return this.#conversations;
  }
  /** Pending join requests (host mode, host only). */
  get joinRequests(): ReadonlyMap<string, JoinRequest> {
    return this.#joinRequests;
  }

  // ---- events ----------------------------------------------------------------------------

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ClientSessionEvents>(
    event: K,
    listener: Listener<ClientSessionEvents[K]>,
  ): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Unsubscribes. */
  off<K extends keyof ClientSessionEvents>(
    event: K,
    listener: Listener<ClientSessionEvents[K]>,
  ): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Resolves with the next payload of `event` that satisfies `predicate`. */
  once<K extends keyof ClientSessionEvents>(
    event: K,
    predicate: (p: ClientSessionEvents[K]) => boolean = () => true,
  ): Promise<ClientSessionEvents[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (p) => {
        if (predicate(p)) {
          off();
          resolve(p);
        }
      });
    });
  }

  #emit<K extends keyof ClientSessionEvents>(event: K, payload: ClientSessionEvents[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<ClientSessionEvents[K]>)(payload);
      } catch (err) {
        // A faulty listener must not break the session; report it unless it is the error event.
        if (event !== 'error') {
          this.#emit(
            'error',
            new SignalingError('SIG_ERR_INTERNAL', 'event listener threw', { cause: err }),
          );
        }
      }
    }
  }

  #setConnection(state: ConnectionState): void {
    this.#connection = state;
    this.#emit('connection', state);
  }

  // ---- transport side --------------------------------------------------------------------

  /** A connection opened: the session waits for the server's `hello`. */
  handleOpen(transport: SessionTransport): void {
    this.#transport = transport;
    this.#setConnection({ kind: 'awaiting-hello' });
  }

  /** The connection closed: pending requests fail with SIG_ERR_DISCONNECTED. */
  handleClose(code?: number, reason?: string): void {
    this.#transport = undefined;
    this.#readyPending = undefined;
    for (const [id, p] of this.#pending) {
      this.#opts.clock.clearTimeout(p.timer);
      p.reject(
        new SignalingError(
          'SIG_ERR_DISCONNECTED',
          `connection closed before ${p.type} was answered`,
        ),
      );
      this.#pending.delete(id);
    }
    if (this.#call.phase === 'inviting') this.#applyCall({ kind: 'invite-failed' });
    this.#joinRequests.clear();
    this.#setConnection({
      kind: 'disconnected',
      ...(code !== undefined ? { closeCode: code } : {}),
      ...(reason ? { closeReason: reason } : {}),
      fatal: code !== undefined && FATAL_CLOSE_CODES.has(code),
    });
  }

  /** Feeds one incoming text frame. Malformed frames become `error` events, never throws. */
  handleText(text: string): void {
    const parsed = parseServerMessage(text);
    if (!parsed.ok) {
      this.#emit('error', parsed.error);
      return;
    }
    const msg = parsed.value;
    if (msg.type === 'result' || msg.type === 'error') {
      const p = msg.id === undefined ? undefined : this.#pending.get(msg.id);
      if (!p || msg.id === undefined) {
        if (msg.type === 'error') this.#emit('error', new SignalingError(msg.code, msg.message));
        return;
      }
      this.#pending.delete(msg.id);
      this.#opts.clock.clearTimeout(p.timer);
      if (msg.type === 'error') {
        const err = new SignalingError(msg.code, msg.message);
        p.onAnswer?.(undefined, err);
        p.reject(err);
      } else {
        const r = parseResult(p.type, msg.result);
        p.onAnswer?.(r.ok ? r.value : undefined, r.ok ? undefined : r.error);
        if (r.ok) p.resolve(r.value);
        else p.reject(r.error);
      }
      return;
    }
    this.#handleEvent(msg);
  }

  // ---- requests --------------------------------------------------------------------------

  /**
   * Sends any request and resolves with its validated result, or rejects with a
   * {@link SignalingError} (server error code, SIG_ERR_TIMEOUT or SIG_ERR_DISCONNECTED).
   */
  request<K extends RequestType>(type: K, params: RequestParams<K>): Promise<RequestResult<K>> {
    return this.#send(type, params);
  }

  #send<K extends RequestType>(
    type: K,
    params: RequestParams<K>,
    onAnswer?: (result: RequestResult<K> | undefined, error: SignalingError | undefined) => void,
  ): Promise<RequestResult<K>> {
    const transport = this.#transport;
    if (!transport) {
      return Promise.reject(new SignalingError('SIG_ERR_DISCONNECTED', `not connected (${type})`));
    }
    const id = this.#nextId++;
    return new Promise<RequestResult<K>>((resolve, reject) => {
      const timer = this.#opts.clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new SignalingError(
            'SIG_ERR_TIMEOUT',
            `no answer to ${type} within ${this.#opts.requestTimeoutMs} ms`,
          ),
        );
      }, this.#opts.requestTimeoutMs);
      this.#pending.set(id, {
        type,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
        ...(onAnswer ? { onAnswer: onAnswer as Pending['onAnswer'] } : {}),
      });
      try {
        transport.send(encodeRequest(type, id, params));
      } catch (err) {
        this.#pending.delete(id);
        this.#opts.clock.clearTimeout(timer);
        reject(new SignalingError('SIG_ERR_DISCONNECTED', `send failed (${type})`, { cause: err }));
      }
    });
  }

  /** Fire-and-forget request whose failure is only reported as an `error` event. */
  #requestQuietly<K extends RequestType>(type: K, params: RequestParams<K>): void {
    this.request(type, params).catch((err: unknown) => {
      if (err instanceof SignalingError && err.code !== 'SIG_ERR_DISCONNECTED')
        this.#emit('error', err);
    });
  }

  // ---- authentication --------------------------------------------------------------------

  async #authenticate(hello: EventBody<'hello'>): Promise<void> {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      this.#emit(
        'error',
        new SignalingError(
          'SIG_ERR_VERSION',
          `server speaks protocol ${hello.protocolVersion}, we speak ${PROTOCOL_VERSION}`,
        ),
      );
    }
    this.#setConnection({ kind: 'authenticating' });
    const { identity, name, password } = this.#opts;
    this.#userId ??= await userIdOf(identity.publicKey);
    const server = this.#serverName?.(hello.loginName);
    const signature = await identity.sign(
      new TextEncoder().encode(authSigningText(hello.challenge, name, server)),
    );
    // Handled when the answer is read: the snapshot that follows it must find us ready for it.
    await this.#send(
      'auth',
      {
        protocolVersion: PROTOCOL_VERSION,
        name,
        publicKey: toBase64(identity.publicKey),
        signature: toBase64(signature),
        ...(server !== undefined ? { server } : {}),
        ...(password !== undefined ? { password } : {}),
      },
      (result, err) => {
        if (!result) {
          if (err) this.#emit('error', err);
          return;
        }
        this.#userId = result.userId;
        if (result.state === 'pending') this.#setConnection({ kind: 'pending-approval' });
        else this.#becomeReady(result.resumed, result.callId);
      },
    ).catch(() => undefined);
  }

  #becomeReady(resumed: boolean, callId: string | undefined): void {
    // A call we thought we were in that the server no longer has ended while we were away.
    if (
      this.#call.phase !== 'idle' &&
      this.#call.phase !== 'inviting' &&
      this.#call.callId !== callId
    ) {
      this.#applyCall({ kind: 'ended', callId: this.#call.callId, reason: 'disconnected' });
    }
    // `ready` waits for the presence snapshot, which the server sends right after.
    this.#readyPending = { resumed };
    // Back within the call's grace period (the server kept it through our drop): re-attach, so
    // the peer hears we are back. Harmless when the session was only taken over.
    if (this.#call.phase === 'active' && callId !== undefined && this.#call.callId === callId)
      this.#requestQuietly('call.reattach', { callId });
  }

  #readyPending: { resumed: boolean } | undefined;

  #finishReady(): void {
    const pending = this.#readyPending;
    if (!pending) return;
    this.#readyPending = undefined;
    this.#setConnection({ kind: 'ready' });
    this.#emit('ready', {
      userId: this.#userId ?? '',
      name: this.#opts.name,
      resumed: pending.resumed,
    });
    if (this.#myStatus !== 'available' && this.#myStatus !== 'in-call') {
      this.#requestQuietly('presence.set', { status: this.#myStatus });
    }
  }

  // ---- events from the server ------------------------------------------------------------

  #handleEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case 'hello':
        this.#authenticate(ev).catch((err: unknown) => {
          this.#emit(
            'error',
            new SignalingError('SIG_ERR_INTERNAL', 'authentication failed locally', { cause: err }),
          );
        });
        return;
      case 'auth.approved':
        this.#becomeReady(false, undefined);
        return;
      case 'presence.snapshot': {
        const before = this.#online;
        const users = ev.users.filter((u) => u.userId !== this.#userId);
        this.#online = new Map(users.map((u) => [u.userId, u]));
        const left = [...before.keys()].filter((k) => !this.#online.has(k));
        this.#emit('presence', { online: this.#online, joined: users, left, changed: [] });
        this.#finishReady();
        return;
      }
      case 'presence.diff': {
        // Diffs are one frame shared by every viewer, so they may mention ourselves: skip it.
        const me = this.#userId;
        const joined = (ev.joined ?? []).filter((u) => u.userId !== me);
        const left = (ev.left ?? []).filter((id) => id !== me);
        const changed = (ev.changed ?? []).filter((c) => c.userId !== me);
        if (joined.length + left.length + changed.length === 0) return;
        for (const u of joined) this.#online.set(u.userId, u);
        for (const id of left) this.#online.delete(id);
        for (const c of changed) {
          const u = this.#online.get(c.userId);
          if (u) this.#online.set(c.userId, { ...u, status: c.status });
        }
        this.#emit('presence', { online: this.#online, joined, left, changed });
        return;
      }
      case 'call.incoming':
        // In glare the state stays `inviting`: the server merges the calls, nothing rings.
        if (
          this.#applyCall({ kind: 'incoming', callId: ev.callId, from: ev.from }) &&
          this.#call.phase === 'incoming'
        ) {
          // Ring first: a listener may accept synchronously.
          this.#requestQuietly('call.ring', { callId: ev.callId });
          this.#emit('incomingCall', { callId: ev.callId, from: ev.from });
        }
        return;
      case 'call.ringing':
        this.#applyCall({ kind: 'ringing', callId: ev.callId });
        return;
      case 'call.accepted':
        if (this.#applyCall({ kind: 'accepted', ...ev }) && this.#call.phase === 'active') {
          this.#emit('callAccepted', this.#call);
        }
        return;
      case 'call.ended':
        if (this.#applyCall({ kind: 'ended', callId: ev.callId, reason: ev.reason })) {
          this.#emit('callEnded', {
            callId: ev.callId,
            reason: ev.reason,
            ...(ev.by !== undefined ? { by: ev.by } : {}),
          });
        }
        return;
      case 'call.missed':
        this.#emit('callMissed', ev);
        return;
      case 'call.signal': {
        const c = this.#call;
        if (c.phase === 'active' && c.callId === ev.callId) {
          this.#emit('signal', { callId: ev.callId, signal: ev.signal });
        }
        return;
      }
      case 'call.peerReconnecting':
      case 'call.peerReconnected': {
        const c = this.#call;
        if (c.phase !== 'active' || c.callId !== ev.callId) return;
        if (ev.type === 'call.peerReconnecting') {
          this.#emit('peerReconnecting', {
            callId: ev.callId,
            userId: ev.userId,
            graceMs: ev.graceMs,
          });
        } else this.#emit('peerReconnected', { callId: ev.callId, userId: ev.userId });
        return;
      }
      case 'chat.message':
        this.#receiveChat(ev);
        return;
      case 'host.request':
        this.#joinRequests.set(ev.requestId, ev);
        this.#emit('joinRequest', ev);
        return;
      case 'host.resolved':
        this.#joinRequests.delete(ev.requestId);
        this.#emit('joinResolved', ev);
        return;
      case 'server.shutdown':
        this.#emit('shutdown', { reason: ev.reason });
        return;
    }
  }

  /** Applies a call input; emits `call` on change. False (and an `error` event) if illegal. */
  #applyCall(input: CallInput): boolean {
    const t = transitionCall(this.#call, input);
    if (!t.ok) {
      this.#emit('error', t.error);
      return false;
    }
    if (t.state !== this.#call) {
      this.#call = t.state;
      this.#emit('call', t.state);
    }
    return true;
  }

  // ---- calls -----------------------------------------------------------------------------

  /** Calls `peerId`. Resolves with the call id once the server created the call. */
  async invite(peerId: string): Promise<string> {
    const t = transitionCall(this.#call, { kind: 'invite', peerId });
    if (!t.ok) throw t.error;
    this.#applyCall({ kind: 'invite', peerId });
    // The state moves when the answer is read, before any event that follows it in the stream.
    const r = await this.#send('call.invite', { to: peerId }, (result) => {
      // Events may already have moved us on (e.g. glare → accepted); only promote from inviting.
      if (this.#call.phase !== 'inviting') return;
      if (result) this.#applyCall({ kind: 'invite-result', callId: result.callId });
      else this.#applyCall({ kind: 'invite-failed' });
    });
    return r.callId;
  }

  #requireCall(kind: 'accept' | 'reject' | 'cancel' | 'hangup'): string {
    const t = transitionCall(this.#call, { kind });
    if (!t.ok) throw t.error;
    const c = this.#call;
    if (c.phase === 'idle' || c.callId === undefined) {
      throw new SignalingError(
        'SIG_ERR_ILLEGAL_TRANSITION',
        `call: cannot '${kind}' before the call has an id`,
      );
    }
    return c.callId;
  }

  /** Accepts the incoming call. `call.accepted` follows. */
  async accept(): Promise<void> {
    await this.request('call.accept', { callId: this.#requireCall('accept') });
  }
  /** Refuses the incoming call. */
  async reject(): Promise<void> {
    await this.request('call.reject', { callId: this.#requireCall('reject') });
  }
  /** Gives up an outgoing call before it is answered. */
  async cancel(): Promise<void> {
    await this.request('call.cancel', { callId: this.#requireCall('cancel') });
  }
  /** Ends the call, whatever its phase (hang-up, cancel or reject as appropriate). */
  async hangup(): Promise<void> {
    const c = this.#call;
    if (c.phase === 'incoming') return this.reject();
    if (c.phase === 'outgoing' || c.phase === 'inviting') return this.cancel();
    await this.request('call.hangup', { callId: this.#requireCall('hangup') });
  }
  /** Sends SDP or an ICE candidate to the peer of the active call. */
  async sendSignal(signal: CallSignal): Promise<void> {
    const c = this.#call;
    if (c.phase !== 'active')
      throw new SignalingError('SIG_ERR_NOT_IN_CALL', 'no active call to signal in');
    await this.request('call.signal', { callId: c.callId, signal });
  }

  // ---- chat ------------------------------------------------------------------------------

  #conversation(peerId: string): Conversation {
    let c = this.#conversations.get(peerId);
    if (!c) this.#conversations.set(peerId, (c = { messages: [], unread: 0, hasMore: true }));
    return c;
  }

  #insert(conv: Conversation, m: ChatMessage): boolean {
    if (this.#seenMsgIds.has(m.msgId)) return false;
    this.#seenMsgIds.add(m.msgId);
    const msgs = conv.messages;
    let i = msgs.length;
    while (i > 0 && (msgs[i - 1] as ChatMessage).msgId > m.msgId) i--;
    msgs.splice(i, 0, m);
    return true;
  }

  #receiveChat(m: ChatMessage): void {
    const peerId = m.from === this.#userId ? m.to : m.from;
    const conv = this.#conversation(peerId);
    const fresh = this.#insert(conv, m);
    // Acknowledge even duplicates: the server re-sends until it hears back.
    if (this.#receivedBatch.length === 0) {
      queueMicrotask(() => {
        const ids = this.#receivedBatch.splice(0, 1000);
        if (ids.length > 0 && this.#transport)
          this.#requestQuietly('chat.received', { msgIds: ids });
      });
    }
    this.#receivedBatch.push(m.msgId);
    if (!fresh) return;
    this.#emit('chat', m);
    if (m.from !== this.#userId) {
      conv.unread++;
      this.#emit('unread', { peerId, count: conv.unread });
    }
  }

  /** Sends a message; resolves with it as stored by the server (with `msgId` and `ts`). */
  async sendChat(to: string, text: string): Promise<ChatMessage> {
    const clientMsgId = this.#opts.newClientMsgId();
    const r = await this.request('chat.send', { to, clientMsgId, text });
    const m: ChatMessage = {
      msgId: r.msgId,
      from: this.#userId ?? '',
      to,
      clientMsgId,
      text,
      ts: r.ts,
    };
    this.#insert(this.#conversation(to), m);
    return m;
  }

  /**
   * Loads the page of history older than what we hold for `peerId` (newest first on the wire,
   * stored oldest first). Resolves with the messages that were new to us.
   */
  async loadHistory(peerId: string, limit = 50): Promise<ChatMessage[]> {
    const conv = this.#conversation(peerId);
    const oldest = conv.messages[0]?.msgId;
    const r = await this.request('chat.history', {
      with: peerId,
      limit,
      ...(oldest !== undefined ? { before: oldest } : {}),
    });
    conv.hasMore = r.hasMore;
    return r.messages.filter((m) => this.#insert(conv, m));
  }

  /** Marks a conversation read (local state). */
  markRead(peerId: string): void {
    const conv = this.#conversation(peerId);
    if (conv.unread === 0) return;
    conv.unread = 0;
    this.#emit('unread', { peerId, count: 0 });
  }

  // ---- presence, blocks, host ------------------------------------------------------------

  /** Sets our status (available, dnd, away). Kept across reconnects. */
  async setStatus(status: 'available' | 'dnd' | 'away'): Promise<void> {
    await this.request('presence.set', { status });
    this.#myStatus = status;
  }
  /** Blocks a user. */
  async block(userId: string): Promise<void> {
    await this.request('block.add', { userId });
  }
  /** Unblocks a user. */
  async unblock(userId: string): Promise<void> {
    await this.request('block.remove', { userId });
  }
  /** Lists the users we block. */
  async blocked(): Promise<{ userId: string; name: string }[]> {
    return (await this.request('block.list', {})).users;
  }
  /** Host only: accepts or refuses a join request. */
  async decideJoin(requestId: string, accept: boolean): Promise<void> {
    await this.request('host.decide', { requestId, accept });
  }
  /** Your recorded calls and missed calls, newest first (at most `limit`, default 50). */
  async callHistory(limit?: number): Promise<CallRecord[]> {
    return (await this.request('call.history', limit === undefined ? {} : { limit })).calls;
  }
  /** Host only: removes a guest (closes its connection; it must ask again to come back). */
  async removeGuest(userId: string): Promise<void> {
    await this.request('host.remove', { userId });
  }
}

/** Error codes for which retrying the same request is pointless. */
export function isPermanentError(code: SigErrorCode): boolean {
  return (
    code !== 'SIG_ERR_TIMEOUT' && code !== 'SIG_ERR_DISCONNECTED' && code !== 'SIG_ERR_RATE_LIMITED'
  );
}
