/**
 * Every signalling message, defined once: a schema per message, with its TS type inferred from
 * it. The wire format is one JSON object per WebSocket text frame (RFC 6455 §5.6):
 *
 * - client → server request: `{type, id, ...fields}` with `id` a positive integer chosen by the
 *   client, unique per connection;
 * - server → client answer: `{type:'result', id, result}` or `{type:'error', id, code, message}`
 *   (`id` is absent when the bad frame had no usable id);
 * - server → client event: `{type, ...fields}` with no `id`.
 *
 * docs/protocol.md documents each message.
 */
import { SignalingError, isSigErrorCode, type SigErrorCode } from './errors.ts';
import {
  arr,
  bool,
  int,
  nullable,
  obj,
  oneOf,
  optional,
  str,
  tagged,
  validate,
  type Infer,
  type Schema,
} from './schema.ts';

/** Protocol version spoken by this build. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Maximum size of one frame, in bytes (UTF-8). */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Maximum length of one chat message, in characters (UTF-16 code units). */
export const MAX_CHAT_CHARS = 4000;

/** Maximum display-name length, in characters. */
export const MAX_NAME_CHARS = 32;

/** Maximum number of messages one `chat.history` page returns. */
export const MAX_HISTORY_PAGE = 100;

/**
 * The text a client signs to prove it holds its key:
 * `parloir-auth-v2\n<challenge>\n<name>\n<server>`, where `server` names the server as the
 * client sees it ({@link serverOriginName} or {@link serverTlsName}), so a rogue server that
 * relays another server's challenge gets a signature the other server refuses (issue 17 §2).
 * Without `server`, the v1 text `parloir-auth-v1\n<challenge>\n<name>`, which the server accepts
 * only from a core driven without server names (unit tests of the sans-IO core).
 */
export function authSigningText(challenge: string, name: string, server?: string): string {
  if (server === undefined) return `parloir-auth-v1\n${challenge}\n${name}`;
  return `parloir-auth-v2\n${challenge}\n${name}\n${server}`;
}

/**
 * The server name a login signs when TLS may end at a proxy: `origin:<scheme>://<host[:port]>`
 * of the URL the client connected to (`ws:` counts as `http:`, `wss:` as `https:`; default ports
 * dropped, host lowercased, as URL's `origin`). Undefined for a URL that does not parse.
 */
export function serverOriginName(url: string): string | undefined {
  try {
    const u = new URL(url);
    const scheme = { 'ws:': 'http:', 'wss:': 'https:', 'http:': 'http:', 'https:': 'https:' }[
      u.protocol
    ];
    if (scheme === undefined) return undefined;
    return `origin:${new URL(`${scheme}//${u.host}`).origin}`;
  } catch {
    return undefined;
  }
}

/** The server name a login signs when the client sees the server's own TLS certificate. */
export function serverTlsName(fingerprint: string): string {
  return `tls:${fingerprint.trim().split(/\s+/).pop()?.replaceAll(':', '').toLowerCase() ?? ''}`;
}

// ---- shared pieces -------------------------------------------------------------------------

/** User id: the key fingerprint, 32 lowercase hex digits (first 16 bytes of SHA-256(key)). */
export const userIdSchema = str({ min: 32, max: 32, pattern: /^[0-9a-f]{32}$/ });
/** Display name: 1..32 characters, no control characters, no leading/trailing space. */
export const nameSchema = str({
  min: 1,
  max: MAX_NAME_CHARS,
  // eslint-disable-next-line no-control-regex -- the point is to refuse control characters.
  pattern: /^(?! )[^\u0000-\u001f\u007f]*(?<! )$/u,
});
const base64Schema = (max: number) => str({ min: 1, max, pattern: /^[A-Za-z0-9+/_-]+={0,2}$/ });
const callIdSchema = str({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });

/** A user's presence status as others see it. */
export const STATUSES = ['available', 'in-call', 'dnd', 'away'] as const;
/** A user's presence status as others see it. */
export type Status = (typeof STATUSES)[number];
/** The statuses a user may choose (in-call is set by the server). */
export const SETTABLE_STATUSES = ['available', 'dnd', 'away'] as const;

/** One online user, as listed in presence messages. */
export const userInfoSchema = obj({
  userId: userIdSchema,
  name: nameSchema,
  status: oneOf(STATUSES),
});
/** One online user, as listed in presence messages. */
export type UserInfo = Infer<typeof userInfoSchema>;

/** An ICE server (same shape as WebRTC's RTCIceServer). */
export const iceServerSchema = obj({
  urls: arr(str({ max: 512 }), { max: 16 }),
  username: optional(str({ max: 512 })),
  credential: optional(str({ max: 512 })),
});
/** An ICE server (same shape as WebRTC's RTCIceServer). */
export type IceServer = Infer<typeof iceServerSchema>;

/**
 * A media binding (media-binding.ts): the sender's identity key and DTLS certificate
 * fingerprint, signed for this call and this peer. The server relays it untouched.
 */
export const mediaBindingSchema = obj({
  publicKey: base64Schema(64),
  fingerprint: str({ max: 200, pattern: /^sha-256 [0-9A-Fa-f:]+$/ }),
  signature: base64Schema(128),
});

/**
 * Why an end restarts ICE mid-call: the selected pair stopped answering (RFC 7675 consent) or
 * carrying media, a local address it used went away, the signalling re-attached after a drop
 * (the server may have restarted and the path died with it), or the TURN allocation was lost.
 */
export const ICE_RESTART_REASONS = [
  'consent-failed',
  'address-changed',
  'reattached',
  'relay-lost',
] as const;
/** Why an end restarts ICE mid-call. */
export type IceRestartReason = (typeof ICE_RESTART_REASONS)[number];

/**
 * SDP offer/answer or a trickled ICE candidate (RFC 8838 trickle ICE). An offer after the first
 * of a call is an ICE restart, made by the caller only.
 */
export const callSignalSchema = tagged('kind', {
  // `binding` is optional on the wire so the server relays old clients' calls; clients of this
  // version refuse an offer or answer without one (MEDIA_AUTH_ERR_NO_BINDING).
  offer: obj({ sdp: str({ max: 60_000 }), binding: optional(mediaBindingSchema) }),
  answer: obj({ sdp: str({ max: 60_000 }), binding: optional(mediaBindingSchema) }),
  candidate: obj({
    candidate: str({ max: 1024 }),
    sdpMid: optional(nullable(str({ max: 64 }))),
    sdpMLineIndex: optional(nullable(int({ min: 0, max: 255 }))),
  }),
  'end-of-candidates': obj({}),
  // ICE restart (RFC 8445 §2.4): the callee asks the caller for a restart offer, so that only the
  // caller ever sends one and two ends restarting at once cannot collide (the caller's offer wins).
  'restart-request': obj({ reason: oneOf(ICE_RESTART_REASONS) }),
});
/** SDP offer/answer, a trickled ICE candidate, or the callee's request for an ICE restart. */
export type CallSignal = Infer<typeof callSignalSchema>;

/** A stored chat message. */
export const chatMessageSchema = obj({
  /** Server id: increases with time, used for paging. */
  msgId: int({ min: 1 }),
  from: userIdSchema,
  to: userIdSchema,
  /** The sender's own id for the message (for de-duplication on resend). */
  clientMsgId: str({ min: 1, max: 64 }),
  text: str({ max: MAX_CHAT_CHARS }),
  /** Server time the message was accepted, Unix ms. */
  ts: int({ min: 0 }),
});
/** A stored chat message. */
export type ChatMessage = Infer<typeof chatMessageSchema>;

/** Why a call ended. */
export const CALL_END_REASONS = [
  'rejected',
  'cancelled',
  'timeout',
  'busy',
  'dnd',
  'hangup',
  'disconnected',
  'glare',
  'shutdown',
] as const;
/** Why a call ended. */
export type CallEndReason = (typeof CALL_END_REASONS)[number];

/** One call of yours as the server recorded it (`call.history`). */
export const callRecordSchema = obj({
  callId: callIdSchema,
  /** The other party; `name` is the name bound to its key (or the id's start if unknown). */
  peer: obj({ userId: userIdSchema, name: str({ min: 1, max: MAX_NAME_CHARS }) }),
  /** Whether you called (`outgoing`) or were called. */
  direction: oneOf(['outgoing', 'incoming'] as const),
  /** Invite time, Unix ms. */
  startedAt: int({ min: 0 }),
  /** Answer time, Unix ms; null if never answered. */
  answeredAt: nullable(int({ min: 0 })),
  /** End time, Unix ms; null while the call is live. */
  endedAt: nullable(int({ min: 0 })),
  /** Why it ended; null while live. */
  reason: nullable(oneOf(CALL_END_REASONS)),
  /** An incoming call that ended unanswered without you refusing it. */
  missed: bool(),
});
/** One recorded call. */
export type CallRecord = Infer<typeof callRecordSchema>;

// ---- requests (client → server) ------------------------------------------------------------

const empty = obj({});

/**
 * Every request: its fields (besides `type` and `id`) and the schema of its result.
 */
export const REQUESTS = {
  /** Answer the `hello` challenge with a signature; first message of every connection. */
  auth: {
    params: obj({
      protocolVersion: int({ min: 0, max: 1000 }),
      name: nameSchema,
      /** Raw Ed25519 public key (32 bytes), base64. */
      publicKey: base64Schema(64),
      /** Ed25519 signature of {@link authSigningText}, base64. */
      signature: base64Schema(128),
      /** The server name the signature covers ({@link serverOriginName}, {@link serverTlsName}). */
      server: optional(str({ max: 300 })),
      password: optional(str({ max: 256 })),
    }),
    result: obj({
      userId: userIdSchema,
      name: nameSchema,
      /** `pending`: host mode, waiting for the host's decision (an `auth.approved` follows). */
      state: oneOf(['ready', 'pending'] as const),
      /** An earlier connection with this key was still open and has been taken over. */
      resumed: bool(),
      /** The call this session is in, when a session is resumed mid-call. */
      callId: optional(callIdSchema),
    }),
  },
  /** Application-level keepalive (browsers cannot send WebSocket pings). */
  ping: { params: empty, result: empty },
  /** Set your own status. */
  'presence.set': {
    params: obj({ status: oneOf(SETTABLE_STATUSES) }),
    result: empty,
  },
  /** Call someone. The outcome arrives as `call.ringing`, `call.accepted` or `call.ended`. */
  'call.invite': {
    params: obj({ to: userIdSchema }),
    result: obj({
      callId: callIdSchema,
      /** The callee was inviting you at the same moment: the calls merged into this one. */
      glare: optional(bool()),
    }),
  },
  /** Callee: the incoming call is being shown (sent automatically by the client core). */
  'call.ring': { params: obj({ callId: callIdSchema }), result: empty },
  /** Callee: accept. */
  'call.accept': { params: obj({ callId: callIdSchema }), result: empty },
  /** Callee: refuse. */
  'call.reject': { params: obj({ callId: callIdSchema }), result: empty },
  /** Caller: give up before an answer. */
  'call.cancel': { params: obj({ callId: callIdSchema }), result: empty },
  /** Either party: end an accepted call. */
  'call.hangup': { params: obj({ callId: callIdSchema }), result: empty },
  /** Forward SDP or an ICE candidate to the other party of an accepted call. */
  'call.signal': {
    params: obj({ callId: callIdSchema, signal: callSignalSchema }),
    result: empty,
  },
  /**
   * Back after a signalling drop: re-attach to call `callId`, which the server kept for its
   * grace period (the auth answer names it). The peer is told `call.peerReconnected`.
   */
  'call.reattach': { params: obj({ callId: callIdSchema }), result: empty },
  /** Your recorded calls, newest first (calls and missed calls, from the server's records). */
  'call.history': {
    params: obj({ limit: optional(int({ min: 1, max: MAX_HISTORY_PAGE })) }),
    result: obj({ calls: arr(callRecordSchema, { max: MAX_HISTORY_PAGE }) }),
  },
  /** Send a 1:1 message. */
  'chat.send': {
    params: obj({
      to: userIdSchema,
      clientMsgId: str({ min: 1, max: 64 }),
      // Longer than MAX_CHAT_CHARS on purpose: the server answers SIG_ERR_MESSAGE_TOO_LONG.
      text: str({ min: 1, max: MAX_FRAME_BYTES }),
    }),
    result: obj({ msgId: int({ min: 1 }), ts: int({ min: 0 }) }),
  },
  /** Confirm delivery (sent automatically by the client core); stops re-delivery. */
  'chat.received': {
    params: obj({ msgIds: arr(int({ min: 1 }), { max: 1000 }) }),
    result: empty,
  },
  /** A page of the conversation with `with`, newest first, older than `before`. */
  'chat.history': {
    params: obj({
      with: userIdSchema,
      before: optional(int({ min: 1 })),
      limit: optional(int({ min: 1, max: MAX_HISTORY_PAGE })),
    }),
    result: obj({ messages: arr(chatMessageSchema, { max: MAX_HISTORY_PAGE }), hasMore: bool() }),
  },
  /** Block a user: they cannot call or message you and see you offline. */
  'block.add': { params: obj({ userId: userIdSchema }), result: empty },
  /** Undo a block. */
  'block.remove': { params: obj({ userId: userIdSchema }), result: empty },
  /** The users you block. */
  'block.list': {
    params: empty,
    result: obj({ users: arr(obj({ userId: userIdSchema, name: nameSchema })) }),
  },
  /** Host mode, host only: accept or refuse a pending connection. */
  'host.decide': {
    params: obj({ requestId: str({ min: 1, max: 64 }), accept: bool() }),
    result: empty,
  },
  /**
   * Host mode, host only: remove a guest. Its approval is withdrawn (its next login is a new
   * join request) and its connection is closed with the `refused` close code.
   */
  'host.remove': { params: obj({ userId: userIdSchema }), result: empty },
} as const satisfies Record<string, { params: Schema<object>; result: Schema<object> }>;

/** The type of a request. */
export type RequestType = keyof typeof REQUESTS;
/** The fields of a request of type `K` (without `type` and `id`). */
export type RequestParams<K extends RequestType> = Infer<(typeof REQUESTS)[K]['params']>;
/** The result of a request of type `K`. */
export type RequestResult<K extends RequestType> = Infer<(typeof REQUESTS)[K]['result']>;
/** A request frame. */
export type ClientRequest = {
  [K in RequestType]: { type: K; id: number } & RequestParams<K>;
}[RequestType];

// ---- events (server → client) --------------------------------------------------------------

/** Every event the server sends without being asked. */
export const EVENTS = {
  /** First frame on every connection: the challenge to sign. */
  hello: obj({
    protocolVersion: int({ min: 0 }),
    serverName: str({ max: 128 }),
    /** 32 random bytes, base64. */
    challenge: base64Schema(128),
    passwordRequired: bool(),
    hostMode: bool(),
    /**
     * Which name of the server a login should sign ({@link authSigningText}): `tls` when the
     * server terminates TLS itself ({@link serverTlsName} of the certificate the client sees),
     * `origin` when a proxy does ({@link serverOriginName} of the URL). Absent: origin.
     */
    loginName: optional(oneOf(['tls', 'origin'] as const)),
  }),
  /** Host mode: the host accepted you; a `presence.snapshot` follows. */
  'auth.approved': obj({}),
  /** Who is online, sent once after authentication. Only diffs follow. */
  'presence.snapshot': obj({ users: arr(userInfoSchema, { max: 1_000_000 }) }),
  /** Changes since the last presence message. Each array is absent when empty. */
  'presence.diff': obj({
    joined: optional(arr(userInfoSchema, { max: 1_000_000 })),
    left: optional(arr(userIdSchema, { max: 1_000_000 })),
    changed: optional(
      arr(obj({ userId: userIdSchema, status: oneOf(STATUSES) }), { max: 1_000_000 }),
    ),
  }),
  /** Someone calls you. */
  'call.incoming': obj({
    callId: callIdSchema,
    from: obj({ userId: userIdSchema, name: nameSchema }),
  }),
  /** Caller: the callee's client is ringing. */
  'call.ringing': obj({ callId: callIdSchema }),
  /** Both parties: the call is accepted. The offerer sends the SDP offer. */
  'call.accepted': obj({
    callId: callIdSchema,
    role: oneOf(['offerer', 'answerer'] as const),
    peer: obj({ userId: userIdSchema, name: nameSchema }),
    iceServers: arr(iceServerSchema, { max: 16 }),
    /** Use only relayed candidates (ICE transport policy "relay"). */
    relayOnly: bool(),
  }),
  /** Both parties: the call is over (or never started). */
  'call.ended': obj({
    callId: callIdSchema,
    reason: oneOf(CALL_END_REASONS),
    /** Who ended it, when a party did. */
    by: optional(userIdSchema),
  }),
  /** Callee: a call you did not see ringing (busy, do-not-disturb). */
  'call.missed': obj({
    callId: callIdSchema,
    from: obj({ userId: userIdSchema, name: nameSchema }),
    reason: oneOf(CALL_END_REASONS),
  }),
  /** SDP or ICE candidate from the other party. */
  'call.signal': obj({ callId: callIdSchema, signal: callSignalSchema }),
  /**
   * The other party's signalling connection dropped during the call: the server keeps the call
   * (and its relay allocations) for `graceMs` ms while it reconnects, then ends it.
   */
  'call.peerReconnecting': obj({
    callId: callIdSchema,
    userId: userIdSchema,
    graceMs: int({ min: 0, max: 3_600_000 }),
  }),
  /** The other party reconnected and re-attached to the call. */
  'call.peerReconnected': obj({ callId: callIdSchema, userId: userIdSchema }),
  /** A chat message for you (live or stored while you were away). */
  'chat.message': chatMessageSchema,
  /** Host mode, to the host: someone asks to join. */
  'host.request': obj({
    requestId: str({ min: 1, max: 64 }),
    name: nameSchema,
    fingerprint: userIdSchema,
    /** Remote address (IP) of the requester. */
    address: str({ max: 64 }),
  }),
  /** Host mode, to the host: a request was decided or withdrawn. */
  'host.resolved': obj({
    requestId: str({ min: 1, max: 64 }),
    outcome: oneOf(['accepted', 'refused', 'withdrawn'] as const),
  }),
  /** The server is going away; reconnect later. */
  'server.shutdown': obj({ reason: str({ max: 256 }) }),
} as const satisfies Record<string, Schema<object>>;

/** The type of an event. */
export type EventType = keyof typeof EVENTS;
/** The fields of an event of type `K` (without `type`). */
export type EventBody<K extends EventType> = Infer<(typeof EVENTS)[K]>;
/** An event frame. */
export type ServerEvent = { [K in EventType]: { type: K } & EventBody<K> }[EventType];

/** An answer frame. */
export type ServerAnswer =
  | { type: 'result'; id: number; result: object }
  | { type: 'error'; id?: number; code: SigErrorCode; message: string };

/** Any frame the server sends. */
export type ServerMessage = ServerEvent | ServerAnswer;

// ---- parsing -------------------------------------------------------------------------------

/** Result of parsing an untrusted frame: the message, or a typed error (never a throw). */
export type ParseResult<T> =
  { ok: true; value: T } | { ok: false; error: SignalingError; id?: number };

function byteLength(text: string): number {
  // Upper bound first: UTF-16 length × 3 ≥ UTF-8 length, so most frames skip the encode.
  if (text.length * 3 <= MAX_FRAME_BYTES) return text.length;
  return new TextEncoder().encode(text).length;
}

function parseJsonObject(text: string): ParseResult<Record<string, unknown>> {
  if (byteLength(text) > MAX_FRAME_BYTES) {
    return {
      ok: false,
      error: new SignalingError(
        'SIG_ERR_MESSAGE_TOO_LARGE',
        `frame exceeds ${MAX_FRAME_BYTES} bytes`,
      ),
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      error: new SignalingError('SIG_ERR_BAD_JSON', 'frame is not valid JSON', { cause: err }),
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      ok: false,
      error: new SignalingError('SIG_ERR_SCHEMA', 'frame must be a JSON object'),
    };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

const requestIdSchema = int({ min: 1, max: Number.MAX_SAFE_INTEGER });

/** Parses one client → server frame. */
export function parseClientMessage(text: string): ParseResult<ClientRequest> {
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return parsed;
  const frame = parsed.value;
  const idCheck = validate(requestIdSchema, frame.id, '$.id');
  const id = idCheck.ok ? idCheck.value : undefined;
  const type = frame.type;
  if (typeof type !== 'string' || !Object.hasOwn(REQUESTS, type)) {
    return {
      ok: false,
      id,
      error: new SignalingError(
        'SIG_ERR_UNKNOWN_TYPE',
        `unknown request type ${JSON.stringify(type)?.slice(0, 64)}`,
      ),
    };
  }
  if (!idCheck.ok) {
    return {
      ok: false,
      error: new SignalingError('SIG_ERR_SCHEMA', `$.id: expected ${idCheck.expected}`),
    };
  }
  const schema = REQUESTS[type as RequestType].params as Schema<object>;
  const v = validate(schema, frame);
  if (!v.ok) {
    return {
      ok: false,
      id,
      error: new SignalingError('SIG_ERR_SCHEMA', `${type}: ${v.path}: expected ${v.expected}`),
    };
  }
  return { ok: true, value: { ...v.value, type, id } as ClientRequest };
}

/** Parses one server → client frame (the client validates too: servers can be wrong). */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return parsed;
  const frame = parsed.value;
  const type = frame.type;
  if (type === 'result') {
    const id = validate(requestIdSchema, frame.id);
    if (!id.ok || typeof frame.result !== 'object' || frame.result === null) {
      return { ok: false, error: new SignalingError('SIG_ERR_SCHEMA', 'result: bad id or result') };
    }
    return { ok: true, value: { type, id: id.value, result: frame.result } };
  }
  if (type === 'error') {
    const id = validate(requestIdSchema, frame.id);
    const code = isSigErrorCode(frame.code) ? frame.code : 'SIG_ERR_INTERNAL';
    const message = typeof frame.message === 'string' ? frame.message.slice(0, 1024) : String(code);
    return { ok: true, value: { type, ...(id.ok ? { id: id.value } : {}), code, message } };
  }
  if (typeof type !== 'string' || !Object.hasOwn(EVENTS, type)) {
    return {
      ok: false,
      error: new SignalingError(
        'SIG_ERR_UNKNOWN_TYPE',
        `unknown event type ${JSON.stringify(type)?.slice(0, 64)}`,
      ),
    };
  }
  const v = validate(EVENTS[type as EventType] as Schema<object>, frame);
  if (!v.ok) {
    return {
      ok: false,
      error: new SignalingError('SIG_ERR_SCHEMA', `${type}: ${v.path}: expected ${v.expected}`),
    };
  }
  return { ok: true, value: { ...v.value, type } as ServerEvent };
}

/** Validates the result of a request of type `K`. */
export function parseResult<K extends RequestType>(
  type: K,
  result: unknown,
): ParseResult<RequestResult<K>> {
  const v = validate(REQUESTS[type].result as Schema<RequestResult<K>>, result, '$.result');
  if (!v.ok) {
    return {
      ok: false,
      error: new SignalingError(
        'SIG_ERR_SCHEMA',
        `${type} result: ${v.path}: expected ${v.expected}`,
      ),
    };
  }
  return { ok: true, value: v.value };
}

/** Serializes a request frame. */
export function encodeRequest<K extends RequestType>(
  type: K,
  id: number,
  params: RequestParams<K>,
): string {
  return JSON.stringify({ ...params, type, id });
}

/** Serializes an event frame. */
export function encodeEvent<K extends EventType>(type: K, body: EventBody<K>): string {
  return JSON.stringify({ type, ...body });
}

/** Serializes a result frame. */
export function encodeResult(id: number, result: object): string {
  return JSON.stringify({ type: 'result', id, result });
}

/** Serializes an error frame. */
export function encodeError(id: number | undefined, code: SigErrorCode, message: string): string {
  return JSON.stringify(
    id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message },
  );
}
