/**
 * The local control API (docs/control-api.md), defined once: a native client (`parloir app`,
 * `parloir connect --ui`, `parloir host --ui`) is driven by its web UI, or by a script, over HTTP
 * and a WebSocket on 127.0.0.1. Every command with its arguments and result, every message the
 * client pushes (state, session events, media state, QoS) and the state itself are schemas here,
 * with their TS types inferred from them; the control server (packages/client/src/control) and
 * the web UI's native backend (packages/web/src/native) both import them and both validate what
 * they receive, so neither declares the shapes again nor casts into them.
 *
 * Wire format, one JSON object per WebSocket text frame (or the body of `POST /api/command`):
 * - UI → client: `{id, command, args}` ({@link parseControlRequest});
 * - client → UI: `{type:'result', id, result}` or `{type:'error', id, code, message}`, and the
 *   pushed messages of {@link controlPushSchema} ({@link parseControlPush}).
 */
import {
  CALL_END_REASONS,
  callRecordSchema,
  chatMessageSchema,
  MAX_HISTORY_PAGE,
  EVENTS,
  iceServerSchema,
  MAX_CHAT_CHARS,
  nameSchema,
  SETTABLE_STATUSES,
  STATUSES,
  userIdSchema,
  userInfoSchema,
} from './messages.ts';
import {
  arr,
  bool,
  int,
  intOneOf,
  nullable,
  num,
  obj,
  oneOf,
  optional,
  str,
  tagged,
  validate,
  type Infer,
  type Schema,
} from './schema.ts';

/** Version of the control API messages (2: schema-validated, app and host commands). */
export const CONTROL_API_VERSION = 2;

/** Largest control frame or command body, bytes. */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024;

// ---- errors --------------------------------------------------------------------------------

/** Codes of the control API's own errors (commands pass on their target's codes too). */
export const CONTROL_ERROR_CODES = [
  /** Not JSON, not an object, a binary frame, or arguments that fail the command's schema. */
  'CONTROL_ERR_BAD_REQUEST',
  /** The command name is not one of {@link CONTROL_COMMANDS}. */
  'CONTROL_ERR_UNKNOWN_COMMAND',
  /** Missing or wrong token. */
  'CONTROL_ERR_UNAUTHORIZED',
  /** The command needs a state the client is not in (e.g. `invite` while not connected). */
  'CONTROL_ERR_WRONG_STATE',
  /** Something failed inside the client; the message says what. */
  'CONTROL_ERR_INTERNAL',
] as const;
/** A control API error code. */
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

/** A typed control API error. */
export class ControlApiError extends Error {
  /** Stable machine-readable code. */
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlApiError';
    this.code = code;
  }
}

// ---- shared pieces -------------------------------------------------------------------------

const callIdSchema = str({ min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });
const requestIdSchema = str({ min: 1, max: 64 });
const peerSchema = obj({ userId: userIdSchema, name: nameSchema });
const empty = obj({});
/** Any JSON object, kept whole (a command's result, checked later against its own schema). */
const anyObjectSchema: Schema<object> = {
  optional: false,
  check(v, path) {
    empty.check(v, path);
    return v as object;
  },
};

/**
 * The native engine's call settings, in force or for the next call. The one declaration: the
 * engine (packages/client/src/qos-log) and the web UI use this type.
 */
export const callSettingsSchema = obj({
  /** Opus target bitrate, bit/s. */
  bitrateBps: int({ min: 6000, max: 510_000 }),
  /** Opus frame duration, ms (the engine accepts 10, 20, 40 or 60). */
  frameMs: int({ min: 10, max: 60 }),
  /** Opus in-band FEC (RFC 6716 §2.1.7 LBRR). */
  fec: bool(),
  /** Expected packet loss given to the encoder, percent. */
  expectedLossPct: num({ min: 0, max: 100 }),
  /** Discontinuous transmission. */
  dtx: bool(),
  /** Jitter-buffer minimum delay, ms. */
  jbMinMs: num({ min: 0, max: 2000 }),
  /** Jitter-buffer maximum delay, ms. */
  jbMaxMs: num({ min: 0, max: 2000 }),
  /** ALSA period, ms. */
  periodMs: num({ min: 1, max: 100 }),
  /** Input (capture) gain, dB. */
  gainDb: num({ min: -60, max: 30 }),
  /** Microphone muted. */
  muted: bool(),
  /** Automatic adaptation on. */
  adapt: bool(),
  /**
   * Output (playback) volume, percent of the decoded level (0..400; absent = 100, as in QoS
   * logs written before it existed).
   */
  volumePct: optional(num({ min: 0, max: 400 })),
  /**
   * Echo cancellation, noise suppression and automatic gain control of the capture (issue 20).
   * Absent: on for an `alsa:` capture, off for `wav:`/`null` (and in logs written before them).
   */
  aec: optional(bool()),
  ns: optional(bool()),
  agc: optional(bool()),
  /** How hard the echo canceller suppresses residual echo (webrtc); absent = 'low'. */
  aecLevel: optional(oneOf(['low', 'moderate', 'high'] as const)),
  /** Noise suppression level 0 (low) … 3 (very high); absent = 2. */
  nsLevel: optional(int({ min: 0, max: 3 })),
  /** Processing engine: webrtc AudioProcessing or speexdsp; absent = 'webrtc'. */
  audioEngine: optional(oneOf(['webrtc', 'speex'] as const)),
});
/** The native engine's call settings. */
export type CallSettings = Infer<typeof callSettingsSchema>;

/** Names accepted by the `set` command (`set bitrate 24k`, as on the CLI). */
export const SETTING_NAMES = [
  'bitrate',
  'frame',
  'fec',
  'loss',
  'dtx',
  'jb-min',
  'jb-max',
  'period',
  'gain',
  'mute',
  'adapt',
  'volume',
  'aec',
  'ns',
  'agc',
  'aec-level',
  'ns-level',
  'audio-engine',
] as const;
/** One setting name. */
export type SettingName = (typeof SETTING_NAMES)[number];

/** A media-policy parameter change, as a suggestion proposes it (`@parloir/media` ParamChange). */
export const paramChangeSchema = obj({
  /** kbit/s. */
  bitrateKbps: optional(num({ min: 0, max: 510 })),
  fec: optional(bool()),
  /** Percent. */
  expectedLossPct: optional(num({ min: 0, max: 100 })),
  /** ms. */
  frameMs: optional(intOneOf([10, 20, 40, 60] as const)),
  /** ms. */
  jitterMinDelayMs: optional(num({ min: 0, max: 2000 })),
});

/** One suggestion of the media policy, in both languages. */
export const suggestionSchema = obj({
  id: optional(str({ max: 64 })),
  en: str({ max: 500 }),
  fr: str({ max: 500 }),
  change: optional(paramChangeSchema),
});

/** The capture's audio processing in a QoS snapshot (issue 20). */
export const echoStateSchema = obj({
  /** 'off' (nothing on), 'webrtc' or 'speex'. */
  engine: oneOf(['off', 'webrtc', 'speex'] as const),
  /** Echo cancellation on. */
  aec: bool(),
  /** The canceller's estimate of the echo delay beyond the device's, ms; null if none yet. */
  delayMs: nullable(num({ min: -1000, max: 10_000 })),
  /** Echo return loss enhancement measured over ~1 s of far-end speech, dB; null if none. */
  erleDb: nullable(num({ min: -200, max: 200 })),
  /** The far end played ≥ 1 s since the AEC started and ERLE reached 10 dB. */
  converged: bool(),
});
/** The audio processing state in a snapshot. */
export type EchoState = Infer<typeof echoStateSchema>;

/**
 * The once-a-second QoS snapshot, as far as a control client reads it (the QoS log holds more;
 * unknown fields are dropped by the schema).
 */
export const qosViewSchema = obj({
  /** Time since the call's media started, ms. */
  tMs: num({ min: 0 }),
  /** 'direct', 'relayed' or 'unknown'. */
  path: str({ max: 32 }),
  /** 'restarting' while an ICE restart is under way (issue 21 §2), 'up' otherwise. */
  pathState: optional(oneOf(['up', 'restarting'] as const)),
  /** RTCP round-trip time, ms; null before the first report. */
  rttMs: nullable(num({ min: 0 })),
  /** Loss of the incoming stream over the last second, percent. */
  lossPct: num({ min: 0, max: 100 }),
  /** Interarrival jitter (RFC 3550 §A.8), ms. */
  jitterMs: num({ min: 0 }),
  /** Sent bitrate over the last second, kbit/s. */
  sendKbps: num({ min: 0 }),
  /** Jitter buffer delay, ms. */
  jitterBuffer: obj({ delayMs: num({ min: 0 }) }),
  /** MOS (E-model). */
  mos: num({ min: 0, max: 5 }),
  /** Grade from the MOS. */
  grade: str({ max: 16 }),
  /** Suggestions that fired this second. */
  suggestions: arr(suggestionSchema, { max: 16 }),
  /** Settings in force. */
  settings: callSettingsSchema,
  /** Peak level of the capture over the last second, dBFS (−100 for silence). */
  inputLevelDb: optional(num({ min: -200, max: 10 })),
  /** The capture's audio processing and its echo canceller's state. */
  echo: optional(echoStateSchema),
});
/** A QoS snapshot as control clients see it. */
export type QosView = Infer<typeof qosViewSchema>;

/** Media state of the current call. */
export const mediaStateSchema = obj({
  /** 'idle' (no call), 'connecting' (ICE/DTLS), 'up', 'failed'. */
  phase: oneOf(['idle', 'connecting', 'up', 'failed'] as const),
  callId: optional(callIdSchema),
  peer: optional(str({ max: 64 })),
  /** Verification code, once both fingerprints are known. */
  sas: optional(obj({ words: str({ max: 200 }), digits: str({ max: 16 }) })),
  path: optional(str({ max: 64 })),
  sendPath: optional(str({ max: 256 })),
  receivePath: optional(str({ max: 256 })),
  settings: optional(callSettingsSchema),
  logPath: optional(str({ max: 4096 })),
  error: optional(str({ max: 2048 })),
  errorCode: optional(str({ max: 64 })),
  pinnedNow: optional(bool()),
});
/** Media state of the current call. */
export type ControlMediaState = Infer<typeof mediaStateSchema>;

/** The signalling connection's state (`ClientSession.connection`). */
export const connectionStateSchema = tagged('kind', {
  disconnected: obj({
    closeCode: optional(int({ min: 0, max: 65535 })),
    closeReason: optional(str({ max: 256 })),
    fatal: bool(),
  }),
  'awaiting-hello': empty,
  authenticating: empty,
  'pending-approval': empty,
  ready: empty,
});

/** The session's call state (`ClientSession.call`, call-state.ts). */
export const callStateSchema = tagged('phase', {
  idle: empty,
  inviting: obj({ peerId: userIdSchema, callId: optional(callIdSchema) }),
  outgoing: obj({ callId: callIdSchema, peerId: userIdSchema, ringing: bool() }),
  incoming: obj({ callId: callIdSchema, peer: peerSchema }),
  active: obj({
    callId: callIdSchema,
    peer: peerSchema,
    role: oneOf(['offerer', 'answerer'] as const),
    iceServers: arr(iceServerSchema, { max: 16 }),
    relayOnly: bool(),
  }),
});

/** One conversation of the session. */
export const conversationSchema = obj({
  peerId: userIdSchema,
  messages: arr(chatMessageSchema, { max: 10_000 }),
  unread: int({ min: 0 }),
});

/** A remembered host decision about one key (kept across restarts). */
export const hostDecisionSchema = obj({
  /** The guest's key fingerprint (its user id). */
  fingerprint: userIdSchema,
  /** The name it asked with. */
  name: nameSchema,
  /** Accepted (true) or refused (false) without asking again. */
  accept: bool(),
});
/** A remembered host decision. */
export type HostDecision = Infer<typeof hostDecisionSchema>;
/** The remembered decisions (the profile's `host-decisions.json`). */
export const hostDecisionListSchema = arr(hostDecisionSchema, { max: 1000 });

/** How many recent servers the app keeps. */
export const MAX_RECENT_SERVERS = 8;
/** Servers connected to, most recent first (the profile's `recent-servers.json`). */
export const recentServerListSchema = arr(str({ min: 1, max: 300 }), { max: MAX_RECENT_SERVERS });

const fingerprintSchema = str({ min: 1, max: 200, pattern: /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/ });

/**
 * A question about a server's TLS certificate, asked before connecting: `new` on a first
 * connection (compare the fingerprint with the one the server printed), `changed` when it
 * differs from the pinned one (a warning: someone may be in the middle).
 */
export const trustQuestionSchema = obj({
  kind: oneOf(['new', 'changed'] as const),
  /** `host:port` as pinned. */
  server: str({ min: 1, max: 300 }),
  /** SHA-256 fingerprint of the certificate presented now, `AB:CD:…`. */
  fingerprint: fingerprintSchema,
  /** The pinned fingerprint (`changed`). */
  pinned: optional(fingerprintSchema),
});
/** A question about a server's certificate. */
export type TrustQuestion = Infer<typeof trustQuestionSchema>;

/** ALSA (and other) audio devices the engine can open, as device specs (`alsa:NAME`). */
export const deviceListSchema = obj({
  capture: arr(obj({ spec: str({ max: 512 }), description: str({ max: 512 }) }), { max: 256 }),
  playback: arr(obj({ spec: str({ max: 512 }), description: str({ max: 512 }) }), { max: 256 }),
});
/** Audio devices. */
export type DeviceList = Infer<typeof deviceListSchema>;

/** What the app is doing, besides the session: `idle` (no server), `client`, or `host`. */
export const appStateSchema = obj({
  mode: oneOf(['idle', 'client', 'host'] as const),
  /** The server connected to, as typed (client mode). */
  server: optional(str({ max: 300 })),
  /** Servers connected to before, most recent first. */
  recentServers: recentServerListSchema,
  /** Host mode: addresses guests can type to reach this machine. */
  hostAddresses: optional(arr(str({ max: 300 }), { max: 16 })),
  /** Host mode: remembered decisions. */
  decisions: hostDecisionListSchema,
  /** The capture and playback device specs in use. */
  input: str({ max: 512 }),
  output: str({ max: 512 }),
  /** Whether the UI may start and stop connections (`parloir app`), or the command line did. */
  canConnect: bool(),
});
/** What the app is doing. */
export type AppState = Infer<typeof appStateSchema>;

/** Everything a new control client needs to render before events arrive. */
export const controlStateSchema = obj({
  version: int({ min: 0 }),
  app: appStateSchema,
  connection: connectionStateSchema,
  userId: nullable(userIdSchema),
  name: str({ max: 64 }),
  status: oneOf(STATUSES),
  online: arr(userInfoSchema, { max: 1_000_000 }),
  call: callStateSchema,
  conversations: arr(conversationSchema, { max: 10_000 }),
  joinRequests: arr(EVENTS['host.request'], { max: 1000 }),
  media: mediaStateSchema,
});
/** The control state. */
export type ControlState = Infer<typeof controlStateSchema>;

// ---- commands ------------------------------------------------------------------------------

/** Every command: its arguments and the schema of its result. */
export const CONTROL_COMMANDS = {
  /** The current {@link ControlState}. */
  state: { args: empty, result: controlStateSchema },
  /**
   * App: connect to a server typed by the user (`host[:port]`, `https://…`, `http://…`). When
   * its certificate is new or changed the app does not connect and returns the question; the
   * person accepts by sending the command again with `trust` set to that fingerprint.
   */
  connect: {
    args: obj({
      server: str({ min: 1, max: 300 }),
      name: nameSchema,
      password: optional(str({ max: 256 })),
      trust: optional(fingerprintSchema),
    }),
    result: obj({ trust: optional(trustQuestionSchema) }),
  },
  /** App: leave the server, or stop hosting (hangs up first). */
  disconnect: { args: empty, result: empty },
  /** App: host a call on this machine (stage one): a server in host mode with me as host. */
  host: {
    args: obj({ name: nameSchema, password: optional(str({ max: 256 })) }),
    result: obj({ addresses: arr(str({ max: 300 }), { max: 16 }) }),
  },
  /** The audio devices the engine can open (ALSA PCMs, `null`), by direction. */
  devices: { args: empty, result: deviceListSchema },
  /**
   * Choose the capture and playback devices (device specs: `alsa:NAME`, `wav:PATH`, `null`): both
   * change at once, during a call too (alsa: to alsa:, without dropping the call), and stay for
   * the next calls.
   */
  setDevices: {
    args: obj({
      input: optional(str({ min: 1, max: 512 })),
      output: optional(str({ min: 1, max: 512 })),
    }),
    result: empty,
  },
  /**
   * "Test my microphone and speaker": records `seconds` (default 3) from the capture device,
   * plays them back, and returns the recording's peak level (dBFS). Not during a call.
   */
  testDevices: {
    args: obj({ seconds: optional(num({ min: 0.5, max: 10 })) }),
    result: obj({ seconds: num({ min: 0 }), peakDb: num({ min: -200, max: 10 }) }),
  },
  /** Call someone. */
  invite: { args: obj({ peerId: userIdSchema }), result: obj({ callId: callIdSchema }) },
  /** Accept the incoming call. */
  accept: { args: empty, result: empty },
  /** Refuse the incoming call. */
  reject: { args: empty, result: empty },
  /** Cancel the outgoing call. */
  cancel: { args: empty, result: empty },
  /** End the call. */
  hangup: { args: empty, result: empty },
  /** Send a chat message. */
  sendChat: {
    args: obj({ to: userIdSchema, text: str({ min: 1, max: MAX_CHAT_CHARS }) }),
    result: chatMessageSchema,
  },
  /** Load a conversation's recent messages. */
  loadHistory: {
    args: obj({ peerId: userIdSchema }),
    result: obj({ messages: arr(chatMessageSchema, { max: 10_000 }) }),
  },
  /** My recorded calls and missed calls, newest first (the server's records). */
  callHistory: {
    args: obj({ limit: optional(int({ min: 1, max: MAX_HISTORY_PAGE })) }),
    result: obj({ calls: arr(callRecordSchema, { max: MAX_HISTORY_PAGE }) }),
  },
  /** Mark a conversation read. */
  markRead: { args: obj({ peerId: userIdSchema }), result: empty },
  /** Set my status. */
  setStatus: { args: obj({ status: oneOf(SETTABLE_STATUSES) }), result: empty },
  /** Block a user. */
  block: { args: obj({ userId: userIdSchema }), result: empty },
  /** Unblock a user. */
  unblock: { args: obj({ userId: userIdSchema }), result: empty },
  /** The users I block. */
  blocked: {
    args: empty,
    result: obj({ users: arr(peerSchema, { max: 100_000 }) }),
  },
  /** Host: accept or refuse a join request; `remember` keeps the decision across restarts. */
  decideJoin: {
    args: obj({ requestId: requestIdSchema, accept: bool(), remember: optional(bool()) }),
    result: empty,
  },
  /** Host: forget a remembered decision (that key is asked again next time). */
  forgetDecision: { args: obj({ fingerprint: userIdSchema }), result: empty },
  /** Host: remove a guest now (its connection closed, its approval withdrawn). */
  removeGuest: { args: obj({ userId: userIdSchema }), result: empty },
  /** Change a media setting: applied now in a call, and kept for the next call. */
  set: {
    args: obj({ name: oneOf(SETTING_NAMES), value: str({ min: 1, max: 32 }) }),
    result: callSettingsSchema,
  },
  /** Media state and the last QoS snapshot. */
  stats: { args: empty, result: obj({ media: mediaStateSchema, qos: nullable(qosViewSchema) }) },
} as const satisfies Record<string, { args: Schema<object>; result: Schema<object> }>;

/** A command name. */
export type ControlCommand = keyof typeof CONTROL_COMMANDS;
/** The arguments of command `K`. */
export type ControlArgs<K extends ControlCommand> = Infer<(typeof CONTROL_COMMANDS)[K]['args']>;
/** The result of command `K`. */
export type ControlResult<K extends ControlCommand> = Infer<(typeof CONTROL_COMMANDS)[K]['result']>;
/** A validated command request. */
export type ControlRequest = {
  [K in ControlCommand]: { id: number | undefined; command: K; args: ControlArgs<K> };
}[ControlCommand];

// ---- pushed messages (client → UI) ---------------------------------------------------------

/**
 * Session events relayed to control clients: the `ClientSessionEvents` the UI follows, with
 * JSON-safe payloads (the presence map as an array, errors as `{code, message}`). Call signals
 * stay inside the native client.
 */
export const controlEventSchema = tagged('event', {
  connection: obj({ payload: connectionStateSchema }),
  ready: obj({ payload: obj({ userId: userIdSchema, name: nameSchema, resumed: bool() }) }),
  presence: obj({
    payload: obj({
      online: arr(userInfoSchema, { max: 1_000_000 }),
      joined: arr(userInfoSchema, { max: 1_000_000 }),
      left: arr(userIdSchema, { max: 1_000_000 }),
      changed: arr(obj({ userId: userIdSchema, status: oneOf(STATUSES) }), { max: 1_000_000 }),
    }),
  }),
  call: obj({ payload: callStateSchema }),
  incomingCall: obj({ payload: obj({ callId: callIdSchema, from: peerSchema }) }),
  callAccepted: obj({
    payload: obj({
      phase: oneOf(['active'] as const),
      callId: callIdSchema,
      peer: peerSchema,
      role: oneOf(['offerer', 'answerer'] as const),
      iceServers: arr(iceServerSchema, { max: 16 }),
      relayOnly: bool(),
    }),
  }),
  callEnded: obj({
    payload: obj({
      callId: callIdSchema,
      reason: oneOf(CALL_END_REASONS),
      by: optional(userIdSchema),
    }),
  }),
  callMissed: obj({ payload: EVENTS['call.missed'] }),
  /** The peer's signalling dropped mid-call; the server keeps the call `graceMs` ms (issue 21). */
  peerReconnecting: obj({ payload: EVENTS['call.peerReconnecting'] }),
  /** The peer re-attached to the call. */
  peerReconnected: obj({ payload: EVENTS['call.peerReconnected'] }),
  chat: obj({ payload: chatMessageSchema }),
  unread: obj({ payload: obj({ peerId: userIdSchema, count: int({ min: 0 }) }) }),
  joinRequest: obj({ payload: EVENTS['host.request'] }),
  joinResolved: obj({ payload: EVENTS['host.resolved'] }),
  shutdown: obj({ payload: obj({ reason: str({ max: 256 }) }) }),
  error: obj({ payload: obj({ code: str({ max: 64 }), message: str({ max: 2048 }) }) }),
});
/** A relayed session event. */
export type ControlEvent = Infer<typeof controlEventSchema>;
/** A relayed session event's name. */
export type ControlEventName = ControlEvent['event'];
/** The payload of relayed event `K`. */
export type ControlEventPayload<K extends ControlEventName> = Extract<
  ControlEvent,
  { event: K }
>['payload'];

/** Every message the client pushes, and the answers to commands. */
export const controlPushSchema = tagged('type', {
  /** Sent first on every socket, and after the app connects, disconnects or starts hosting. */
  state: obj({ state: controlStateSchema }),
  /** A session event. */
  event: controlEventSchema,
  /** The media state changed. */
  media: obj({ state: mediaStateSchema }),
  /** Once-a-second QoS of the call. */
  qos: obj({ snapshot: qosViewSchema }),
  /** The call's media is over. */
  mediaEnded: obj({
    callId: callIdSchema,
    reason: str({ max: 128 }),
    durationMs: num({ min: 0 }),
    logPath: optional(str({ max: 4096 })),
  }),
  /** A command's result (validated against the command's result schema by the caller). */
  result: obj({ id: int({ min: 0 }), result: anyObjectSchema }),
  /** A command failed. */
  error: obj({
    id: optional(int({ min: 0 })),
    code: str({ min: 1, max: 64 }),
    message: str({ max: 2048 }),
  }),
});
/** A pushed message. */
export type ControlPush = Infer<typeof controlPushSchema>;

// ---- parsing -------------------------------------------------------------------------------

/** Result of parsing: the value, or a typed error (never a throw). */
export type ControlParse<T> =
  { ok: true; value: T } | { ok: false; error: ControlApiError; id?: number | undefined };

const envelopeSchema = obj({
  id: optional(int({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  command: str({ min: 1, max: 64 }),
});

/**
 * Parses a command request, from JSON text or an already parsed value. Unknown commands get
 * `CONTROL_ERR_UNKNOWN_COMMAND`, anything malformed `CONTROL_ERR_BAD_REQUEST` with the failing
 * path; the request id is returned with the error when it could be read.
 */
export function parseControlRequest(input: unknown): ControlParse<ControlRequest> {
  let value: unknown = input;
  if (typeof input === 'string') {
    if (input.length > MAX_CONTROL_FRAME_BYTES) {
      return { ok: false, error: bad(`request over ${MAX_CONTROL_FRAME_BYTES} bytes`) };
    }
    try {
      value = JSON.parse(input);
    } catch (err) {
      return {
        ok: false,
        error: new ControlApiError('CONTROL_ERR_BAD_REQUEST', 'not JSON', { cause: err }),
      };
    }
  }
  const env = validate(envelopeSchema, value);
  const rawId =
    typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
  const id = typeof rawId === 'number' && Number.isSafeInteger(rawId) ? rawId : undefined;
  if (!env.ok) return { ok: false, id, error: bad(`${env.path}: expected ${env.expected}`) };
  const { command } = env.value;
  if (!Object.hasOwn(CONTROL_COMMANDS, command)) {
    return {
      ok: false,
      id,
      error: new ControlApiError(
        'CONTROL_ERR_UNKNOWN_COMMAND',
        `unknown command '${command}' (one of ${Object.keys(CONTROL_COMMANDS).join(', ')})`,
      ),
    };
  }
  const name = command as ControlCommand;
  const frame = value as { args?: unknown };
  const rawArgs = Object.hasOwn(frame, 'args') ? frame.args : {};
  const args = validate(CONTROL_COMMANDS[name].args as Schema<object>, rawArgs, '$.args');
  if (!args.ok) {
    return { ok: false, id, error: bad(`${name}: ${args.path}: expected ${args.expected}`) };
  }
  return { ok: true, value: { id, command: name, args: args.value } as ControlRequest };
}

/** Parses one pushed message (the UI validates too: a stale or newer client may differ). */
export function parseControlPush(text: string): ControlParse<ControlPush> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      error: new ControlApiError('CONTROL_ERR_BAD_REQUEST', 'not JSON', { cause: err }),
    };
  }
  const v = validate(controlPushSchema, value);
  if (!v.ok) return { ok: false, error: bad(`${v.path}: expected ${v.expected}`) };
  return { ok: true, value: v.value };
}

/** Validates the result of command `K` as received by a control client. */
export function parseControlResult<K extends ControlCommand>(
  command: K,
  result: unknown,
): ControlParse<ControlResult<K>> {
  const schema = CONTROL_COMMANDS[command].result as Schema<ControlResult<K>>;
  const v = validate(schema, result, '$.result');
  if (!v.ok) return { ok: false, error: bad(`${command} result: ${v.path}: ${v.expected}`) };
  return { ok: true, value: v.value };
}

function bad(message: string): ControlApiError {
  return new ControlApiError('CONTROL_ERR_BAD_REQUEST', message);
}
