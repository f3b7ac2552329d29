/**
 * What the UI asks of a backend. Two implementations: `BrowserBackend` (protocol client core over
 * the page's WebSocket, WebRTC media in the page) and `NativeBackend` (the native client's local
 * control API; audio in the native engine). Both write what happens into the {@link Store}.
 */
import type { UiSettings, PresenceStatus, Suggestion } from './types.ts';

/** What the connect form collects. */
export interface ConnectOptions {
  /** Server address: `host:port`, `https://host:port` or `http://…` for --insecure-http. */
  server: string;
  /** Display name to register or resume. */
  name: string;
  /** Server password, if the server has one. */
  password?: string;
  /** Native app: the certificate fingerprint the person accepted after a trust question. */
  trust?: string;
}

/** The actions the UI can take. Every method reports failures into the store, never throws. */
export interface Backend {
  /** Which backend this is. */
  readonly mode: 'browser' | 'native';
  /** Connects and authenticates; resolves when connected or failed. */
  connect(opts: ConnectOptions): Promise<void>;
  /** Leaves the server (hangs up first). */
  disconnect(): void;
  /** Sets my presence status. */
  setStatus(status: PresenceStatus): void;
  /** Calls a person by user id. */
  call(peerId: string): void;
  /** Accepts the incoming call. */
  accept(): void;
  /** Refuses the incoming call. */
  refuse(): void;
  /** Cancels my outgoing call while it rings. */
  cancel(): void;
  /** Hangs up the call. */
  hangUp(): void;
  /** Mutes or unmutes my microphone. */
  setMuted(muted: boolean): void;
  /** Output volume, 0..1. */
  setVolume(volume: number): void;
  /** Sends a chat message. */
  sendChat(peerId: string, text: string): void;
  /** Opens a conversation: loads history if needed and clears its unread count. */
  openChat(peerId: string): void;
  /** Blocks a person. */
  block(peerId: string): void;
  /** Unblocks a person. */
  unblock(peerId: string): void;
  /** Host mode: answers a connection request; `remember` keeps the answer for that key. */
  answerRequest(requestId: string, accept: boolean, remember?: boolean): void;
  /** Native app: hosts a call on this machine (stage one), as `name`. */
  host(opts: { name: string; password?: string }): void;
  /** Host mode: removes a guest (closed now; it must ask again to come back). */
  removeGuest(peerId: string): void;
  /** Native app: records a few seconds from the microphone and plays them back. */
  testDevices(): void;
  /** Native app: chooses the capture and playback devices of the next connection. */
  setDevices(devices: { input?: string; output?: string }): void;
  /**
   * Browser: the person checked the changed key of `changedKey`'s contact another way; its new
   * key replaces the pinned one (next calls with it check out).
   */
  trustChangedKey(): void;
  /** Native host: forgets the remembered answer for a key fingerprint. */
  forgetDecision(fingerprint: string): void;
  /** Changes call parameters (only the fields given). */
  applySettings(change: UiSettings): void;
  /** Applies a suggestion's change. */
  applySuggestion(s: Suggestion): void;
}
