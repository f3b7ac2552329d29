/**
 * The app store: one immutable state object, replaced on every change, read by components through
 * `useSyncExternalStore`. Backends write to it; components never mutate it.
 */
import type {
  CallRecord,
  DeviceList,
  AppState as NativeAppState,
  TrustQuestion,
} from '@parloir/protocol';
import { detectLang, type Lang } from '../i18n.ts';
import type {
  CallOutcome,
  UiSettings,
  CallView,
  ChatMessage,
  ConnPhase,
  Conversation,
  HostRequest,
  Person,
  PresenceStatus,
  QosSample,
  Suggestion,
  UiError,
} from './types.ts';

/** How many seconds of samples the charts keep. */
export const QOS_WINDOW_S = 60;

/** A contact's new identity key, refused because another one is pinned under its name. */
export interface ChangedKey {
  /** The contact's name (pins are kept by name). */
  name: string;
  /** The user id of the new key. */
  userId: string;
  /** The new raw Ed25519 public key, base64. */
  publicKey: string;
}

/** Everything the UI shows. */
export interface AppState {
  /** UI language. */
  lang: Lang;
  /** Colour theme. */
  theme: 'light' | 'dark';
  /** Which backend drives the app. */
  mode: 'browser' | 'native';
  /** Connection phase. */
  phase: ConnPhase;
  /** Server address as typed. */
  server: string;
  /** My display name. */
  myName: string;
  /** My user id once authenticated. */
  myId: string | null;
  /** My status. */
  myStatus: PresenceStatus;
  /** Whether I am the host of a host-mode server (I see requests). */
  isHost: boolean;
  /** Server certificate fingerprint seen on first use (hex, colon-separated). */
  serverFingerprint: string | null;
  /** Last connect/session error, shown on the connect screen or as a toast. */
  error: UiError | null;
  /** Online people except me, sorted by name. */
  people: Person[];
  /** Display names of every user id seen (online or not), for conversations with absent people. */
  names: Record<string, string>;
  /** Host-mode requests waiting for my answer. */
  hostRequests: HostRequest[];
  /** The call in progress. */
  call: CallView | null;
  /**
   * A contact whose identity key differs from the one pinned at the first call (issue 17 §1:
   * MEDIA_AUTH_ERR_KEY_CHANGED), with its new key, until the person trusts it or dismisses it.
   */
  changedKey: ChangedKey | null;
  /** Outcome of the last call, shown until dismissed. */
  lastOutcome: { outcome: CallOutcome; peerName: string; message?: string } | null;
  /** Quality samples of the current call, last {@link QOS_WINDOW_S} seconds. */
  samples: QosSample[];
  /** Current suggestions. */
  suggestions: Suggestion[];
  /** Ids of suggestions applied during this call. */
  appliedSuggestions: string[];
  /** Current call parameters. */
  settings: UiSettings;
  /** Audio devices the native engine can open (native mode; filled from the control API). */
  devices: DeviceList;
  /** Conversations by peer id. */
  chats: Record<string, Conversation>;
  /** Peer id of the open conversation. */
  openChat: string | null;
  /**
   * Native mode: what the native app is doing (idle, client or host), its recent servers,
   * remembered host decisions and devices; null in browser mode.
   */
  native: NativeAppState | null;
  /** Native app: the microphone and speaker test, running or its last peak level (dBFS). */
  deviceTest: { running: boolean; peakDb?: number } | null;
  /** Native app: the question about the server's certificate, before connecting. */
  trustQuestion: TrustQuestion | null;
  /** My recorded calls and missed calls, newest first (the server's `call.history`). */
  calls: CallRecord[];
  /** Native mode: peak capture level over the last second, dBFS; null when unknown. */
  inputLevelDb: number | null;
}

/** Initial state for a page with the given browser languages. */
export function initialState(languages: readonly string[], mode: 'browser' | 'native'): AppState {
  return {
    lang: detectLang(languages),
    theme: 'light',
    mode,
    phase: 'idle',
    server: '',
    myName: '',
    myId: null,
    myStatus: 'available',
    isHost: false,
    serverFingerprint: null,
    error: null,
    people: [],
    names: {},
    hostRequests: [],
    call: null,
    changedKey: null,
    lastOutcome: null,
    samples: [],
    suggestions: [],
    appliedSuggestions: [],
    settings: {},
    devices: { capture: [], playback: [] },
    chats: {},
    openChat: null,
    native: null,
    inputLevelDb: null,
    calls: [],
    trustQuestion: null,
    deviceTest: null,
  };
}

/** A tiny observable store. */
export class Store {
  #state: AppState;
  #listeners = new Set<() => void>();

  /** Creates a store holding `state`. */
  constructor(state: AppState) {
    this.#state = state;
  }

  /** Current state (stable identity until the next change). */
  get = (): AppState => this.#state;

  /** Subscribes to changes; returns the unsubscribe function. */
  subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  /** Replaces the state with `fn(state)` (or merges a partial) and notifies subscribers. */
  update(fn: Partial<AppState> | ((s: AppState) => Partial<AppState>)): void {
    const patch = typeof fn === 'function' ? fn(this.#state) : fn;
    this.#state = { ...this.#state, ...patch };
    for (const l of this.#listeners) l();
  }

  /** Updates one call field set, if a call exists. */
  updateCall(patch: Partial<CallView>): void {
    this.update((s) => (s.call === null ? {} : { call: { ...s.call, ...patch } }));
  }

  /** Adds a quality sample, keeping the last {@link QOS_WINDOW_S} seconds. */
  pushSample(sample: QosSample): void {
    this.update((s) => ({
      samples: [...s.samples, sample].filter((x) => x.t > sample.t - QOS_WINDOW_S),
    }));
  }

  /** Appends or replaces (same id, or `replaceId`) a chat message in the peer's conversation. */
  upsertMessage(peerId: string, msg: ChatMessage, replaceId?: string): void {
    this.update((s) => {
      const conv = s.chats[peerId] ?? { messages: [], unread: 0, loaded: false };
      const idx = conv.messages.findIndex((m) => m.id === (replaceId ?? msg.id));
      const dup = replaceId !== undefined && conv.messages.some((m) => m.id === msg.id);
      const messages =
        idx >= 0
          ? dup
            ? conv.messages.toSpliced(idx, 1)
            : conv.messages.with(idx, msg)
          : [...conv.messages, msg].sort(byTime);
      return { chats: { ...s.chats, [peerId]: { ...conv, messages } } };
    });
  }

  /** Removes a message (a send that failed). */
  removeMessage(peerId: string, id: string): void {
    this.update((s) => {
      const conv = s.chats[peerId];
      if (conv === undefined) return {};
      const messages = conv.messages.filter((m) => m.id !== id);
      return { chats: { ...s.chats, [peerId]: { ...conv, messages } } };
    });
  }

  /** Sets a conversation's unread count. */
  setUnread(peerId: string, unread: number): void {
    this.update((s) => {
      const conv = s.chats[peerId] ?? { messages: [], unread: 0, loaded: false };
      return { chats: { ...s.chats, [peerId]: { ...conv, unread } } };
    });
  }

  /** Sets a peer's history (from a history page), merged with what is already there. */
  setHistory(peerId: string, history: ChatMessage[]): void {
    this.update((s) => {
      const conv = s.chats[peerId] ?? { messages: [], unread: 0, loaded: false };
      const seen = new Set(history.map((m) => m.id));
      const messages = [...history, ...conv.messages.filter((m) => !seen.has(m.id))].sort(byTime);
      return { chats: { ...s.chats, [peerId]: { ...conv, messages, loaded: true } } };
    });
  }

  /** Ends the call with an outcome: clears call and suggestions, shows the outcome. */
  endCall(outcome: CallOutcome, message?: string): void {
    this.update((s) => ({
      call: null,
      lastOutcome: { outcome, peerName: s.call?.peerName ?? '', ...(message ? { message } : {}) },
      suggestions: [],
      appliedSuggestions: [],
    }));
  }
}

function byTime(a: ChatMessage, b: ChatMessage): number {
  return a.atMs - b.atMs;
}
