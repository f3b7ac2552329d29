/**
 * Glue between the signalling session and the media: when the session's call becomes active it
 * creates the {@link PeerTransport}, exchanges offer/answer and trickled candidates through
 * `call.signal`, starts the {@link CallEngine}, writes the QoS log, and tears everything down
 * when the call ends. The media does not depend on the signalling connection once it is up: a
 * signalling reconnect leaves the call running (only `callEnded` stops it).
 */
import {
  checkNegotiatedFingerprint,
  checkSignedSdp,
  MediaAuthError,
  signMediaBinding,
  userIdOf,
  verifyMediaBinding,
  type CallSignal,
  type ClientSession,
  type MediaBinding,
  type VerifiedPeer,
} from '@parloir/protocol';
import { ContactPins } from '../signaling/contact-pins.ts';
import {
  PathKeeper,
  presentHostAddresses,
  type PathKeeperEvent,
} from '../signaling/path-keeper.ts';
import type { CallSettings, QosSnapshot } from '../qos-log/qos-log.ts';
import { QosLogWriter } from '../qos-log/qos-log.ts';
import { PeerTransport, type IceCandidateJson } from '../transport/peer-transport.ts';
import type { ShortAuthString } from '../transport/sas.ts';
import { createEngine } from './create.ts';
import { applySetting, DEFAULT_SETTINGS, type CallEngine, type EngineProbes } from './engine.ts';

/** The subset of {@link ClientSession} this file uses (a test double or a proxy fits too). */
export type SessionPort = Pick<
  ClientSession,
  'on' | 'sendSignal' | 'call' | 'name' | 'userId' | 'identity' | 'hangup'
>;

/** Media state of the current call, as shown by the CLI and the control API. */
export interface MediaState {
  /** 'idle' (no call), 'connecting' (ICE/DTLS), 'up', 'failed'. */
  phase: 'idle' | 'connecting' | 'up' | 'failed';
  /** Call id. */
  callId?: string | undefined;
  /** Peer name. */
  peer?: string | undefined;
  /** Verification code, once both fingerprints are known. */
  sas?: ShortAuthString | undefined;
  /** Path of the selected pair. */
  path?: string | undefined;
  /**
   * How our audio is sent: `native, direct edge` (capture to socket in C), or `native, werift
   * (why) edge` (werift makes and seals the packets), with the `MEDIA_EDGE_*` code if werift or
   * Node changed.
   */
  sendPath?: string | undefined;
  /** How the peer's audio is received: the same C pipeline and edge, read the other way. */
  receivePath?: string | undefined;
  /** Settings in force. */
  settings?: CallSettings | undefined;
  /** Last QoS snapshot. */
  qos?: QosSnapshot | undefined;
  /** The QoS log file of this call. */
  logPath?: string | undefined;
  /** Why media failed. */
  error?: string | undefined;
  /**
   * The typed code of that failure when there is one, e.g. `MEDIA_AUTH_ERR_KEY_CHANGED`: the
   * peer's media key did not check out (media-binding.ts), so no audio was sent or played.
   */
  errorCode?: string | undefined;
  /** The peer's key was pinned by this call (first call with this contact). */
  pinnedNow?: boolean | undefined;
  /** `restarting` while an ICE restart moves the call to a new path (issue 21 §2), else `up`. */
  pathState?: 'up' | 'restarting' | undefined;
}

/** Events of {@link CallMedia}. */
export interface CallMediaEvents {
  /** Media state changed (phase, SAS, path). */
  state: (s: MediaState) => void;
  /** Once-a-second QoS. */
  qos: (s: QosSnapshot) => void;
  /** An ICE restart began, brought the call onto a new path, or failed. */
  path: (e: PathKeeperEvent) => void;
  /** The call's media is over; `summary` is the last snapshot. */
  ended: (info: {
    callId: string;
    reason: string;
    durationMs: number;
    logPath: string | undefined;
  }) => void;
}

/** Options of {@link CallMedia}. */
export interface CallMediaOptions {
  /** The signalling session. */
  session: SessionPort;
  /** Capture device spec. */
  input: string;
  /** Playback device spec. */
  output: string;
  /** Initial settings. */
  settings?: Partial<CallSettings>;
  /** Force relay-only ICE whatever the server says (`--relay`). */
  relayOnly?: boolean;
  /** Profile directory for the QoS log; no log if undefined. */
  profileDir?: string | undefined;
  /** Restrict host candidates (tests: ['127.0.0.1']). */
  hostAddresses?: string[] | undefined;
  /** Measurement probes passed to the engine. */
  probes?: EngineProbes;
  /** Tests: the paced capture hears the paced playback through a room (createEngine). */
  acousticRoomMs?: number | undefined;
  /** How long ICE+DTLS may take, ms. Default 25000. */
  connectTimeoutMs?: number;
  /** Contact key pins; default `contacts.json` in {@link profileDir} (memory without one). */
  pins?: ContactPins;
}

type Listeners = { [K in keyof CallMediaEvents]: CallMediaEvents[K][] };

/** Runs the media of whatever call the session has, one at a time. */
export class CallMedia {
  #o: CallMediaOptions;
  #listeners: Listeners = { state: [], qos: [], ended: [], path: [] };
  /** Restarts ICE when the path fails, once the call's media is up. */
  #keeper: PathKeeper | undefined;
  #state: MediaState = { phase: 'idle' };
  #transport: PeerTransport | undefined;
  #engine: CallEngine | undefined;
  #log: QosLogWriter | undefined;
  #callId: string | undefined;
  #signalChain: Promise<void> = Promise.resolve();
  #pendingSettings: Partial<CallSettings>;
  #offs: (() => void)[] = [];
  #pins: ContactPins;
  /** The current call's peer, as the server announced it. */
  #peer: { userId: string; name: string } | undefined;
  /** What the peer's signed media binding established (media-binding.ts). */
  #verified: VerifiedPeer | undefined;
  #pinnedNow = false;

  constructor(options: CallMediaOptions) {
    this.#o = options;
    this.#pins = options.pins ?? new ContactPins(options.profileDir);
    this.#pendingSettings = { ...options.settings };
    const s = options.session;
    this.#offs.push(
      s.on('callAccepted', (c) => {
        void this.#startCall(c.callId, c.peer, c.role, c.iceServers, c.relayOnly);
      }),
      s.on('signal', ({ callId, signal }) => {
        if (callId !== this.#callId) return;
        // Apply signals strictly in order: candidates must not overtake the offer.
        this.#signalChain = this.#signalChain
          .then(() => this.#applySignal(signal))
          .catch((err: unknown) => this.#fail(err));
      }),
      // Back on signalling after a drop (ours or the peer's): the path may have died meanwhile.
      s.on('ready', () => this.#keeper?.reattached()),
      s.on('peerReconnected', () => this.#keeper?.reattached('peer')),
      s.on('callEnded', ({ callId, reason, by }) => {
        if (callId !== this.#callId) return;
        const who = by === undefined ? '' : by === s.userId ? '-local' : '-remote';
        void this.stop(`${reason}${who}`);
      }),
    );
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof CallMediaEvents>(event: K, listener: CallMediaEvents[K]): () => void {
    const list = this.#listeners[event];
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Current media state. */
  get state(): MediaState {
    return { ...this.#state };
  }

  /** The running engine, if any (for `set` and `stats`). */
  get engine(): CallEngine | undefined {
    return this.#engine;
  }

  /** The capture and playback device specs (the next call's, and the current call's). */
  get devices(): { input: string; output: string } {
    return { input: this.#o.input, output: this.#o.output };
  }

  /**
   * Changes the capture device: at once during a call (the engine switches it without
   * renegotiation, alsa: to alsa:), and for the next calls.
   */
  async setInput(spec: string): Promise<void> {
    if (this.#engine !== undefined) await this.#engine.switchCapture(spec);
    this.#o = { ...this.#o, input: spec };
  }

  /**
   * Changes the playback device: at once during a call (the engine moves the same jitter buffer
   * to the new device, alsa: to alsa:), and for the next calls.
   */
  async setOutput(spec: string): Promise<void> {
    if (this.#engine !== undefined) await this.#engine.switchPlayback(spec);
    this.#o = { ...this.#o, output: spec };
  }

  /** Changes a setting: applied now if a call runs, and kept for the next call. */
  set(name: string, value: string): CallSettings {
    if (this.#engine !== undefined) {
      const s = this.#engine.set(name, value);
      this.#pendingSettings = s;
      this.#setState({ settings: s });
      return s;
    }
    const next = applySetting({ ...DEFAULT_SETTINGS, ...this.#pendingSettings }, name, value);
    this.#pendingSettings = next;
    return next;
  }

  /** Stops the current call's media (not the signalling call). */
  async stop(reason: string): Promise<void> {
    const callId = this.#callId;
    if (callId === undefined) return;
    this.#callId = undefined;
    const engine = this.#engine;
    const transport = this.#transport;
    this.#engine = undefined;
    this.#transport = undefined;
    this.#keeper?.stop();
    this.#keeper = undefined;
    let durationMs = 0;
    const clocks = engine?.deviceClocks;
    if (engine !== undefined) {
      durationMs = await engine.stop();
      this.#pendingSettings = engine.settings;
    }
    await transport?.close();
    this.#log?.write({
      kind: 'end',
      durationMs: Math.round(durationMs),
      reason,
      ...(clocks?.captureMs === undefined ? {} : { captureStartedAtMs: clocks.captureMs }),
      ...(clocks?.playbackMs === undefined ? {} : { playbackStartedAtMs: clocks.playbackMs }),
    });
    const logPath = this.#log?.path;
    this.#log = undefined;
    this.#state = { phase: 'idle' };
    this.#emit('state', this.state);
    for (const l of this.#listeners.ended) l({ callId, reason, durationMs, logPath });
  }

  /** Unsubscribes from the session and stops media. */
  async close(): Promise<void> {
    for (const off of this.#offs) off();
    this.#offs = [];
    await this.stop('closed');
  }

  async #startCall(
    callId: string,
    peerInfo: { userId: string; name: string },
    role: 'offerer' | 'answerer',
    iceServers: {
      urls: string[];
      username?: string | undefined;
      credential?: string | undefined;
    }[],
    relayOnly: boolean,
  ): Promise<void> {
    if (this.#callId !== undefined) await this.stop('replaced');
    const peer = peerInfo.name;
    this.#callId = callId;
    this.#peer = peerInfo;
    this.#verified = undefined;
    this.#pinnedNow = false;
    this.#signalChain = Promise.resolve();
    const transport = new PeerTransport({
      iceServers,
      relayOnly: relayOnly || this.#o.relayOnly === true,
      // Of the allowed addresses, those on an interface now (others join at a restart).
      hostAddresses: presentHostAddresses(this.#o.hostAddresses),
    });
    this.#transport = transport;
    this.#state = { phase: 'connecting', callId, peer };
    this.#emit('state', this.state);
    const session = this.#o.session;
    transport.on('candidate', (c) => {
      const signal: CallSignal =
        c === null
          ? { kind: 'end-of-candidates' }
          : {
              kind: 'candidate',
              candidate: c.candidate,
              ...(c.sdpMid === undefined ? {} : { sdpMid: c.sdpMid }),
              ...(c.sdpMLineIndex === undefined ? {} : { sdpMLineIndex: c.sdpMLineIndex }),
            };
      session.sendSignal(signal).catch(() => {
        // Signalling down: ICE may still succeed with the candidates already sent.
      });
    });
    try {
      if (this.#o.profileDir !== undefined) {
        this.#log = new QosLogWriter({ profileDir: this.#o.profileDir, peer });
      }
      if (role === 'offerer') {
        const offer = await transport.createOffer();
        const binding = await this.#binding(transport);
        await session.sendSignal({ kind: 'offer', sdp: offer.sdp, binding });
      }
      await transport.waitConnected(this.#o.connectTimeoutMs ?? 25_000);
      if (this.#callId !== callId) return;
      // Before any audio is sent or played: the certificate DTLS verified is the signed one.
      const verified = this.#verifiedPeer();
      if (verified === undefined) {
        throw new MediaAuthError('MEDIA_AUTH_ERR_NO_BINDING', 'media up without a signed key');
      }
      checkNegotiatedFingerprint(transport.fingerprints().remote, verified.fingerprint);
      const engine = createEngine({
        transport,
        input: this.#o.input,
        output: this.#o.output,
        settings: this.#pendingSettings,
        onSnapshot: (snap) => {
          this.#log?.write(snap);
          this.#state = { ...this.#state, qos: snap, path: snap.path, settings: snap.settings };
          for (const l of this.#listeners.qos) l(snap);
        },
        ...(this.#o.probes === undefined ? {} : { probes: this.#o.probes }),
        ...(this.#o.acousticRoomMs === undefined ? {} : { acousticRoomMs: this.#o.acousticRoomMs }),
      });
      this.#engine = engine;
      engine.start();
      const sas = transport.sas(session.identity.publicKey, verified.identityKey);
      // The C pipeline both ways, on its network edge: `direct`, `relayed`, or `werift (why)` with
      // the typed error when werift or Node internals the direct edge needs changed (logged here
      // too).
      const edgeError = engine.edgeError;
      if (edgeError !== undefined) {
        console.error(`parloir: ${edgeError.code}: ${edgeError.message} (call on the werift edge)`);
      }
      const edge = `${engine.edge} edge${edgeError === undefined ? '' : `, ${edgeError.code}`}`;
      const sendPath = `${engine.sendPath}, ${edge}`;
      const receivePath = `${engine.receivePath}, ${edge}`;
      this.#log?.write({
        kind: 'start',
        startedAt: new Date().toISOString(),
        user: session.name,
        peer,
        role: role === 'offerer' ? 'caller' : 'callee',
        sas: sas?.words ?? '',
        sendPath,
        receivePath,
      });
      this.#setState({
        phase: 'up',
        sas,
        path: transport.path().path,
        sendPath,
        receivePath,
        settings: engine.settings,
        logPath: this.#log?.path,
        pinnedNow: this.#pinnedNow,
        pathState: 'up',
      });
      const keeper = new PathKeeper({
        transport,
        role,
        sendSignal: (signal) => session.sendSignal(signal),
        binding: () => this.#binding(transport),
        hostAddresses: this.#o.hostAddresses,
        onEvent: (e) => {
          if (e.state !== 'failed') {
            this.#setState(
              e.state === 'up' ? { pathState: 'up', path: e.path } : { pathState: 'restarting' },
            );
          }
          for (const l of this.#listeners.path) l(e);
        },
      });
      this.#keeper = keeper;
      keeper.start();
    } catch (err) {
      if (this.#callId === callId) this.#fail(err);
    }
  }

  /** The peer's verified binding (a method: set by #verify while #startCall awaits). */
  #verifiedPeer(): VerifiedPeer | undefined {
    return this.#verified;
  }

  /** Our signed media binding for the current call (media-binding.ts). */
  async #binding(transport: PeerTransport): Promise<MediaBinding> {
    const fp = transport.localFingerprint();
    const callId = this.#callId;
    const peer = this.#peer;
    if (fp === undefined || callId === undefined || peer === undefined) {
      throw new MediaAuthError('MEDIA_AUTH_ERR_FINGERPRINT_COUNT', 'no local DTLS fingerprint');
    }
    return signMediaBinding(this.#o.session.identity, callId, peer.userId, fp);
  }

  /**
   * Checks the peer's offer or answer before it is applied: signed binding, its key the one of
   * the user the server announced, the SDP's one fingerprint the signed one, the key the pinned
   * one. Throws {@link MediaAuthError}.
   */
  async #verify(sdp: string, binding: MediaBinding | undefined): Promise<void> {
    const callId = this.#callId;
    const peer = this.#peer;
    const session = this.#o.session;
    const selfUserId = session.userId ?? (await userIdOf(session.identity.publicKey));
    if (callId === undefined || peer === undefined) return;
    const verified = await verifyMediaBinding(binding, {
      callId,
      peerUserId: peer.userId,
      selfUserId,
    });
    checkSignedSdp(sdp, verified.fingerprint);
    this.#pinnedNow = this.#pins.check({
      name: peer.name,
      userId: peer.userId,
      identityKey: verified.identityKey,
    });
    this.#verified = verified;
  }

  async #applySignal(signal: CallSignal): Promise<void> {
    const t = this.#transport;
    if (t === undefined) return;
    switch (signal.kind) {
      case 'offer': {
        // The first offer, or the caller's ICE restart once media is up: the same checks.
        await this.#verify(signal.sdp, signal.binding);
        this.#keeper?.beforeAcceptingRestart();
        const answer = await t.acceptOffer({ type: 'offer', sdp: signal.sdp });
        const binding = await this.#binding(t);
        await this.#o.session.sendSignal({ kind: 'answer', sdp: answer.sdp, binding });
        t.releaseCandidates();
        return;
      }
      case 'restart-request':
        this.#keeper?.requested(signal.reason);
        return;
      case 'answer':
        await this.#verify(signal.sdp, signal.binding);
        await t.acceptAnswer({ type: 'answer', sdp: signal.sdp });
        return;
      case 'candidate': {
        const c: IceCandidateJson = {
          candidate: signal.candidate,
          sdpMid: signal.sdpMid ?? undefined,
          sdpMLineIndex: signal.sdpMLineIndex ?? undefined,
        };
        await t.addRemoteCandidate(c);
        return;
      }
      case 'end-of-candidates':
        await t.addRemoteCandidate(null);
        return;
    }
  }

  #fail(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    const code =
      typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
        ? err.code
        : undefined;
    this.#setState({
      phase: 'failed',
      error: code === undefined ? msg : `${code}: ${msg}`,
      errorCode: code,
    });
    if (err instanceof MediaAuthError) {
      // The peer's media key did not check out: no audio must flow, and the call is over.
      const transport = this.#transport;
      this.#transport = undefined;
      void transport?.close();
      this.#o.session.hangup().catch(() => undefined);
    }
  }

  #setState(patch: Partial<MediaState>): void {
    this.#state = { ...this.#state, ...patch };
    this.#emit('state', this.state);
  }

  #emit(event: 'state', s: MediaState): void {
    for (const l of this.#listeners[event]) l(s);
  }
}
