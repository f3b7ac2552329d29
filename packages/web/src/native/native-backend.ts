/**
 * Native mode: the page drives a native client (`parloir connect --ui`) through its local control
 * API (docs/control-api.md): one WebSocket to `/api/ws?token=…` on 127.0.0.1. Its `event` messages
 * are the protocol `ClientSession` events verbatim, so they go through the same
 * {@link SessionBinding} as in browser mode; `media` and `qos` messages carry the native engine's
 * state and once-a-second QoS (jitter buffer, MOS, suggestions). Commands are the session's method
 * names plus `set NAME VALUE` for media settings.
 */
import type { ClientSessionEvents, UserInfo } from '@parloir/protocol';
import type { Backend, ConnectOptions } from '../app/backend.ts';
import { WebError } from '../errors.ts';
import { toUiSuggestion } from '../app/quality.ts';
import { SessionBinding, toUiMessage, type SessionEventSource } from '../app/session-binding.ts';
import type { Store } from '../app/store.ts';
import type {
  CallSettings,
  Grade,
  PresenceStatus,
  QosSample,
  Suggestion,
  UiError,
} from '../app/types.ts';

/** The native engine's settings as the control API reports them (bit/s, ms). */
interface NativeSettings {
  bitrateBps?: number;
  frameMs?: number;
  fec?: boolean;
  jbMinMs?: number;
  jbMaxMs?: number;
  periodMs?: number;
  muted?: boolean;
}

/** The native engine's media state (subset used here). */
interface NativeMediaState {
  phase?: 'idle' | 'connecting' | 'up' | 'failed';
  callId?: string;
  sas?: { words?: string };
  path?: string;
  settings?: NativeSettings;
  error?: string;
}

/** One QoS snapshot of the native engine (subset used here). */
interface NativeQos {
  path?: string;
  rttMs?: number | null;
  lossPct?: number;
  jitterMs?: number;
  sendKbps?: number;
  mos?: number;
  jitterBuffer?: { delayMs?: number };
  /** Media-policy suggestions (`@parloir/media` Suggestion: id, en, fr, change). */
  suggestions?: Parameters<typeof toUiSuggestion>[0][];
  grade?: string;
  settings?: NativeSettings;
}

type Listener = (payload: never) => void;

function isGrade(g: unknown): g is Grade {
  return g === 'excellent' || g === 'good' || g === 'fair' || g === 'poor' || g === 'bad';
}

function uiError(err: WebError): UiError {
  return { code: err.code, message: err.message };
}

/** Converts native settings (bit/s) to the UI's (kbit/s). */
export function fromNativeSettings(s: NativeSettings): CallSettings {
  const out: CallSettings = {};
  if (s.bitrateBps !== undefined) out.bitrateKbps = Math.round(s.bitrateBps / 1000);
  if (s.frameMs !== undefined) out.frameMs = s.frameMs;
  if (s.fec !== undefined) out.fec = s.fec;
  if (s.jbMinMs !== undefined) out.jbMinMs = s.jbMinMs;
  if (s.jbMaxMs !== undefined) out.jbMaxMs = s.jbMaxMs;
  if (s.periodMs !== undefined) out.alsaPeriodMs = s.periodMs;
  return out;
}

/** The `set` commands (name, value) that apply a UI settings change to the native engine. */
export function toSetCommands(change: CallSettings): [string, string][] {
  const out: [string, string][] = [];
  if (change.bitrateKbps !== undefined) out.push(['bitrate', `${change.bitrateKbps}k`]);
  if (change.frameMs !== undefined) out.push(['frame', String(change.frameMs)]);
  if (change.fec !== undefined) out.push(['fec', change.fec ? 'on' : 'off']);
  if (change.jbMinMs !== undefined) out.push(['jb-min', String(change.jbMinMs)]);
  if (change.jbMaxMs !== undefined) out.push(['jb-max', String(change.jbMaxMs)]);
  if (change.alsaPeriodMs !== undefined) out.push(['period', String(change.alsaPeriodMs)]);
  return out;
}

/** The native backend. */
export class NativeBackend implements Backend {
  readonly mode = 'native' as const;
  #store: Store;
  #token: string;
  #ws: WebSocket | null = null;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: WebError) => void }>();
  #listeners = new Map<string, Set<Listener>>();
  #binding: SessionBinding;
  #everReady = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  /** Opens the control API with `token` and follows the native client's state. */
  constructor(store: Store, token: string) {
    this.#store = store;
    this.#token = token;
    const source: SessionEventSource = {
      on: (event, listener) => {
        let set = this.#listeners.get(event);
        if (set === undefined) this.#listeners.set(event, (set = new Set()));
        set.add(listener);
        return () => set.delete(listener);
      },
    };
    this.#binding = new SessionBinding(source, store);
    this.#open();
  }

  #emit<K extends keyof ClientSessionEvents>(event: K, payload: ClientSessionEvents[K]): void {
    for (const l of this.#listeners.get(event) ?? [])
      (l as (p: ClientSessionEvents[K]) => void)(payload);
  }

  #open(): void {
    const ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws?token=${encodeURIComponent(this.#token)}`,
    );
    this.#ws = ws;
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      try {
        this.#onMessage(JSON.parse(e.data) as Record<string, unknown>);
      } catch (err) {
        console.warn('parloir: bad control message', err);
      }
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

  #onMessage(msg: Record<string, unknown>): void {
    switch (msg.type) {
      case 'state':
        this.#applyState(msg.state as Record<string, unknown>);
        return;
      case 'event': {
        const event = msg.event as keyof ClientSessionEvents;
        let payload = msg.payload;
        if (event === 'presence') payload = this.#presence(payload);
        if (event === 'connection') this.#applyConnection(payload as { kind: string });
        if (event === 'ready') this.#afterReady();
        this.#emit(event, payload as never);
        return;
      }
      case 'media':
        this.#applyMedia(msg.state as NativeMediaState);
        return;
      case 'qos':
        this.#applyQos(msg.snapshot as NativeQos);
        return;
      case 'result':
      case 'error': {
        const p = this.#pending.get(msg.id as number);
        if (p === undefined) return;
        this.#pending.delete(msg.id as number);
        if (msg.type === 'result') p.resolve(msg.result);
        else p.reject(new WebError(String(msg.code), String(msg.message)));
        return;
      }
    }
  }

  #presence(payload: unknown): ClientSessionEvents['presence'] {
    const p = payload as { online: UserInfo[]; joined?: UserInfo[]; left?: string[]; changed?: [] };
    return {
      online: new Map(p.online.map((u) => [u.userId, u])),
      joined: p.joined ?? [],
      left: p.left ?? [],
      changed: p.changed ?? [],
    };
  }

  #applyConnection(c: { kind: string }): void {
    const phase =
      c.kind === 'ready'
        ? 'connected'
        : c.kind === 'pending-approval'
          ? 'awaiting-approval'
          : c.kind === 'disconnected'
            ? this.#everReady
              ? 'reconnecting'
              : 'idle'
            : this.#everReady
              ? 'reconnecting'
              : 'connecting';
    this.#store.update({ phase });
  }

  #afterReady(): void {
    this.#everReady = true;
    this.#command('blocked', {}).then(
      (users) => this.#binding.setBlockedList(users as { userId: string; name: string }[]),
      () => undefined,
    );
  }

  #applyState(s: Record<string, unknown>): void {
    const connection = s.connection as { kind: string };
    if (typeof s.name === 'string') this.#store.update({ myName: s.name, server: 'native' });
    if (typeof s.userId === 'string') this.#store.update({ myId: s.userId });
    if (connection.kind === 'ready') {
      this.#emit('ready', {
        userId: typeof s.userId === 'string' ? s.userId : '',
        name: typeof s.name === 'string' ? s.name : '',
        resumed: true,
      });
      this.#afterReady();
    }
    this.#applyConnection(connection);
    this.#emit('presence', this.#presence({ online: s.online ?? [] }));
    this.#emit('call', s.call as ClientSessionEvents['call']);
    const convs = (s.conversations ?? {}) as Record<
      string,
      { messages: Parameters<typeof toUiMessage>[0][]; unread: number }
    >;
    for (const [peerId, conv] of Object.entries(convs)) {
      this.#store.setHistory(peerId, conv.messages.map(toUiMessage));
      this.#store.setUnread(peerId, conv.unread);
    }
    for (const r of (s.joinRequests ?? []) as ClientSessionEvents['joinRequest'][])
      this.#emit('joinRequest', r);
    if (s.media !== undefined) this.#applyMedia(s.media as NativeMediaState);
  }

  #applyMedia(m: NativeMediaState): void {
    if (m.settings !== undefined) this.#store.update({ settings: fromNativeSettings(m.settings) });
    const call = this.#store.get().call;
    if (call === null) return;
    if (m.phase === 'up' && call.phase !== 'active') {
      this.#store.updateCall({ phase: 'active', activeSinceMs: Date.now() });
    }
    if (m.phase === 'connecting' && call.phase === 'ringing') this.#store.update({ samples: [] });
    if (m.sas?.words !== undefined) this.#store.updateCall({ sas: m.sas.words });
    if (m.path !== undefined && m.path !== 'unknown')
      this.#store.updateCall({ path: m.path === 'direct' ? 'direct' : 'relay' });
    if (m.settings?.muted !== undefined) this.#store.updateCall({ muted: m.settings.muted });
    if (m.phase === 'failed') this.#store.endCall('failed', m.error);
  }

  #applyQos(q: NativeQos): void {
    const sample: QosSample = {
      t: Date.now() / 1000,
      jitterMs: q.jitterMs ?? null,
      lossPct: q.lossPct ?? null,
      rttMs: q.rttMs ?? null,
      mos: q.mos ?? null,
      bitrateKbps: q.sendKbps ?? null,
      bufferDelayMs: q.jitterBuffer?.delayMs ?? null,
      ...(isGrade(q.grade) ? { grade: q.grade } : {}),
    };
    this.#store.pushSample(sample);
    if (q.suggestions !== undefined)
      this.#store.update({ suggestions: q.suggestions.map(toUiSuggestion) });
    if (q.settings !== undefined) this.#store.update({ settings: fromNativeSettings(q.settings) });
    if (q.path !== undefined && q.path !== 'unknown')
      this.#store.updateCall({ path: q.path === 'direct' ? 'direct' : 'relay' });
  }

  #command(command: string, args: Record<string, unknown>): Promise<unknown> {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new WebError('WEB_ERR_CONTROL_CLOSED', 'native client not reachable'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, command, args }));
    });
  }

  #run(command: string, args: Record<string, unknown> = {}): void {
    this.#command(command, args).catch((err: WebError) =>
      this.#store.update({ error: uiError(err) }),
    );
  }

  connect(_opts: ConnectOptions): Promise<void> {
    // The native client owns its connection (its --server/--name); the page only follows it.
    this.#store.update({
      error: {
        code: 'WEB_ERR_NATIVE_CONNECT',
        message: 'the native client connects by itself; restart it with --server and --name',
      },
    });
    return Promise.resolve();
  }

  disconnect(): void {
    this.#run('hangup');
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
    this.#run('accept');
  }
  refuse(): void {
    this.#run('reject');
  }
  cancel(): void {
    this.#run('cancel');
  }
  hangUp(): void {
    this.#run('hangup');
  }

  setMuted(muted: boolean): void {
    this.#store.updateCall({ muted });
    this.#run('set', { name: 'mute', value: muted ? 'on' : 'off' });
  }

  setVolume(volume: number): void {
    // The native engine plays at device level; the slider is kept for layout parity only.
    this.#store.updateCall({ volume });
  }

  sendChat(peerId: string, text: string): void {
    this.#command('sendChat', { to: peerId, text }).then(
      (m) => this.#store.upsertMessage(peerId, toUiMessage(m as Parameters<typeof toUiMessage>[0])),
      (err: WebError) => this.#store.update({ error: uiError(err) }),
    );
  }

  openChat(peerId: string): void {
    this.#store.update({ openChat: peerId });
    this.#run('markRead', { peerId });
    if (this.#store.get().chats[peerId]?.loaded === true) return;
    this.#command('loadHistory', { peerId }).then(
      (msgs) =>
        this.#store.setHistory(
          peerId,
          (msgs as Parameters<typeof toUiMessage>[0][]).map(toUiMessage),
        ),
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

  answerRequest(requestId: string, accept: boolean): void {
    this.#run('decideJoin', { requestId, accept });
  }

  applySettings(change: CallSettings): void {
    for (const [name, value] of toSetCommands(change)) this.#run('set', { name, value });
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
