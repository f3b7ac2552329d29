/**
 * The UI's view of the world, shared by browser mode and native mode. Backends translate what
 * they learn (protocol client core events, control API events) into these shapes; components only
 * read them.
 */
import type { CallSettings } from '@parloir/protocol';

/** Presence status of a person, as the protocol defines it. */
export type PresenceStatus = 'available' | 'in-call' | 'dnd' | 'away';

/** One person in the online list. */
export interface Person {
  /** Stable user id (from the server). */
  id: string;
  /** Display name. */
  name: string;
  /** Current status. */
  status: PresenceStatus;
  /** Whether I blocked this person. */
  blocked: boolean;
}

/** A pending host-mode connection request. */
export interface HostRequest {
  /** Request id to answer with. */
  id: string;
  /** Name the requester asked for. */
  name: string;
  /** Fingerprint of the requester's Ed25519 key. */
  fingerprint: string;
  /** Remote address, `ip:port`. */
  address: string;
}

/** Why a call ended or did not start; each maps to a translated message. */
export type CallOutcome =
  'refused' | 'busy' | 'timeout' | 'offline' | 'cancelled' | 'hangup' | 'dnd' | 'failed';

/** The call in progress, if any. */
export interface CallView {
  /** Call id from the server. */
  id: string;
  /** The other party's user id. */
  peerId: string;
  /** The other party's name. */
  peerName: string;
  /** Who called. */
  direction: 'incoming' | 'outgoing';
  /** `ringing`: invite out/in, not answered; `connecting`: accepted, media not up; `active`. */
  phase: 'ringing' | 'connecting' | 'active';
  /** When media became active, in ms since the epoch (wall clock of this page). */
  activeSinceMs?: number;
  /** Whether my microphone is muted. */
  muted: boolean;
  /** Output volume, 0..1. */
  volume: number;
  /** Short authentication string both sides compare. */
  sas?: string;
  /** Media path: direct (host/srflx) or through the TURN relay. */
  path?: 'direct' | 'relay';
  /**
   * An ICE restart is under way (issue 21 §2: the path failed, or the signalling re-attached):
   * the UI shows "restarting the path…" until the path is back, then the path again.
   */
  pathRestarting?: boolean;
  /**
   * The other party's signalling connection dropped and the server keeps the call for this many
   * ms while it reconnects (`call.peerReconnecting`); absent when it is connected.
   */
  peerReconnectingGraceMs?: number;
}

/** One once-a-second quality sample, what the charts plot. */
export interface QosSample {
  /** Sample time in seconds since the epoch (uPlot's x unit). */
  t: number;
  /** Interarrival jitter of received audio, in ms (RFC 3550 §A.8). */
  jitterMs: number | null;
  /** Received packet loss over the last interval, in percent. */
  lossPct: number | null;
  /** Round-trip time, in ms. */
  rttMs: number | null;
  /** Estimated MOS (1..4.5, E-model). */
  mos: number | null;
  /** Sent audio bitrate, in kbit/s. */
  bitrateKbps: number | null;
  /** Jitter-buffer (playout) delay, in ms. */
  bufferDelayMs: number | null;
  /** Quality grade from the E-model, when known. */
  grade?: Grade;
}

/** Quality grade names, from MOS. */
export type Grade = 'excellent' | 'good' | 'fair' | 'poor' | 'bad';

/**
 * The call parameters as the settings form edits them: the engine's `CallSettings` (declared
 * once, in `@parloir/protocol`'s control API) in the form's units — the bitrate in kbit/s — plus
 * the ALSA devices. Every field is optional: a mode has only the fields it can change (browser
 * mode: bitrate, frame size, FEC), and a change carries only what changed.
 */
export type UiSettings = Partial<
  Pick<
    CallSettings,
    'frameMs' | 'fec' | 'dtx' | 'jbMinMs' | 'jbMaxMs' | 'gainDb' | 'adapt' | 'aec' | 'ns' | 'agc'
  >
> & {
  /** Opus target bitrate, in kbit/s. */
  bitrateKbps?: number;
  /** ALSA period, in ms (native mode). */
  alsaPeriodMs?: CallSettings['periodMs'];
  /** Capture device spec, `alsa:NAME` (native mode). */
  captureDevice?: string;
  /** Playback device spec (native mode). */
  playbackDevice?: string;
};

/** A suggested parameter change with its text in both languages. */
export interface Suggestion {
  /** Stable id (e.g. `fec-on`). */
  id: string;
  /** Human text, English. */
  en: string;
  /** Human text, French. */
  fr: string;
  /** The change it proposes; empty for advice nothing can apply (e.g. "use a cable"). */
  change: UiSettings;
}

/** One chat message. */
export interface ChatMessage {
  /** Server id once acked, else the client id. */
  id: string;
  /** Sender user id. */
  from: string;
  /** Recipient user id. */
  to: string;
  /** Text. */
  text: string;
  /** Server timestamp, ms since the epoch (local time until acked). */
  atMs: number;
  /** Whether the server acked it (mine only). */
  pending: boolean;
}

/** One conversation. */
export interface Conversation {
  /** Messages, oldest first. */
  messages: ChatMessage[];
  /** Messages received while the conversation was not open. */
  unread: number;
  /** Whether history was fetched. */
  loaded: boolean;
}

/** Connection phase of the session. */
export type ConnPhase = 'idle' | 'connecting' | 'awaiting-approval' | 'connected' | 'reconnecting';

/** A user-visible error: stable code plus message. */
export interface UiError {
  /** Stable code (e.g. `SIG_ERR_NAME_TAKEN`, `WEB_ERR_UNREACHABLE`). */
  code: string;
  /** Human message, possibly in English from the server; the UI maps known codes to text. */
  message: string;
}
