/**
 * Native mode: the page drives a native client (`parloir app`, `parloir host --ui`, `parloir
 * connect --ui`) through its local control API (docs/control-api.md): one WebSocket to
 * `/api/ws?token=…` on 127.0.0.1. Every message is parsed with `@parloir/protocol`'s control-API
 * schemas, the same the native side uses; `event` messages are the protocol `ClientSession`
 * events, so they go through the same {@link SessionBinding} as in browser mode; `media` and
 * `qos` messages carry the native engine's state and once-a-second QoS.
 */
import {
  isSigErrorCode,
  parseControlPush,
  parseControlResult,
  SignalingError,
  type CallSettings,
  type ClientSessionEvents,
  type ControlArgs,
  type ControlCommand,
  type ControlEvent,
  type ControlMediaState,
  type ControlPush,
  type ControlResult,
  type ControlState,
  type QosView,
} from '@parloir/protocol';
import type { Backend, ConnectOptions } from '../app/backend.ts';
import { WebError } from '../errors.ts';
import { toUiSuggestion } from '../app/quality.ts';
import { SessionBinding, toUiMessage, type SessionEventSource } from '../app/session-binding.ts';
import type { Store } from '../app/store.ts';
import type {
  ConnPhase,
  Grade,
  PresenceStatus,
  QosSample,
  Suggestion,
  UiError,
  UiSettings,
} from '../app/types.ts';

type Listeners = {
  [K in keyof ClientSessionEvents]?: Set<(payload: ClientSessionEvents[K]) => void>;
};

interface Pending {
  settle: (result: unknown) => void;
  reject: (e: WebError) => void;
}

function isGrade(g: string): g is Grade {
  return g === 'excellent' || g === 'good' || g === 'fair' || g === 'poor' || g === 'bad';
}

function uiError(err: WebError): UiError {
  return { code: err.code, message: err.message };
}

/** The engine's settings (bit/s) as the settings form shows them (kbit/s). */
export function fromNativeSettings(s: CallSettings): UiSettings {
  return {
    bitrateKbps: Math.round(s.bitrateBps / 1000),
    frameMs: s.frameMs,
    fec: s.fec,
    dtx: s.dtx,
    jbMinMs: s.jbMinMs,
    jbMaxMs: s.jbMaxMs,
    alsaPeriodMs: s.periodMs,
    gainDb: s.gainDb,
    adapt: s.adapt,
    // Absent only before the first call: the engine then applies the device's default.
    ...(s.aec === undefined ? {} : { aec: s.aec }),
    ...(s.ns === undefined ? {} : { ns: s.ns }),
    ...(s.agc === undefined ? {} : { agc: s.agc }),
  };
}

/** The `set` commands that apply a settings-form change to the native engine. */
export function toSetCommands(change: UiSettings): ControlArgs<'set'>[] {
  const out: ControlArgs<'set'>[] = [];
  const onOff = (b: boolean): string => (b ? 'on' : 'off');
  if (change.bitrateKbps !== undefined)
    out.push({ name: 'bitrate', value: `${change.bitrateKbps}k` });
  if (change.frameMs !== undefined) out.push({ name: 'frame', value: String(change.frameMs) });
  if (change.fec !== undefined) out.push({ name: 'fec', value: onOff(change.fec) });
  if (change.dtx !== undefined) out.push({ name: 'dtx', value: onOff(change.dtx) });
  if (change.jbMinMs !== undefined) out.push({ name: 'jb-min', value: String(change.jbMinMs) });
  if (change.jbMaxMs !== undefined) out.push({ name: 'jb-max', value: String(change.jbMaxMs) });
  if (change.alsaPeriodMs !== undefined)
    out.push({ name: 'period', value: String(change.alsaPeriodMs) });
  if (change.gainDb !== undefined) out.push({ name: 'gain', value: String(change.gainDb) });
  if (change.adapt !== undefined) out.push({ name: 'adapt', value: onOff(change.adapt) });
  if (change.aec !== undefined) out.push({ name: 'aec', value: onOff(change.aec) });
  if (change.ns !== undefined) out.push({ name: 'ns', value: onOff(change.ns) });
  if (change.agc !== undefined) out.push({ name: 'agc', value: onOff(change.agc) });
  return out;
}

/** The UI's connection phase for a native connection state. */
function phaseOf(kind: ControlState['connection']['kind'], everReady: boolean): ConnPhase {
  if (kind === 'ready') return 'connected';
  if (kind === 'pending-approval') return 'awaiting-approval';
  if (kind === 'disconnected') return everReady ? 'reconnecting' : 'idle';
  return everReady ? 'reconnecting' : 'connecting';
}

/** The native backend. */
export class NativeBackend implements Backend {
  readonly mode = 'native' as const;
  #store: Store;
  #token: string;
  #ws: WebSocket | null = null;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #listeners: Listeners = {};
  #binding: SessionBinding;
  #everReady = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  /** Opens the control API with `token` and follows the native client's state. */
  constructor(store: Store, token: string) {
    this.#store = store;
    this.#token = token;
    const source: SessionEventSource = {
      on: (event, listener) => {
        const existing = this.#listeners[event];
        const set = existing ?? new Set([listener]);
        // Object.assign: a plain write through the generic key needs the intersection type.
        if (existing === undefined) Object.assign(this.#listeners, { [event]: set });
        else set.add(listener);
        return () => set.delete(listener);
      },
    };
    this.#binding = new SessionBinding(source, store);
    this.#open();
  }

  #emit<K extends keyof ClientSessionEvents>(event: K, payload: ClientSessionEvents[K]): void {
    for (const l of this.#listeners[event] ?? []) l(payload);
  }

  #open(): void {
    const ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws?token=${encodeURIComponent(this.#token)}`,
    );
    this.#ws = ws;
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      const msg = parseControlPush(e.data);
      if (!msg.ok) {
        console.warn('parloir: bad control message', msg.error.message);
        return;
      }
      this.#onMessage(msg.value);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      for (const p of this.#pending.values())
        p.reject(new WebError('WEB_ERR_CONTROL_CLOSED', 'native client went away'));
      this.#pending.clear();
      this.#store.update({ phase: this.#everReady ? 'reconnecting' : 'idle' });
      this.#reconnectTimer = setTimeout(() => this.#open(), 1000);
    };
  }

  #onMessage(msg: ControlPush): void {
    switch (msg.type) {
      case 'state':
        this.#applyState(msg.state);
        return;
      case 'event':
        this.#onEvent(msg);
        return;
      case 'media':
        this.#applyMedia(msg.state);
        return;
      case 'qos':
        this.#applyQos(msg.snapshot);
        return;
      case 'mediaEnded':
        this.#store.update({ inputLevelDb: null });
        return;
      case 'result':
      case 'error': {
        const id = msg.id;
        const p = id === undefined ? undefined : this.#pending.get(id);
        if (p === undefined || id === undefined) return;
        this.#pending.delete(id);
        if (msg.type === 'result') p.settle(msg.result);
        else p.reject(new WebError(msg.code, msg.message));
        return;
      }
    }
  }

  #onEvent(e: ControlEvent): void {
    switch (e.event) {
      case 'presence':
        this.#emit('presence', {
          ...e.payload,
          online: new Map(e.payload.online.map((u) => [u.userId, u])),
        });
        return;
      case 'connection':
        this.#store.update({ phase: phaseOf(e.payload.kind, this.#everReady) });
        this.#emit('connection', e.payload);
        return;
      case 'ready':
        this.#emit('ready', e.payload);
        this.#afterReady();
        return;
      case 'error': {
        const code = e.payload.code;
        this.#emit(
          'error',
          new SignalingError(isSigErrorCode(code) ? code : 'SIG_ERR_INTERNAL', e.payload.message),
        );
        return;
      }
      case 'call':
        this.#emit('call', e.payload);
        return;
      case 'incomingCall':
        this.#emit('incomingCall', e.payload);
        return;
      case 'callAccepted':
        this.#emit('callAccepted', e.payload);
        return;
      case 'callEnded':
        this.#emit('callEnded', e.payload);
        this.#refreshCalls();
        return;
      case 'callMissed':
        this.#emit('callMissed', e.payload);
        this.#refreshCalls();
        return;
      case 'peerReconnecting':
        this.#emit('peerReconnecting', e.payload);
        return;
      case 'peerReconnected':
        this.#emit('peerReconnected', e.payload);
        return;
      case 'chat':
        this.#emit('chat', e.payload);
        return;
      case 'unread':
        this.#emit('unread', e.payload);
        return;
      case 'joinRequest':
        this.#emit('joinRequest', e.payload);
        return;
      case 'joinResolved':
        this.#emit('joinResolved', e.payload);
        return;
      case 'shutdown':
        this.#emit('shutdown', e.payload);
        return;
    }
  }

  /** The call history: at login, and again whenever a call ends or is missed. */
  #refreshCalls(): void {
    this.#command('callHistory', {}).then(
      (r) => this.#store.update({ calls: r.calls }),
      () => undefined,
    );
  }

  #afterReady(): void {
    this.#everReady = true;
    this.#refreshCalls();
    this.#command('blocked', {}).then(
      (r) => this.#binding.setBlockedList(r.users),
      () => undefined,
    );
  }

  #applyState(s: ControlState): void {
    const app = s.app;
    if (this.#store.get().devices.capture.length === 0) {
      this.#command('devices', {}).then(
        (devices) => this.#store.update({ devices }),
        () => undefined,
      );
    }
    this.#store.update({
      native: app,
      myName: s.name,
      myId: s.userId,
      isHost: app.mode === 'host',
      server: app.mode === 'client' ? (app.server ?? '') : app.mode === 'host' ? 'host' : '',
    });
    if (app.mode === 'idle') {
      // Disconnected by the user (or never connected): the connect screen, a clean slate.
      this.#everReady = false;
      this.#store.update({ phase: 'idle', people: [], hostRequests: [], call: null, chats: {} });
    }
    if (s.connection.kind === 'ready' && s.userId !== null) {
      this.#emit('ready', { userId: s.userId, name: s.name, resumed: true });
      this.#afterReady();
    }
    this.#store.update({ phase: phaseOf(s.connection.kind, this.#everReady) });
    this.#emit('presence', {
      online: new Map(s.online.map((u) => [u.userId, u])),
      joined: [],
      left: [],
      changed: [],
    });
    this.#emit('call', s.call);
    for (const conv of s.conversations) {
      this.#store.setHistory(conv.peerId, conv.messages.map(toUiMessage));
      this.#store.setUnread(conv.peerId, conv.unread);
    }
    for (const r of s.joinRequests) this.#emit('joinRequest', r);
    this.#applyMedia(s.media);
  }

  #applyMedia(m: ControlMediaState): void {
    if (m.settings !== undefined) this.#store.update({ settings: fromNativeSettings(m.settings) });
    const call = this.#store.get().call;
    if (call === null) return;
    if (m.phase === 'up' && call.phase !== 'active') {
      this.#store.updateCall({ phase: 'active', activeSinceMs: Date.now() });
    }
    if (m.phase === 'connecting' && call.phase === 'ringing') this.#store.update({ samples: [] });
    if (m.sas !== undefined) this.#store.updateCall({ sas: m.sas.words });
    if (m.path !== undefined && m.path !== 'unknown')
      this.#store.updateCall({ path: m.path === 'direct' ? 'direct' : 'relay' });
    if (m.settings !== undefined)
      this.#store.updateCall({
        muted: m.settings.muted,
        volume: (m.settings.volumePct ?? 100) / 100,
      });
    if (m.phase === 'failed') this.#store.endCall('failed', m.error);
  }

  #applyQos(q: QosView): void {
    const sample: QosSample = {
      t: Date.now() / 1000,
      jitterMs: q.jitterMs,
      lossPct: q.lossPct,
      rttMs: q.rttMs,
      mos: q.mos,
      bitrateKbps: q.sendKbps,
      bufferDelayMs: q.jitterBuffer.delayMs,
      ...(isGrade(q.grade) ? { grade: q.grade } : {}),
    };
    this.#store.pushSample(sample);
    this.#store.update({
      suggestions: q.suggestions.map(toUiSuggestion),
      settings: fromNativeSettings(q.settings),
      inputLevelDb: q.inputLevelDb ?? null,
    });
    if (q.path !== 'unknown')
      this.#store.updateCall({ path: q.path === 'direct' ? 'direct' : 'relay' });
    // The engine's ICE restart (issue 21 §2): "Restarting the path…" until it is up again.
    if (q.pathState !== undefined)
      this.#store.updateCall({ pathRestarting: q.pathState === 'restarting' });
  }

  /** Sends a command; resolves with its result, checked against the command's result schema. */
  #command<K extends ControlCommand>(command: K, args: ControlArgs<K>): Promise<ControlResult<K>> {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new WebError('WEB_ERR_CONTROL_CLOSED', 'native client not reachable'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        settle: (result) => {
          const r = parseControlResult(command, result);
          if (r.ok) resolve(r.value);
          else reject(new WebError(r.error.code, r.error.message));
        },
        reject,
      });
      ws.send(JSON.stringify({ id, command, args }));
    });
  }

  #run<K extends ControlCommand>(command: K, args: ControlArgs<K>): void {
    this.#command(command, args).catch((err: WebError) =>
      this.#store.update({ error: uiError(err) }),
    );
  }

  connect(opts: ConnectOptions): Promise<void> {
    this.#store.update({
      phase: 'connecting',
      error: null,
      server: opts.server,
      myName: opts.name,
      trustQuestion: null,
    });
    return this.#command('connect', {
      server: opts.server,
      name: opts.name,
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.trust === undefined ? {} : { trust: opts.trust }),
    }).then(
      (r) => {
        // A new or changed certificate: nothing connected; the connect screen asks.
        if (r.trust !== undefined) this.#store.update({ phase: 'idle', trustQuestion: r.trust });
      },
      (err: WebError) => this.#store.update({ phase: 'idle', error: uiError(err) }),
    );
  }

  host(opts: { name: string; password?: string }): void {
    this.#store.update({ phase: 'connecting', error: null, myName: opts.name });
    this.#command('host', opts).catch((err: WebError) =>
      this.#store.update({ phase: 'idle', error: uiError(err) }),
    );
  }

  disconnect(): void {
    this.#run('disconnect', {});
  }

  setStatus(status: PresenceStatus): void {
    if (status === 'in-call') return;
    this.#command('setStatus', { status }).then(
      () => this.#store.update({ myStatus: status }),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  call(peerId: string): void {
    const peerName = this.#binding.nameOf(peerId);
    this.#command('invite', { peerId }).catch((err: WebError) =>
      this.#store.update({
        call: null,
        lastOutcome: {
          outcome: err.code === 'SIG_ERR_UNAVAILABLE' ? 'offline' : 'failed',
          peerName,
          message: err.message,
        },
      }),
    );
  }

  accept(): void {
    this.#run('accept', {});
  }
  refuse(): void {
    this.#run('reject', {});
  }
  cancel(): void {
    this.#run('cancel', {});
  }
  hangUp(): void {
    this.#run('hangup', {});
  }

  setMuted(muted: boolean): void {
    this.#store.updateCall({ muted });
    this.#run('set', { name: 'mute', value: muted ? 'on' : 'off' });
  }

  setVolume(volume: number): void {
    // The engine scales what it plays (C, before the device): 0.5 is −6 dB.
    this.#store.updateCall({ volume });
    this.#run('set', { name: 'volume', value: String(Math.round(volume * 100)) });
  }

  sendChat(peerId: string, text: string): void {
    this.#command('sendChat', { to: peerId, text }).then(
      (m) => this.#store.upsertMessage(peerId, toUiMessage(m)),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  openChat(peerId: string): void {
    this.#store.update({ openChat: peerId });
    this.#run('markRead', { peerId });
    if (this.#store.get().chats[peerId]?.loaded === true) return;
    this.#command('loadHistory', { peerId }).then(
      (r) => this.#store.setHistory(peerId, r.messages.map(toUiMessage)),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  block(peerId: string): void {
    this.#command('block', { userId: peerId }).then(
      () => this.#binding.setBlocked(peerId, true),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  unblock(peerId: string): void {
    this.#command('unblock', { userId: peerId }).then(
      () => this.#binding.setBlocked(peerId, false),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  answerRequest(requestId: string, accept: boolean, remember = false): void {
    this.#run('decideJoin', { requestId, accept, ...(remember ? { remember } : {}) });
  }

  removeGuest(peerId: string): void {
    this.#run('removeGuest', { userId: peerId });
  }

  testDevices(): void {
    this.#store.update({ deviceTest: { running: true } });
    this.#command('testDevices', {}).then(
      (r) => this.#store.update({ deviceTest: { running: false, peakDb: r.peakDb } }),
      (err: WebError) => this.#store.update({ deviceTest: null, error: uiError(err) }),
    );
  }

  setDevices(devices: { input?: string; output?: string }): void {
    this.#run('setDevices', devices);
  }

  trustChangedKey(): void {
    // The native app's pins live in its profile (contacts.json); the engine reports a changed key
    // as a failed call, and this backend never sets changedKey.
    this.#store.update({
      changedKey: null,
      error: {
        code: 'WEB_ERR_BROWSER_ONLY',
        message: "the native app keeps its contacts' keys in its profile",
      },
    });
  }

  forgetDecision(fingerprint: string): void {
    this.#run('forgetDecision', { fingerprint });
  }

  applySettings(change: UiSettings): void {
    for (const args of toSetCommands(change)) this.#run('set', args);
  }

  applySuggestion(s: Suggestion): void {
    this.applySettings(s.change);
    this.#store.update((st) => ({ appliedSuggestions: [...st.appliedSuggestions, s.id] }));
  }

  /** Stops following the native client. */
  dispose(): void {
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    this.#ws = null;
    ws?.close();
    this.#binding.dispose();
  }
}
