/**
 * Browser mode: the protocol's ClientSession over the page's WebSocket (`/ws` on the server that
 * served the page, or the one typed in [Server]), with automatic reconnection (capped exponential
 * backoff), and WebRTC media in the page. Signalling state goes to the store through the shared
 * {@link SessionBinding}; this file only adds transport and media.
 */
import {
  ClientSession,
  SignalingError,
  backoffDelayMs,
  serverOriginName,
  checkPin,
  toBase64,
  MediaAuthError,
  type CallSignal,
  type ContactPin,
  type CallState,
} from '@parloir/protocol';
import type { Backend, ConnectOptions } from '../app/backend.ts';
import { SuggestionAdvisor } from '../app/quality.ts';
import { SessionBinding, toUiMessage } from '../app/session-binding.ts';
import { initialState, type ChangedKey, type Store } from '../app/store.ts';
import type { UiSettings, CallView, PresenceStatus, Suggestion, UiError } from '../app/types.ts';
import { loadIdentity } from './identity.ts';
import { WebRtcCall, type CallStatsSample } from './webrtc-call.ts';

/** Call parameters at the start of each call, in browser mode. */
export const DEFAULT_BROWSER_SETTINGS: UiSettings = { bitrateKbps: 32, frameMs: 20, fec: true };

/** How often the page sends an application-level `ping`, in ms (browsers cannot send WS pings). */
const KEEPALIVE_MS = 15_000;

/** What tests and the curious can read from `window.parloirDebug`. */
export interface DebugInfo {
  /** The last getStats() poll of the current call. */
  lastStats: CallStatsSample | null;
  /** Number of stats polls in the current call. */
  polls: number;
  /** Peer connection states of the current call, or null. */
  peer: () => Record<string, string | number> | null;
  /** Signals sent and received in the current call, by kind. */
  signals: Record<string, number>;
}

declare global {
  interface Window {
    /** Live media counters, for tests and troubleshooting. */
    parloirDebug?: DebugInfo;
  }
}

/** `host:port`, `http(s)://host:port[/…]` or `ws(s)://…` → the WebSocket URL of `/ws`. */
export function wsUrlFor(server: string, pageProtocol: string): string {
  const s = server.trim();
  const m = /^(https?|wss?):\/\/([^/]+)/i.exec(s);
  if (m !== null) {
    const scheme = (m[1] ?? '').toLowerCase();
    const secure = scheme === 'https' || scheme === 'wss';
    return `${secure ? 'wss' : 'ws'}://${m[2] ?? ''}/ws`;
  }
  const host = s.replace(/\/.*$/, '');
  return `${pageProtocol === 'https:' ? 'wss' : 'ws'}://${host}/ws`;
}

const PINS_PREFIX = 'parloir.contacts.';

/**
 * Contact keys pinned at the first call (issue 17 §1), per own name, in localStorage: the first
 * call with a name pins its key; another key under that name is refused (MEDIA_AUTH_ERR_KEY_CHANGED)
 * until the person trusts the new key (the key-changed warning's action, {@link trustContactKey})
 * or removes the pin (browser storage of this site).
 */
function checkContactPin(
  myName: string,
  peer: { name: string; userId: string; identityKey: Uint8Array },
): void {
  const pins = readPins(myName);
  const existing = pins[peer.name];
  const pin = checkPin(existing, peer, new Date().toISOString());
  if (existing === undefined) {
    pins[peer.name] = pin;
    writePins(myName, pins);
  }
}

function readPins(myName: string): Record<string, ContactPin> {
  try {
    const raw: unknown = JSON.parse(
      localStorage.getItem(PINS_PREFIX + myName.toLowerCase()) ?? '{}',
    );
    return typeof raw === 'object' && raw !== null ? (raw as Record<string, ContactPin>) : {};
  } catch {
    return {};
  }
}

function writePins(myName: string, pins: Record<string, ContactPin>): void {
  localStorage.setItem(PINS_PREFIX + myName.toLowerCase(), JSON.stringify(pins));
}

/** Replaces the pin of `changed.name` by its new key, pinned now. */
function trustContactKey(myName: string, changed: ChangedKey): void {
  const pins = readPins(myName);
  pins[changed.name] = {
    userId: changed.userId,
    publicKey: changed.publicKey,
    pinnedAt: new Date().toISOString(),
  };
  writePins(myName, pins);
}

function uiError(err: unknown, fallbackCode: string): UiError {
  if (err instanceof SignalingError) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: fallbackCode, message };
}

/** The browser backend. */
export class BrowserBackend implements Backend {
  readonly mode = 'browser' as const;
  #store: Store;
  #session: ClientSession | null = null;
  #binding: SessionBinding | null = null;
  #ws: WebSocket | null = null;
  #wsUrl = '';
  #userClosed = false;
  #everReady = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #keepalive: ReturnType<typeof setInterval> | null = null;
  #lastError: UiError | null = null;
  #connectDone: (() => void) | null = null;
  #mic: Promise<MediaStream> | null = null;
  #rtc: WebRtcCall | null = null;
  /** The call whose media was refused (issue 17 §1) and why, until its callEnded. */
  #authFailure: { callId: string; message: string } | null = null;
  #rtcCallId: string | null = null;
  #earlySignals: { callId: string; signal: CallSignal }[] = [];
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #settings: UiSettings = { ...DEFAULT_BROWSER_SETTINGS };
  #nextLocalId = 1;
  #advisor: SuggestionAdvisor | null = null;
  #endedCallIds = new Set<string>();
  /** The call's media outlived its signalling (server restart); only media ends it now. */
  #orphan = false;
  #lastView: CallView | null = null;
  #disconnectedTimer: ReturnType<typeof setTimeout> | null = null;
  #debug: DebugInfo = {
    lastStats: null,
    polls: 0,
    peer: () => this.#rtc?.describe() ?? null,
    signals: {},
  };

  /** A backend writing into `store`. */
  constructor(store: Store) {
    this.#store = store;
    window.parloirDebug = this.#debug;
  }

  connect(opts: ConnectOptions): Promise<void> {
    this.#teardown();
    this.#userClosed = false;
    this.#everReady = false;
    this.#attempt = 0;
    this.#lastError = null;
    this.#wsUrl = wsUrlFor(opts.server, location.protocol);
    this.#store.update({
      phase: 'connecting',
      error: null,
      server: opts.server,
      myName: opts.name,
    });
    return new Promise<void>((resolve) => {
      this.#connectDone = resolve;
      loadIdentity(opts.name).then(
        (identity) => {
          const session = new ClientSession({
            identity,
            name: opts.name,
            ...(opts.password !== undefined ? { password: opts.password } : {}),
            // The login names the server we connect to (issue 17 §2).
            serverName: () => serverOriginName(this.#wsUrl),
          });
          this.#session = session;
          this.#binding = new SessionBinding(session, this.#store);
          this.#wire(session);
          this.#open();
        },
        (err: unknown) => this.#fail(uiError(err, 'WEB_ERR_CRYPTO')),
      );
    });
  }

  #wire(session: ClientSession): void {
    session.on('connection', (c) => {
      if (c.kind === 'pending-approval') this.#store.update({ phase: 'awaiting-approval' });
    });
    // The call history: at login, and again whenever a call ends or is missed.
    const refreshCalls = (): void => {
      session.callHistory().then(
        (calls) => this.#store.update({ calls }),
        () => undefined,
      );
    };
    session.on('callMissed', refreshCalls);
    session.on('callEnded', refreshCalls);
    session.on('ready', () => {
      this.#attempt = 0;
      // Back after a drop with the call (the session re-attached it): the relay allocations may
      // have died with a restarted server, so the path restarts (issue 21 §2).
      const c = session.call;
      if (this.#everReady && c.phase === 'active' && c.callId === this.#rtcCallId)
        this.#rtc?.restartIce('reattached');
      this.#everReady = true;
      this.#connectDone?.();
      this.#connectDone = null;
      refreshCalls();
      session.blocked().then(
        (users) => this.#binding?.setBlockedList(users),
        () => undefined,
      );
    });
    session.on('error', (err) => {
      this.#lastError = { code: err.code, message: err.message };
      if (this.#everReady && err.code !== 'SIG_ERR_DISCONNECTED')
        this.#store.update({ error: this.#lastError });
    });
    session.on('unread', (u) => {
      if (u.count > 0 && this.#store.get().openChat === u.peerId) session.markRead(u.peerId);
    });
    session.on('callEnded', (e) => {
      this.#endedCallIds.add(e.callId);
      // Runs after the session binding's own outcome ("call ended"): the reason the media was
      // refused stays what the person sees.
      const refused = this.#authFailure;
      if (refused?.callId === e.callId) {
        this.#authFailure = null;
        this.#store.endCall('failed', refused.message);
      }
    });
    session.on('call', (c: CallState) => {
      this.#store.update({ myStatus: c.phase === 'active' ? 'in-call' : session.status });
      if (c.phase !== 'idle') {
        if (this.#rtcCallId !== null && c.phase !== 'active') this.#stopMedia();
        return;
      }
      this.#earlySignals = [];
      const rtc = this.#rtc;
      const callId = this.#rtcCallId;
      const view = this.#store.get().call ?? this.#lastView;
      if (rtc === null || callId === null) return;
      // `callEnded` follows `call` in the same tick when the server ended the call. Without it,
      // the session dropped the call because the server forgot it (restart): keep the call while
      // its media path is alive, as a call signalling no longer knows about.
      setTimeout(() => {
        if (this.#rtc !== rtc) return;
        if (this.#endedCallIds.has(callId) || !rtc.connected || view === null) {
          this.#stopMedia();
          return;
        }
        this.#orphan = true;
        this.#store.update({ call: view, lastOutcome: null });
      }, 0);
    });
    session.on('callAccepted', (c) => {
      this.#startMedia(c.callId, c.role, c.iceServers, c.relayOnly).catch((err: unknown) => {
        this.#store.update({ error: uiError(err, 'WEB_ERR_MICROPHONE') });
        void session.hangup().catch(() => undefined);
      });
    });
    session.on('signal', (s) => {
      const key = `in:${s.signal.kind}`;
      this.#debug.signals[key] = (this.#debug.signals[key] ?? 0) + 1;
      if (this.#rtc !== null && this.#rtcCallId === s.callId) void this.#rtc.handleSignal(s.signal);
      else this.#earlySignals.push({ callId: s.callId, signal: s.signal });
    });
    session.on('peerReconnected', (e) => {
      // The peer is back: it may have missed our restart while it was away.
      if (e.callId === this.#rtcCallId) this.#rtc?.restartIce('reattached');
    });
    session.on('shutdown', () => {
      this.#lastError = { code: 'SIG_ERR_SHUTTING_DOWN', message: 'server shutting down' };
    });
  }

  #open(): void {
    const session = this.#session;
    if (session === null) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#wsUrl);
    } catch (err) {
      this.#fail(uiError(err, 'WEB_ERR_UNREACHABLE'));
      return;
    }
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      session.handleOpen({ send: (t) => ws.send(t), close: (c, r) => ws.close(c, r) });
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === 'string') session.handleText(e.data);
    };
    ws.onclose = (e) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      session.handleClose(e.code, e.reason);
      this.#onClosed(opened, e.code, e.reason);
    };
    if (this.#keepalive === null) {
      this.#keepalive = setInterval(() => {
        if (session.connection.kind === 'ready')
          void session.request('ping', {}).catch(() => undefined);
      }, KEEPALIVE_MS);
    }
  }

  #onClosed(opened: boolean, code: number, reason: string): void {
    if (this.#userClosed) return;
    const fatal = code === 4001 || code === 4003 || code === 4009;
    if (!this.#everReady || fatal) {
      const err: UiError =
        code === 4003
          ? { code: 'SIG_ERR_REFUSED', message: reason || 'refused by host' }
          : (this.#lastError ??
            (opened
              ? { code: 'WEB_ERR_CLOSED', message: reason || `connection closed (${code})` }
              : { code: 'WEB_ERR_UNREACHABLE', message: `cannot reach ${this.#wsUrl}` }));
      this.#fail(err);
      return;
    }
    // A live call keeps its media path: RTCPeerConnection does not depend on the WebSocket.
    // In a call the wait is capped lower: a relayed call's audio waits for the re-attach and
    // its ICE restart (issue 21 §3), and the server keeps the call only for its grace period.
    this.#store.update({ phase: 'reconnecting' });
    const inCall = this.#session?.call.phase === 'active';
    const delay = backoffDelayMs(this.#attempt++, { baseMs: 500, maxMs: inCall ? 2000 : 5000 });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#open();
    }, delay);
  }

  #fail(error: UiError): void {
    this.#teardown();
    const s = this.#store.get();
    this.#store.update({
      ...initialState([], 'browser'),
      lang: s.lang,
      theme: s.theme,
      server: s.server,
      myName: s.myName,
      error,
    });
    this.#connectDone?.();
    this.#connectDone = null;
  }

  #teardown(): void {
    this.#stopMedia();
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#reconnectTimer = null;
    this.#keepalive = null;
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'bye');
    this.#binding?.dispose();
    this.#binding = null;
    this.#session = null;
    if (this.#mic !== null) {
      const mic = this.#mic;
      this.#mic = null;
      void mic.then((m) => m.getTracks().forEach((t) => t.stop())).catch(() => undefined);
    }
  }

  disconnect(): void {
    this.#userClosed = true;
    const session = this.#session;
    if (session !== null && session.call.phase !== 'idle')
      void session.hangup().catch(() => undefined);
    this.#teardown();
    const s = this.#store.get();
    this.#store.update({
      ...initialState([], 'browser'),
      lang: s.lang,
      theme: s.theme,
      server: s.server,
      myName: s.myName,
    });
  }

  // ---- media --------------------------------------------------------------------------------

  #ensureMic(): Promise<MediaStream> {
    this.#mic ??= navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    const p = this.#mic;
    p.catch(() => {
      if (this.#mic === p) this.#mic = null;
    });
    return p;
  }

  async #startMedia(
    callId: string,
    role: 'offerer' | 'answerer',
    iceServers: RTCIceServer[],
    relayOnly: boolean,
  ): Promise<void> {
    const session = this.#session;
    if (session === null) return;
    const mic = await this.#ensureMic();
    if (session.call.phase !== 'active' || session.call.callId !== callId) return;
    this.#stopMedia();
    this.#settings = { ...DEFAULT_BROWSER_SETTINGS };
    this.#advisor = new SuggestionAdvisor(this.#settings);
    this.#store.update({ samples: [], suggestions: [], settings: this.#settings });
    for (const t of mic.getAudioTracks()) t.enabled = !(this.#store.get().call?.muted ?? false);
    this.#rtcCallId = callId;
    const peer = session.call.peer;
    const selfUserId = session.userId;
    if (selfUserId === undefined) return;
    const rtc = new WebRtcCall({
      auth: {
        identity: session.identity,
        selfUserId,
        callId,
        peer: { userId: peer.userId, name: peer.name },
        checkPin: (p) => {
          try {
            checkContactPin(this.#store.get().myName ?? session.name, p);
          } catch (err) {
            if (err instanceof MediaAuthError && err.code === 'MEDIA_AUTH_ERR_KEY_CHANGED') {
              const changedKey = {
                name: p.name,
                userId: p.userId,
                publicKey: toBase64(p.identityKey),
              };
              this.#store.update({ changedKey });
            }
            throw err;
          }
        },
      },
      onAuthFailed: (err) => {
        if (this.#rtc !== rtc) return;
        // The peer's media key did not check out: say why, and end the call.
        const message = `${err.code}: ${err.message}`;
        this.#authFailure = { callId, message };
        this.#store.update({ error: { code: err.code, message: err.message } });
        this.#store.endCall('failed', message);
        void this.#session?.hangup().catch(() => undefined);
        this.#stopMedia();
      },
      role,
      iceServers,
      relayOnly,
      mic,
      settings: this.#settings,
      sendSignal: (signal) => {
        const key = `out:${signal.kind}`;
        this.#debug.signals[key] = (this.#debug.signals[key] ?? 0) + 1;
        session.sendSignal(signal).catch((err: unknown) => {
          this.#debug.signals[`fail:${signal.kind}`] = 1;
          console.warn('parloir: signal not sent', err);
        });
      },
      onConnection: (state) => this.#onMediaState(rtc, state),
      onRestarting: (restarting) => {
        if (this.#rtc === rtc) this.#store.updateCall({ pathRestarting: restarting });
      },
    });
    this.#rtc = rtc;
    rtc.setVolume(this.#store.get().call?.volume ?? 1);
    // Signals that arrived while the microphone was being opened (typically the offer).
    for (const s of this.#earlySignals.splice(0)) {
      if (s.callId === callId) await rtc.handleSignal(s.signal);
    }
  }

  #onMediaState(rtc: WebRtcCall, state: 'connected' | 'failed' | 'disconnected'): void {
    if (this.#rtc !== rtc) return;
    if (state === 'connected') {
      const call = this.#store.get().call;
      if (call !== null && call.phase !== 'active')
        this.#store.updateCall({ phase: 'active', activeSinceMs: Date.now() });
      void rtc.sas().then((sas) => {
        if (sas !== undefined && this.#rtc === rtc) this.#store.updateCall({ sas });
      });
      if (this.#statsTimer === null) {
        this.#debug.polls = 0;
        this.#statsTimer = setInterval(() => void this.#pollStats(rtc), 1000);
      }
    } else if (state === 'failed') {
      this.#store.endCall(this.#orphan ? 'hangup' : 'failed', 'media connection failed');
      if (!this.#orphan) void this.#session?.hangup().catch(() => undefined);
      this.#stopMedia();
    } else if (this.#orphan && this.#disconnectedTimer === null) {
      // Nobody will signal the end of an orphan call: a peer gone for 5 s has hung up.
      this.#disconnectedTimer = setTimeout(() => {
        this.#disconnectedTimer = null;
        if (this.#rtc === rtc && !rtc.connected) this.#endOrphan();
      }, 5000);
    }
  }

  #endOrphan(): void {
    this.#stopMedia();
    this.#store.endCall('hangup');
  }

  async #pollStats(rtc: WebRtcCall): Promise<void> {
    if (this.#rtc !== rtc) return;
    const s = await rtc.poll(Date.now());
    if (this.#rtc !== rtc) return;
    this.#debug.lastStats = s;
    this.#debug.polls++;
    this.#store.pushSample(s.sample);
    this.#lastView = this.#store.get().call ?? this.#lastView;
    if (this.#advisor !== null && s.sample.lossPct !== null) {
      const suggestions = this.#advisor.next(
        {
          lossPct: s.sample.lossPct,
          jitterMs: s.sample.jitterMs ?? 0,
          oneWayDelayMs: s.oneWayDelayMs,
          ...(s.sample.rttMs !== null ? { rttMs: s.sample.rttMs } : {}),
        },
        this.#settings,
      );
      if (suggestions !== this.#store.get().suggestions) this.#store.update({ suggestions });
    }
    if (s.path !== undefined && this.#store.get().call?.path !== s.path)
      this.#store.updateCall({ path: s.path });
  }

  #stopMedia(): void {
    this.#orphan = false;
    this.#lastView = null;
    if (this.#disconnectedTimer !== null) clearTimeout(this.#disconnectedTimer);
    this.#disconnectedTimer = null;
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#statsTimer = null;
    this.#rtc?.close();
    this.#rtc = null;
    this.#rtcCallId = null;
  }

  // ---- actions ------------------------------------------------------------------------------

  #withSession(fn: (s: ClientSession) => Promise<unknown>, code = 'WEB_ERR_ACTION'): void {
    const s = this.#session;
    if (s === null) return;
    fn(s).catch((err: unknown) => this.#store.update({ error: uiError(err, code) }));
  }

  setStatus(status: PresenceStatus): void {
    if (status === 'in-call') return;
    this.#withSession(async (s) => {
      await s.setStatus(status);
      this.#store.update({ myStatus: status });
    });
  }

  call(peerId: string): void {
    const session = this.#session;
    if (session === null) return;
    // Ask for the microphone now, inside the click, so the permission prompt is tied to it.
    this.#ensureMic().catch((err: unknown) =>
      this.#store.update({ error: uiError(err, 'WEB_ERR_MICROPHONE') }),
    );
    const peerName = this.#binding?.nameOf(peerId) ?? peerId;
    session.invite(peerId).catch((err: unknown) => {
      const e = uiError(err, 'WEB_ERR_ACTION');
      const outcome =
        e.code === 'SIG_ERR_UNAVAILABLE'
          ? 'offline'
          : e.code === 'SIG_ERR_ALREADY_IN_CALL'
            ? 'busy'
            : 'failed';
      this.#store.update({
        call: null,
        lastOutcome: { outcome, peerName, message: e.message },
      });
    });
  }

  accept(): void {
    this.#ensureMic().catch((err: unknown) =>
      this.#store.update({ error: uiError(err, 'WEB_ERR_MICROPHONE') }),
    );
    this.#withSession((s) => s.accept());
  }

  refuse(): void {
    this.#withSession((s) => s.reject());
  }

  cancel(): void {
    this.#withSession((s) => s.cancel());
  }

  hangUp(): void {
    if (this.#orphan) this.#endOrphan();
    else this.#withSession((s) => s.hangup());
  }

  setMuted(muted: boolean): void {
    this.#rtc?.setMuted(muted);
    if (this.#rtc === null && this.#mic !== null)
      void this.#mic.then((m) => m.getAudioTracks().forEach((t) => (t.enabled = !muted)));
    this.#store.updateCall({ muted });
  }

  setVolume(volume: number): void {
    this.#rtc?.setVolume(volume);
    this.#store.updateCall({ volume });
  }

  sendChat(peerId: string, text: string): void {
    const session = this.#session;
    const me = this.#store.get().myId;
    if (session === null || me === null) return;
    const localId = `local-${this.#nextLocalId++}`;
    this.#store.upsertMessage(peerId, {
      id: localId,
      from: me,
      to: peerId,
      text,
      atMs: Date.now(),
      pending: true,
    });
    session.sendChat(peerId, text).then(
      (m) => this.#store.upsertMessage(peerId, toUiMessage(m), localId),
      (err: unknown) => {
        this.#store.removeMessage(peerId, localId);
        this.#store.update({ error: uiError(err, 'WEB_ERR_ACTION') });
      },
    );
  }

  openChat(peerId: string): void {
    this.#store.update({ openChat: peerId });
    const session = this.#session;
    if (session === null) return;
    session.markRead(peerId);
    if (this.#store.get().chats[peerId]?.loaded === true) return;
    session.loadHistory(peerId).then(
      () => {
        const conv = session.conversations.get(peerId);
        this.#store.setHistory(peerId, (conv?.messages ?? []).map(toUiMessage));
      },
      (err: unknown) => this.#store.update({ error: uiError(err, 'WEB_ERR_ACTION') }),
    );
  }

  block(peerId: string): void {
    this.#withSession(async (s) => {
      await s.block(peerId);
      this.#binding?.setBlocked(peerId, true);
    });
  }

  unblock(peerId: string): void {
    this.#withSession(async (s) => {
      await s.unblock(peerId);
      this.#binding?.setBlocked(peerId, false);
    });
  }

  answerRequest(requestId: string, accept: boolean): void {
    // A browser page keeps no decisions: the native host (`parloir app`) remembers them.
    this.#withSession((s) => s.decideJoin(requestId, accept));
  }

  removeGuest(peerId: string): void {
    this.#withSession((s) => s.removeGuest(peerId));
  }

  host(): void {
    // A page cannot listen for connections; the UI offers hosting in native mode only.
    this.#store.update({
      error: { code: 'WEB_ERR_NATIVE_ONLY', message: 'hosting needs the native app' },
    });
  }

  testDevices(): void {
    // Native only: the page shows no device test (the browser has its own settings).
  }

  setDevices(): void {
    // The page's microphone is the browser's choice (getUserMedia); nothing to set here.
  }

  trustChangedKey(): void {
    const s = this.#store.get();
    if (s.changedKey === null) return;
    trustContactKey(s.myName, s.changedKey);
    this.#store.update({ changedKey: null });
  }

  forgetDecision(): void {
    this.#store.update({
      error: {
        code: 'WEB_ERR_NATIVE_ONLY',
        message: 'remembered decisions live in the native app',
      },
    });
  }

  applySettings(change: UiSettings): void {
    const rtc = this.#rtc;
    // Jitter buffer bounds belong to the browser's NetEq; they are not settable from a page.
    const { jbMinMs: _min, jbMaxMs: _max, ...usable } = change;
    this.#settings = { ...this.#settings, ...usable };
    this.#store.update({ settings: this.#settings });
    if (rtc === null) return;
    rtc
      .apply(usable)
      .catch((err: unknown) => this.#store.update({ error: uiError(err, 'WEB_ERR_SETTINGS') }));
  }

  applySuggestion(s: Suggestion): void {
    this.applySettings(s.change);
    this.#advisor?.dismiss(s.id);
    this.#store.update((st) => ({ appliedSuggestions: [...st.appliedSuggestions, s.id] }));
  }
}
