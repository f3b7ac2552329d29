/**
 * The control API's meaning, apart from its sockets: what a validated command does to the app
 * (a {@link ControlApp}: the current session and media, plus connecting, hosting and host
 * decisions), the state a new control client starts from, and session events made JSON-safe.
 * Every shape comes from `@parloir/protocol`'s control-api.ts.
 */
import {
  CONTROL_API_VERSION,
  ControlApiError,
  type AppState,
  type ClientSession,
  type ControlArgs,
  type ControlEvent,
  type ControlMediaState,
  type ControlRequest,
  type ControlResult,
  type ControlState,
  type DeviceList,
} from '@parloir/protocol';
import type { CallMedia, MediaState } from '../engine/call-media.ts';

/** The session and media the commands act on. */
export interface ControlTarget {
  /** The signalling session. */
  session: ClientSession;
  /** The call media. */
  media: CallMedia;
}

/** What the control API drives: the app around the current connection. */
export interface ControlApp {
  /** The current connection's session and media, or undefined while idle. */
  readonly target: ControlTarget | undefined;
  /** What the app is doing. */
  appState(): AppState;
  /** Connects to a server typed by the user, unless its certificate needs a decision first. */
  connect(args: ControlArgs<'connect'>): Promise<ControlResult<'connect'>>;
  /** Leaves the server or stops hosting. */
  disconnect(): Promise<void>;
  /** Hosts a call on this machine. */
  host(args: ControlArgs<'host'>): Promise<ControlResult<'host'>>;
  /** Host: decides a join request, remembering the decision when asked. */
  decideJoin(args: ControlArgs<'decideJoin'>): Promise<void>;
  /** Host: forgets a remembered decision. */
  forgetDecision(fingerprint: string): void;
  /** The audio devices the engine can open. */
  devices(): DeviceList;
  /** Records from the capture device and plays it back (not during a call). */
  testDevices(args: ControlArgs<'testDevices'>): Promise<ControlResult<'testDevices'>>;
  /** Chooses the devices: at once (during a call too, alsa: to alsa:) and for the next calls. */
  setDevices(args: ControlArgs<'setDevices'>): Promise<void>;
  /** Subscribes to target changes (connect, disconnect, host); returns the unsubscribe. */
  onChanged(listener: () => void): () => void;
}

/**
 * Relays the session's events to `send` as control events (the presence map as an array, errors
 * as code + message); call signals stay inside the native client. Returns the unsubscribe.
 */
export function relaySessionEvents(s: ClientSession, send: (e: ControlEvent) => void): () => void {
  const offs = [
    s.on('connection', (payload) => send({ event: 'connection', payload })),
    s.on('ready', (payload) => send({ event: 'ready', payload })),
    s.on('presence', (p) =>
      send({ event: 'presence', payload: { ...p, online: [...p.online.values()] } }),
    ),
    s.on('call', (payload) => send({ event: 'call', payload })),
    s.on('incomingCall', (payload) => send({ event: 'incomingCall', payload })),
    s.on('callAccepted', (payload) => send({ event: 'callAccepted', payload })),
    s.on('callEnded', (payload) => send({ event: 'callEnded', payload })),
    s.on('callMissed', (payload) => send({ event: 'callMissed', payload })),
    s.on('peerReconnecting', (payload) => send({ event: 'peerReconnecting', payload })),
    s.on('peerReconnected', (payload) => send({ event: 'peerReconnected', payload })),
    s.on('chat', (payload) => send({ event: 'chat', payload })),
    s.on('unread', (payload) => send({ event: 'unread', payload })),
    s.on('joinRequest', (payload) => send({ event: 'joinRequest', payload })),
    s.on('joinResolved', (payload) => send({ event: 'joinResolved', payload })),
    s.on('shutdown', (payload) => send({ event: 'shutdown', payload })),
    s.on('error', (e) => send({ event: 'error', payload: { code: e.code, message: e.message } })),
  ];
  return () => {
    for (const off of offs) off();
  };
}

/** The media state as the control API carries it (the QoS snapshot travels on its own). */
export function toControlMedia(m: MediaState): ControlMediaState {
  const { qos: _qos, ...rest } = m;
  return rest;
}

/** The state a new control client renders before events arrive. */
export function controlState(app: ControlApp): ControlState {
  const t = app.target;
  const appState = app.appState();
  if (t === undefined) {
    return {
      version: CONTROL_API_VERSION,
      app: appState,
      connection: { kind: 'disconnected', fatal: false },
      userId: null,
      name: '',
      status: 'available',
      online: [],
      call: { phase: 'idle' },
      conversations: [],
      joinRequests: [],
      media: { phase: 'idle' },
    };
  }
  const s = t.session;
  return {
    version: CONTROL_API_VERSION,
    app: appState,
    connection: s.connection,
    userId: s.userId ?? null,
    name: s.name,
    status: s.status,
    online: [...s.online.values()],
    call: s.call,
    conversations: [...s.conversations].map(([peerId, c]) => ({
      peerId,
      messages: c.messages,
      unread: c.unread,
    })),
    joinRequests: [...s.joinRequests.values()],
    media: toControlMedia(t.media.state),
  };
}

function need(app: ControlApp): ControlTarget {
  const t = app.target;
  if (t === undefined) {
    throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'not connected to a server');
  }
  return t;
}

/** Runs one validated command; resolves with its result or rejects with a typed error. */
export async function runCommand(app: ControlApp, req: ControlRequest): Promise<object> {
  switch (req.command) {
    case 'state':
      return controlState(app);
    case 'connect':
      return app.connect(req.args);
    case 'disconnect':
      await app.disconnect();
      return {};
    case 'host':
      return app.host(req.args);
    case 'decideJoin':
      await app.decideJoin(req.args);
      return {};
    case 'forgetDecision':
      app.forgetDecision(req.args.fingerprint);
      return {};
    case 'devices':
      return app.devices();
    case 'testDevices':
      return app.testDevices(req.args);
    case 'setDevices':
      await app.setDevices(req.args);
      return {};
    case 'removeGuest': {
      // Removing also forgets an "always accept", or the guest would be let back in at once.
      app.forgetDecision(req.args.userId);
      await need(app).session.removeGuest(req.args.userId);
      return {};
    }
    case 'set': {
      // Settings apply without a connection too: they are kept for the next call.
      const media = app.target?.media;
      if (media === undefined) {
        throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'no engine: not connected');
      }
      return media.set(req.args.name, req.args.value);
    }
    default:
      return runSessionCommand(need(app), req);
  }
}

async function runSessionCommand(t: ControlTarget, req: ControlRequest): Promise<object> {
  const s = t.session;
  switch (req.command) {
    case 'invite':
      return { callId: await s.invite(req.args.peerId) };
    case 'accept':
      await s.accept();
      return {};
    case 'reject':
      await s.reject();
      return {};
    case 'cancel':
      await s.cancel();
      return {};
    case 'hangup':
      await s.hangup();
      return {};
    case 'sendChat':
      return s.sendChat(req.args.to, req.args.text);
    case 'callHistory':
      return { calls: await s.callHistory(req.args.limit) };
    case 'loadHistory':
      return { messages: await s.loadHistory(req.args.peerId) };
    case 'markRead':
      s.markRead(req.args.peerId);
      return {};
    case 'setStatus':
      await s.setStatus(req.args.status);
      return {};
    case 'block':
      await s.block(req.args.userId);
      return {};
    case 'unblock':
      await s.unblock(req.args.userId);
      return {};
    case 'blocked':
      return { users: await s.blocked() };
    case 'stats': {
      const m = t.media;
      return {
        media: toControlMedia(m.state),
        qos: m.engine === undefined ? null : await m.engine.snapshotNow(),
      };
    }
    default:
      throw new ControlApiError('CONTROL_ERR_INTERNAL', `command '${req.command}' not routed`);
  }
}
