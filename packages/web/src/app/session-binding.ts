/**
 * The one place where signalling events become UI state, shared by both modes: the browser backend
 * feeds it the protocol's `ClientSession` directly; the native backend feeds it the same events
 * relayed by the native client's control API. Presence, call phases and outcomes, chat, unread
 * counts and host requests are all mapped here and nowhere else.
 */
import type { CallEndReason, CallState, ClientSessionEvents, UserInfo } from '@parloir/protocol';
import type { Store } from './store.ts';
import type { CallOutcome, CallView, ChatMessage, Person } from './types.ts';

/** Anything that emits the client session's events (ClientSession, or a control-API relay). */
export interface SessionEventSource {
  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof ClientSessionEvents>(
    event: K,
    listener: (payload: ClientSessionEvents[K]) => void,
  ): () => void;
}

/** Maps a call end reason to the outcome the UI explains; null for no message (glare merge). */
export function outcomeOf(reason: CallEndReason, wasActive: boolean): CallOutcome | null {
  switch (reason) {
    case 'rejected':
      return 'refused';
    case 'cancelled':
      return 'cancelled';
    case 'timeout':
      return 'timeout';
    case 'busy':
      return 'busy';
    case 'dnd':
      return 'dnd';
    case 'hangup':
      return 'hangup';
    case 'disconnected':
      return wasActive ? 'hangup' : 'offline';
    case 'glare':
      return null;
    case 'shutdown':
      return 'failed';
  }
}

/** Converts a protocol chat message to the UI's. */
export function toUiMessage(m: {
  msgId: number;
  from: string;
  to: string;
  text: string;
  ts: number;
}): ChatMessage {
  return { id: String(m.msgId), from: m.from, to: m.to, text: m.text, atMs: m.ts, pending: false };
}

/** Binds session events to the store. Returns a function that unbinds everything. */
export class SessionBinding {
  #store: Store;
  #names = new Map<string, string>();
  #blocked = new Set<string>();
  #online: ReadonlyMap<string, UserInfo> = new Map();
  #offs: (() => void)[] = [];
  #lastCall: CallView | null = null;

  /** Subscribes to `source` and writes into `store`. */
  constructor(source: SessionEventSource, store: Store) {
    this.#store = store;
    this.#offs.push(
      source.on('ready', (r) =>
        store.update({ myId: r.userId, myName: r.name, phase: 'connected', error: null }),
      ),
      source.on('presence', (p) => {
        this.#online = p.online;
        for (const u of p.online.values()) this.#names.set(u.userId, u.name);
        this.#publishPeople();
      }),
      source.on('call', (c) => this.#onCall(c)),
      source.on('callEnded', (e) => {
        // The session reports the idle state before callEnded: use the call as it was.
        const last = store.get().call ?? this.#lastCall;
        const outcome = outcomeOf(e.reason, last !== null && last.phase !== 'ringing');
        this.#lastCall = null;
        if (outcome === null) {
          store.update({ call: null });
          return;
        }
        // Who hung up does not matter for the text; both sides see "Call ended".
        store.update({
          call: null,
          lastOutcome: { outcome, peerName: last?.peerName ?? '' },
          suggestions: [],
          appliedSuggestions: [],
        });
      }),
      // The peer's signalling dropped mid-call (the server keeps the call through a grace period),
      // then came back: shown on the call, cleared on re-attach or when the call ends.
      source.on('peerReconnecting', (e) => {
        if (store.get().call?.id === e.callId)
          store.updateCall({ peerReconnectingGraceMs: e.graceMs });
      }),
      source.on('peerReconnected', (e) => {
        if (store.get().call?.id === e.callId)
          store.updateCall({ peerReconnectingGraceMs: undefined });
      }),
      source.on('chat', (m) => {
        const me = store.get().myId;
        const peerId = m.from === me ? m.to : m.from;
        store.upsertMessage(peerId, toUiMessage(m));
      }),
      source.on('unread', (u) => store.setUnread(u.peerId, u.count)),
      source.on('joinRequest', (r) =>
        store.update((s) => ({
          isHost: true,
          hostRequests: [
            ...s.hostRequests.filter((x) => x.id !== r.requestId),
            { id: r.requestId, name: r.name, fingerprint: r.fingerprint, address: r.address },
          ],
        })),
      ),
      source.on('joinResolved', (r) =>
        store.update((s) => ({ hostRequests: s.hostRequests.filter((x) => x.id !== r.requestId) })),
      ),
    );
  }

  /** Name of a user id, from what presence told us. */
  nameOf(userId: string): string {
    return this.#names.get(userId) ?? userId.slice(0, 8);
  }

  /** Records a block change made by this user, and refreshes the list. */
  setBlocked(userId: string, blocked: boolean): void {
    if (blocked) this.#blocked.add(userId);
    else this.#blocked.delete(userId);
    this.#publishPeople();
  }

  /** Replaces the set of blocked users (from `block.list`), remembering their names. */
  setBlockedList(users: { userId: string; name: string }[]): void {
    this.#blocked = new Set(users.map((u) => u.userId));
    for (const u of users) this.#names.set(u.userId, u.name);
    this.#publishPeople();
  }

  #publishNames(): void {
    const names = Object.fromEntries(this.#names);
    this.#store.update({ names });
  }

  #publishPeople(): void {
    this.#publishNames();
    const people: Person[] = [...this.#online.values()]
      .map((u) => ({
        id: u.userId,
        name: u.name,
        status: u.status,
        blocked: this.#blocked.has(u.userId),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    this.#store.update({ people });
  }

  #onCall(c: CallState): void {
    const prev = this.#store.get().call;
    if (c.phase === 'idle') {
      // The outcome comes with callEnded; a failed invite is reported by the backend.
      if (prev !== null) {
        this.#lastCall = prev;
        this.#store.update({ call: null });
      }
      return;
    }
    const keep = (
      id: string,
      peerId: string,
    ): Pick<CallView, 'muted' | 'volume'> & Partial<CallView> =>
      prev !== null && (prev.id === id || (prev.id === '' && prev.peerId === peerId))
        ? prev
        : { muted: false, volume: 1 };
    let next: CallView;
    switch (c.phase) {
      case 'inviting':
        next = {
          ...keep(c.callId ?? '', c.peerId),
          id: c.callId ?? '',
          peerId: c.peerId,
          peerName: this.nameOf(c.peerId),
          direction: 'outgoing',
          phase: 'ringing',
        };
        break;
      case 'outgoing':
        next = {
          ...keep(c.callId, c.peerId),
          id: c.callId,
          peerId: c.peerId,
          peerName: this.nameOf(c.peerId),
          direction: 'outgoing',
          phase: 'ringing',
        };
        break;
      case 'incoming':
        this.#names.set(c.peer.userId, c.peer.name);
        this.#publishNames();
        next = {
          ...keep(c.callId, c.peer.userId),
          id: c.callId,
          peerId: c.peer.userId,
          peerName: c.peer.name,
          direction: 'incoming',
          phase: 'ringing',
        };
        break;
      case 'active': {
        const base = keep(c.callId, c.peer.userId);
        next = {
          ...base,
          id: c.callId,
          peerId: c.peer.userId,
          peerName: c.peer.name,
          direction: prev?.direction ?? (c.role === 'offerer' ? 'outgoing' : 'incoming'),
          phase: base.phase === 'active' ? 'active' : 'connecting',
        };
        break;
      }
    }
    this.#store.update({ call: next, lastOutcome: null });
  }

  /** Unsubscribes from the source. */
  dispose(): void {
    for (const off of this.#offs.splice(0)) off();
  }
}
