/**
 * A thin adapter over werift's RTCPeerConnection for one audio call: offer/answer, trickle ICE as
 * plain JSON, one sendrecv audio transceiver negotiated as Opus/48000/2 (RFC 7587 §7) through
 * which we send our own pre-encoded Opus payloads and receive raw RTP, RTCP-derived statistics,
 * the selected candidate pair (direct or relayed) and the DTLS fingerprints with the SAS.
 *
 * werift does ICE (RFC 8445), DTLS-SRTP (RFC 5764) and RTCP SR/RR (RFC 3550 §6.4) itself; this
 * file only adapts its API to plain data so the engine and signalling never see werift types.
 * Once connected, {@link PeerTransport.openEdge} puts the call's C pipeline on its network edge
 * (media-edge/: direct on the socket, or through werift), the only place werift's internals are
 * read.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCRtpSender,
  type RTCRtpTransceiver,
} from 'werift';
import { SrtpReplayList, guessRolloverCounter, srtpIndex } from '@parloir/media';
import { sdpFingerprint, sdpFingerprints } from '@parloir/protocol';
import { EngineError } from '../engine/errors.ts';
import {
  installWeriftPatches,
  negotiatedCertificates,
  openMediaEdge,
  remoteSrtpStates,
  senderRtcpFields,
  type MediaEdge,
  type MediaEdgeOptions,
} from './media-edge/index.ts';
import {
  repointMediaEdge,
  selectedPair,
  setGatherAddresses,
  startIceChecks,
  type SelectedPair,
} from './media-edge/ice-restart.ts';
import { deriveSas, type ShortAuthString } from './sas.ts';

/** After a restart, how often and how many times the edge tries to follow the new pair. */
const REPOINT_RETRY_MS = 100;
const REPOINT_TRIES = 30;

/** Dynamic payload type we offer for Opus (the value browsers use too). */
export const OPUS_PAYLOAD_TYPE = 111;
/** RTP clock rate of Opus, always 48000 Hz whatever the real sample rate (RFC 7587 §4.1). */
export const OPUS_CLOCK_HZ = 48_000;

/** A session description as plain JSON, as carried by signalling. */
export interface SessionDescriptionJson {
  /** 'offer' or 'answer'. */
  type: 'offer' | 'answer';
  /** The SDP text. */
  sdp: string;
}

/** One ICE candidate as plain JSON (W3C RTCIceCandidateInit). */
export interface IceCandidateJson {
  /** The candidate line, without the "a=" prefix. */
  candidate: string;
  /** Media id of the m-line. */
  sdpMid?: string | undefined;
  /** Index of the m-line. */
  sdpMLineIndex?: number | undefined;
  /** ICE username fragment. */
  usernameFragment?: string | undefined;
}

/** A STUN or TURN server. */
export interface IceServerConfig {
  /** `stun:host:port` or `turn:host:port?transport=udp|tcp`. */
  urls: string | string[];
  /** TURN username (REST style `expiry:callId:userId`). */
  username?: string | undefined;
  /** TURN password. */
  credential?: string | undefined;
}

/** One received RTP packet, reduced to what the jitter buffer needs. */
export interface ReceivedRtp {
  /** 16-bit RTP sequence number. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp, in 48 kHz ticks. */
  timestamp: number;
  /** Synchronisation source. */
  ssrc: number;
  /** Marker bit (start of a talk spurt after DTX, RFC 3551 §4.1). */
  marker: boolean;
  /** Payload type. */
  payloadType: number;
  /** The Opus packet. */
  payload: Buffer;
  /** Total RTP packet size, header included, in bytes. */
  sizeBytes: number;
}

/** Path of the selected ICE candidate pair. */
export type MediaPath = 'direct' | 'relayed' | 'unknown';

/** Transport-level statistics, read once a second by the engine. */
export interface TransportStats {
  /** Round-trip time from RTCP SR/RR LSR/DLSR (RFC 3550 §6.4.1), ms; undefined before one. */
  rttMs: number | undefined;
  /** Fraction of OUR packets the peer reports lost in its last RR, 0..1. */
  remoteFractionLost: number | undefined;
  /** Cumulative packets of ours the peer reports lost. */
  remotePacketsLost: number | undefined;
  /** Packets we sent. */
  packetsSent: number;
  /** Payload bytes we sent. */
  bytesSent: number;
  /** Packets we received. */
  packetsReceived: number;
  /** Payload + header bytes we received. */
  bytesReceived: number;
  /**
   * Packets dropped before the jitter buffer as replayed or more than the replay window old
   * (RFC 3711 §3.3.2), on either edge.
   */
  packetsReplayed: number;
  /** The call's network edge once open: `direct`, `relayed`, or `werift (why)`. */
  edge?: string | undefined;
  /**
   * When werift or Node internals the direct edge needs changed: the typed error (the call runs
   * on the werift edge).
   */
  edgeError?: { code: string; message: string } | undefined;
  /** Selected path. */
  path: MediaPath;
  /**
   * `up`, or `restarting` between an ICE restart's offer/answer and the new pair carrying the
   * call (RFC 8445 §2.4).
   */
  pathState?: PathState | undefined;
  /** ICE restarts this call has made or accepted. */
  iceRestarts?: number | undefined;
  /** Type of the local candidate of the selected pair (host, srflx, relay…). */
  localCandidateType: string | undefined;
  /** Type of the remote candidate of the selected pair. */
  remoteCandidateType: string | undefined;
}

/** The media path's state: `restarting` during an ICE restart. */
export type PathState = 'up' | 'restarting';

/** Connection state, as werift's RTCPeerConnection.connectionState. */
export type TransportState =
  'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** Events of a {@link PeerTransport}. */
export interface PeerTransportEvents {
  /** A local ICE candidate to send to the peer; `null` when gathering is complete. */
  candidate: (candidate: IceCandidateJson | null) => void;
  /** An RTP packet from the peer. Called synchronously from the socket callback. */
  rtp: (packet: ReceivedRtp) => void;
  /** Connection state changed. */
  state: (state: TransportState) => void;
  /**
   * An ICE restart began (`restarting`), or its new pair carries the call (`up`, with the path
   * and the edge now in use), or its checks failed (`up` is not emitted; `failed` with why).
   */
  path: (event: PathEvent) => void;
}

/** A {@link PeerTransportEvents.path} event. */
export type PathEvent =
  | { state: 'restarting' }
  | { state: 'up'; path: MediaPath; edge: string; note?: string | undefined }
  | { state: 'failed'; reason: string };

/** Options of a {@link PeerTransport}. */
export interface PeerTransportOptions {
  /** STUN/TURN servers. Default none (host candidates only). */
  iceServers?: IceServerConfig[] | undefined;
  /** Use only relayed candidates (`iceTransportPolicy: 'relay'`). Default false. */
  relayOnly?: boolean | undefined;
  /** Restrict host candidates to these interface addresses, e.g. ['127.0.0.1'] in tests. */
  hostAddresses?: string[] | undefined;
}

/** Typed listener storage: one array per event name. */
type Listeners = { [K in keyof PeerTransportEvents]: PeerTransportEvents[K][] };

/** A WebRTC audio-only transport for one call. */
export class PeerTransport {
  #pc: RTCPeerConnection;
  #transceiver: RTCRtpTransceiver;
  #sender: RTCRtpSender;
  #listeners: Listeners = { candidate: [], rtp: [], state: [], path: [] };
  #sequenceNumber = Math.floor(Math.random() * 0x10000);
  #timestampOffset = Math.floor(Math.random() * 0x1_0000_0000);
  #packetsSent = 0;
  #bytesSent = 0;
  #packetsReceived = 0;
  #bytesReceived = 0;
  #closed = false;
  /** The call's network edge and C pipeline, once open. */
  #edge: MediaEdge | undefined;
  /**
   * RFC 3711 §3.3.2 replay list of the packets werift opened: werift keeps none (the direct
   * edge's C receiver keeps its own, and checks what werift emits while it runs).
   */
  #replay = new SrtpReplayList();
  /** ICE restarts made or accepted. */
  #restarts = 0;
  #pathState: PathState = 'up';
  /** A restart offer of ours awaits its answer. */
  #restartOffered = false;
  /**
   * Local candidates held during a restart until its offer or answer has gone out: the peer
   * refuses candidates of a ufrag it has not seen in a description yet.
   */
  #heldCandidates: (IceCandidateJson | null)[] | undefined;

  /** Throws {@link MediaEdgeError} if werift lacks what the DTLS peer checks hook into. */
  constructor(options: PeerTransportOptions = {}) {
    // werift's DTLS handshake survives loss and checks the peer's signatures; SRTP AES-GCM in
    // the addon (media-edge/).
    installWeriftPatches();
    const opus = new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: OPUS_CLOCK_HZ,
      channels: 2,
      payloadType: OPUS_PAYLOAD_TYPE,
      // RFC 7587 §6.1: we send mono, accept in-band FEC, may use DTX; ptime up to 60 ms.
      parameters: 'minptime=10;useinbandfec=1;usedtx=1;stereo=0;sprop-stereo=0',
      rtcpFeedback: [],
    });
    const hosts = options.hostAddresses;
    this.#pc = new RTCPeerConnection({
      codecs: { audio: [opus] },
      // No header extensions: we need none, and fewer bytes per 10 ms packet matter.
      headerExtensions: { audio: [] },
      iceServers: (options.iceServers ?? []).map((s) => ({
        urls: s.urls,
        ...(s.username === undefined ? {} : { username: s.username }),
        ...(s.credential === undefined ? {} : { credential: s.credential }),
      })),
      iceTransportPolicy: options.relayOnly === true ? 'relay' : 'all',
      iceUseIpv6: false,
      ...(hosts === undefined
        ? {}
        : {
            iceAdditionalHostAddresses: hosts,
            ...(hosts[0] === undefined ? {} : { iceInterfaceAddresses: { udp4: hosts[0] } }),
          }),
    });
    this.#transceiver = this.#pc.addTransceiver('audio', { direction: 'sendrecv' });
    this.#sender = this.#transceiver.sender;
    this.#pc.onIceCandidate.subscribe((c) => {
      const json = c === undefined ? null : c.toJSON();
      if (this.#heldCandidates !== undefined) this.#heldCandidates.push(json);
      else for (const l of this.#listeners.candidate) l(json);
    });
    this.#pc.connectionStateChange.subscribe((s) => {
      for (const l of this.#listeners.state) l(s);
    });
    this.#pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const h = rtp.header;
        const roc = this.#weriftRoc(h.ssrc, h.sequenceNumber);
        const index = srtpIndex(roc, h.sequenceNumber);
        if (this.#replay.check(h.ssrc, index) !== 'fresh') {
          this.#restoreWeriftRoc(h.ssrc);
          return;
        }
        this.#replay.commit(h.ssrc, index);
        const n = this.#edge?.receive;
        if (n !== undefined) {
          // werift opened it (every packet on the werift edge; on the direct one the first of an
          // SSRC, or one from another address): into the C buffer, unless its replay list has it.
          const buffered = n.insertFromWerift({
            sequenceNumber: h.sequenceNumber,
            timestamp: h.timestamp,
            ssrc: h.ssrc,
            marker: h.marker,
            payloadType: h.payloadType,
            payload: rtp.payload,
            headerBytes: h.serializeSize,
            rolloverCounter: roc,
          });
          if (buffered) {
            this.#packetsReceived++;
            this.#bytesReceived += rtp.payload.length + h.serializeSize;
          }
          return;
        }
        this.#deliver({
          sequenceNumber: h.sequenceNumber,
          timestamp: h.timestamp,
          ssrc: h.ssrc,
          marker: h.marker,
          payloadType: h.payloadType,
          payload: rtp.payload,
          sizeBytes: rtp.payload.length + h.serializeSize,
        });
      });
    });
  }

  /** The call's C pipeline's network edge: `direct`, `relayed`, `werift (why)` or `not open`. */
  get edge(): string {
    const e = this.#edge;
    if (e === undefined) return 'not open';
    return e.kind === 'werift' ? `werift (${e.reason ?? 'unknown'})` : e.kind;
  }

  /**
   * The ROC werift has just opened a packet of `ssrc` with: its state for the SSRC is updated
   * before it emits the packet. Should werift's state be unreadable, the replay list's guess
   * (RFC 3711 Appendix A).
   */
  #weriftRoc(ssrc: number, seq: number): number {
    const st = remoteSrtpStates(this.#sender)?.[ssrc] as { rolloverCounter?: unknown } | undefined;
    if (typeof st?.rolloverCounter === 'number') return st.rolloverCounter >>> 0;
    const highest = this.#replay.highest(ssrc);
    if (highest === undefined) return 0;
    return guessRolloverCounter(Math.floor(highest / 0x10000), highest % 0x10000, seq);
  }

  /**
   * Puts werift's ROC state of `ssrc` back to the highest index authenticated, after it opened a
   * replay: werift sets its state from any packet it opens, so an old one would move it back
   * and its next ROC guesses (RFC 3711 Appendix A) could go wrong for genuine packets.
   */
  #restoreWeriftRoc(ssrc: number): void {
    const st = remoteSrtpStates(this.#sender)?.[ssrc] as
      { rolloverCounter?: unknown; lastSequenceNumber?: unknown } | undefined;
    const highest = this.#replay.highest(ssrc);
    if (st === undefined || highest === undefined) return;
    st.rolloverCounter = Math.floor(highest / 0x10000);
    st.lastSequenceNumber = highest % 0x10000;
  }

  #deliver(packet: ReceivedRtp): void {
    this.#packetsReceived++;
    this.#bytesReceived += packet.sizeBytes;
    for (const l of this.#listeners.rtp) l(packet);
  }

  /** Subscribes to an event. Returns a function that unsubscribes. */
  on<K extends keyof PeerTransportEvents>(event: K, listener: PeerTransportEvents[K]): () => void {
    const list = this.#listeners[event];
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Current connection state. */
  get state(): TransportState {
    return this.#pc.connectionState;
  }

  /** Creates the offer and sets it as local description. Candidates then trickle out. */
  async createOffer(): Promise<SessionDescriptionJson> {
    this.#assertOpen();
    const offer = await this.#pc.createOffer();
    await this.#pc.setLocalDescription(offer);
    return { type: 'offer', sdp: this.#pc.localDescription?.sdp ?? offer.sdp };
  }

  /** Applies the peer's offer and returns our answer (set as local description). */
  async acceptOffer(offer: SessionDescriptionJson): Promise<SessionDescriptionJson> {
    this.#assertOpen();
    if (offer.type !== 'offer' || typeof offer.sdp !== 'string' || !offer.sdp.includes('m=audio')) {
      throw new EngineError('TRANSPORT_ERR_BAD_SDP', 'the remote offer has no audio m-line');
    }
    assertOneFingerprint(offer.sdp);
    // An offer after the first is the caller's ICE restart (RFC 8445 §2.4).
    const restart = this.#pc.remoteDescription !== null;
    if (restart) this.#beginRestart();
    try {
      await this.#pc.setRemoteDescription(offer);
    } catch (err) {
      throw new EngineError('TRANSPORT_ERR_BAD_SDP', 'the remote offer was rejected', {
        cause: err,
      });
    }
    const answer = await this.#pc.createAnswer();
    await this.#pc.setLocalDescription(answer);
    if (restart) this.#checkRestartedIce();
    return { type: 'answer', sdp: this.#pc.localDescription?.sdp ?? answer.sdp };
  }

  /** Applies the peer's answer to our offer. */
  async acceptAnswer(answer: SessionDescriptionJson): Promise<void> {
    this.#assertOpen();
    if (answer.type !== 'answer' || typeof answer.sdp !== 'string') {
      throw new EngineError('TRANSPORT_ERR_BAD_SDP', 'expected an SDP answer');
    }
    // The answer to a restart offer a newer one replaced and that was answered already: stale.
    if (this.#restarts > 0 && this.#pc.signalingState === 'stable') return;
    assertOneFingerprint(answer.sdp);
    try {
      await this.#pc.setRemoteDescription(answer);
    } catch (err) {
      throw new EngineError('TRANSPORT_ERR_BAD_SDP', 'the remote answer was rejected', {
        cause: err,
      });
    }
    if (this.#restartOffered) {
      this.#restartOffered = false;
      this.#checkRestartedIce();
    }
  }

  /**
   * The caller's ICE restart (RFC 8445 §2.4): new credentials, a new gathering (on
   * `hostAddresses` when given, e.g. the allowed addresses still present), the same DTLS
   * association. Candidates are held until {@link releaseCandidates}: call it once the offer
   * has been sent. Then {@link acceptAnswer} starts the checks.
   */
  async restartOffer(hostAddresses?: readonly string[]): Promise<SessionDescriptionJson> {
    this.#assertOpen();
    if (hostAddresses !== undefined) this.setHostAddresses(hostAddresses);
    this.#beginRestart();
    this.#restartOffered = true;
    const offer = await this.#pc.createOffer({ iceRestart: true });
    await this.#pc.setLocalDescription(offer);
    return { type: 'offer', sdp: this.#pc.localDescription?.sdp ?? offer.sdp };
  }

  /** The host addresses the next gathering (a restart's) uses. */
  setHostAddresses(addresses: readonly string[]): void {
    const err = setGatherAddresses(this.#pc, addresses);
    if (err !== undefined) throw err;
  }

  /** Sends the candidates held since a restart began (its offer or answer is out). */
  releaseCandidates(): void {
    const held = this.#heldCandidates;
    this.#heldCandidates = undefined;
    for (const c of held ?? []) for (const l of this.#listeners.candidate) l(c);
  }

  /** The path's state and the selected pair, for the path monitor. */
  pathInfo(): { state: PathState; restarts: number; pair: SelectedPair | undefined } {
    return { state: this.#pathState, restarts: this.#restarts, pair: selectedPair(this.#pc) };
  }

  /** Packets the call has received so far (C receiver and werift), for the path monitor. */
  packetsReceivedNow(): number {
    const rx = this.#edge?.receive.receiver;
    if (rx !== undefined && !rx.closed) return rx.stats().packets;
    return this.#packetsReceived;
  }

  #beginRestart(): void {
    // A new gathering: candidates held for an earlier restart's offer that never went out are
    // of a superseded ICE generation.
    this.#heldCandidates = [];
    this.#pathState = 'restarting';
    this.#emitPath({ state: 'restarting' });
  }

  /** Runs the restarted transport's checks, then moves the edge to the nominated pair. */
  #checkRestartedIce(): void {
    this.#restarts++;
    startIceChecks(this.#pc)
      .then(async () => {
        const edge = this.#edge;
        let moved: ReturnType<typeof repointMediaEdge> = { ok: true, edge: 'not open' };
        // A relayed pair takes the C sender once werift has bound a TURN channel to the peer
        // (RFC 8656 §12), which may come a little after the checks: try again meanwhile.
        for (let i = 0; edge !== undefined && !this.#closed; i++) {
          moved = repointMediaEdge(this.#pc, this.#sender, this.#transceiver.receiver, edge);
          if (moved.ok || i >= REPOINT_TRIES) break;
          await new Promise((r) => setTimeout(r, REPOINT_RETRY_MS));
        }
        if (this.#closed) return;
        this.#pathState = 'up';
        this.#emitPath({
          state: 'up',
          path: this.path().path,
          edge: moved.ok ? moved.edge : this.edge,
          note: moved.ok ? undefined : `the C sender stays on the old pair: ${moved.reason}`,
        });
      })
      .catch((err: unknown) => {
        if (this.#closed) return;
        this.#emitPath({
          state: 'failed',
          reason: err instanceof Error ? err.message : String(err),
        });
      });
  }

  #emitPath(event: PathEvent): void {
    for (const l of this.#listeners.path) l(event);
  }

  /** Adds a remote trickled candidate; `null` marks the end of candidates. */
  async addRemoteCandidate(candidate: IceCandidateJson | null): Promise<void> {
    if (this.#closed) return;
    if (candidate === null) return;
    if (typeof candidate.candidate !== 'string') {
      throw new EngineError('TRANSPORT_ERR_BAD_CANDIDATE', 'candidate is not a string');
    }
    if (candidate.candidate === '') return;
    try {
      await this.#pc.addIceCandidate(candidate);
    } catch (err) {
      // RFC 8838 §11.4: a candidate of another ICE generation (an offer superseded by a newer
      // restart) is discarded, not an error.
      if (err instanceof Error && /usernameFragment/.test(err.message)) return;
      throw new EngineError('TRANSPORT_ERR_BAD_CANDIDATE', 'the remote candidate was rejected', {
        cause: err,
      });
    }
  }

  /** Resolves when connected; rejects after `timeoutMs` or on failure. */
  async waitConnected(timeoutMs: number): Promise<void> {
    if (this.#pc.connectionState === 'connected') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new EngineError(
            'TRANSPORT_ERR_CONNECT_TIMEOUT',
            `media path not connected after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const off = this.on('state', (s) => {
        if (s === 'connected') {
          clearTimeout(timer);
          off();
          resolve();
        } else if (s === 'failed' || s === 'closed') {
          clearTimeout(timer);
          off();
          reject(new EngineError('TRANSPORT_ERR_CLOSED', `media path ${s}`));
        }
      });
    });
  }

  /**
   * Sends one pre-encoded Opus frame. `timestamp` is the frame's first sample in 48 kHz ticks
   * from the start of the stream (we add a random offset, RFC 3550 §5.1); the sequence number is
   * ours. `marker` is set on the first packet of a talk spurt. Dropped silently before DTLS is up.
   */
  sendOpus(payload: Buffer, timestamp: number, marker: boolean): void {
    if (this.#closed) return;
    const header = new RtpHeader({
      payloadType: OPUS_PAYLOAD_TYPE,
      sequenceNumber: this.#sequenceNumber,
      timestamp: (timestamp + this.#timestampOffset) >>> 0,
      marker,
    });
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#packetsSent++;
    this.#bytesSent += payload.length + 12;
    this.#sender.sendRtp(new RtpPacket(header, payload)).catch(() => {
      // A send after close or before DTLS: the packet is lost like on any network.
    });
  }

  /**
   * Opens the call's C pipeline on its network edge (media-edge/): capture → gain → Opus → RTP →
   * SRTP → socket and socket → SRTP → jitter buffer → decode → playout, all in C, when the pair is
   * plain UDP, SRTP is AES-GCM and werift's internals are as expected (`direct`); else the same C
   * pipeline with werift making and opening the packets (`werift`). The returned edge's sender
   * and receiver are for the capture and playback devices; the transport closes them when it
   * closes. A werift or Node change the direct edge cannot work with is in `edge.error` (and in
   * {@link stats}); the call still works. Once per transport.
   */
  openEdge(options: MediaEdgeOptions): MediaEdge {
    this.#assertOpen();
    if (this.#edge !== undefined) {
      throw new EngineError('TRANSPORT_ERR_CLOSED', 'the media edge is already open');
    }
    const edge = openMediaEdge(
      {
        pc: this.#pc,
        sender: this.#sender,
        receiver: this.#transceiver.receiver,
        replay: this.#replay,
        sendOpus: (payload, clock, marker) => this.sendOpus(payload, clock, marker),
        sequenceNumber: this.#sequenceNumber,
        timestampOffset: this.#timestampOffset,
      },
      options,
    );
    if (edge.kind !== 'werift') {
      edge.receive.onRecords((records) => {
        for (const p of records) {
          if (p.inserted) continue; // counted when werift emitted it
          this.#packetsReceived++;
          this.#bytesReceived += p.payloadBytes + p.headerBytes;
        }
      });
    }
    this.#edge = edge;
    return edge;
  }

  /** Our DTLS certificate's fingerprint (`sha-256 AB:CD:…`), as our SDP announces it. */
  localFingerprint(): string | undefined {
    return sdpFingerprint(this.#pc.localDescription?.sdp ?? '');
  }

  /**
   * The DTLS certificates actually negotiated (`sha-256 AB:CD:…`): ours, and the peer's that
   * the DTLS stack verified. Undefined before DTLS is up. Never read from SDP text.
   */
  fingerprints(): { local: string | undefined; remote: string | undefined } {
    return negotiatedCertificates(this.#sender);
  }

  /**
   * The short authentication string over both identity keys and the negotiated certificates,
   * once DTLS is up (protocol sas.ts v2).
   */
  sas(localIdentityKey: Uint8Array, remoteIdentityKey: Uint8Array): ShortAuthString | undefined {
    const { local, remote } = this.fingerprints();
    if (local === undefined || remote === undefined) return undefined;
    return deriveSas(
      { identityKey: localIdentityKey, certificateFingerprint: local },
      { identityKey: remoteIdentityKey, certificateFingerprint: remote },
    );
  }

  /** Selected candidate pair's path. */
  path(): { path: MediaPath; local: string | undefined; remote: string | undefined } {
    const ice = this.#pc.iceTransports[0];
    const pair = ice?.getSelectedCandidatePair();
    if (pair === null || pair === undefined) {
      return { path: 'unknown', local: undefined, remote: undefined };
    }
    const local = candidateType(pair.local.candidate);
    const remote = candidateType(pair.remote.candidate);
    const path = local === 'relay' || remote === 'relay' ? 'relayed' : 'direct';
    return { path, local, remote };
  }

  /** Reads statistics. Cheap enough to call once a second. */
  async stats(): Promise<TransportStats> {
    // The C receiver's records up to now (counters here, werift's RTCP statistics, QoS).
    const edge = this.#edge;
    edge?.receive.drain();
    let rttMs: number | undefined;
    let remoteFractionLost: number | undefined;
    let remotePacketsLost: number | undefined;
    if (!this.#closed) {
      // The fields werift's sender keeps from RTCP RRs (RFC 3550 §6.4.1), the very ones its
      // getStats() puts in 'remote-inbound-rtp': read directly, since building the whole stats
      // report (certificates, candidates, codecs…) once a second was a visible share of a
      // client's CPU. getStats() stays the fallback if werift changes.
      const s = senderRtcpFields(this.#sender);
      if (s !== undefined) {
        if (typeof s.rtt === 'number') rttMs = s.rtt * 1000;
        if (typeof s.remoteFractionLost === 'number') remoteFractionLost = s.remoteFractionLost;
        if (typeof s.remotePacketsLost === 'number') remotePacketsLost = s.remotePacketsLost;
      } else {
        const report = await this.#sender.getStats();
        for (const r of report.values() as IterableIterator<Record<string, unknown>>) {
          if (r.type === 'remote-inbound-rtp') {
            if (typeof r.roundTripTime === 'number') rttMs = r.roundTripTime * 1000;
            if (typeof r.fractionLost === 'number') remoteFractionLost = r.fractionLost;
            if (typeof r.packetsLost === 'number') remotePacketsLost = r.packetsLost;
          }
        }
      }
    }
    const p = this.path();
    // On the werift edge sendOpus counted every packet; on the direct and relayed ones the C
    // sender did.
    const n =
      edge !== undefined && edge.kind !== 'werift' && !edge.sender.closed
        ? edge.sender.stats()
        : undefined;
    const rx = edge?.receive.receiver;
    const rxStats = rx === undefined || rx.closed ? undefined : rx.stats();
    const js = this.#replay.stats;
    return {
      rttMs,
      remoteFractionLost,
      remotePacketsLost,
      packetsSent: this.#packetsSent + (n?.packets ?? 0),
      bytesSent: this.#bytesSent + (n === undefined ? 0 : n.payloadBytes + 12 * n.packets),
      packetsReceived: this.#packetsReceived,
      bytesReceived: this.#bytesReceived,
      packetsReplayed:
        js.replayed + js.tooOld + (rxStats === undefined ? 0 : rxStats.replayed + rxStats.tooOld),
      path: p.path,
      pathState: this.#pathState,
      iceRestarts: this.#restarts,
      localCandidateType: p.local,
      remoteCandidateType: p.remote,
      edge: edge === undefined ? undefined : this.edge,
      edgeError:
        edge?.error === undefined
          ? undefined
          : { code: edge.error.code, message: edge.error.message },
    };
  }

  /** Closes the peer connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Before werift closes its socket (the sender holds a duplicate of it anyway).
    this.#edge?.sender.close();
    this.#edge?.receive.close();
    await this.#pc.close();
    for (const l of this.#listeners.state) l('closed');
    this.#listeners = { candidate: [], rtp: [], state: [], path: [] };
  }

  #assertOpen(): void {
    if (this.#closed) throw new EngineError('TRANSPORT_ERR_CLOSED', 'transport is closed');
  }
}

/**
 * Refuses a remote SDP without exactly one SHA-256 fingerprint: werift accepts a certificate
 * matching any `a=fingerprint` line (and keeps the lines of earlier descriptions), so a second
 * line is how a server would slip its own certificate in (issue 17 §1).
 */
function assertOneFingerprint(sdp: string): void {
  if (sdpFingerprint(sdp) === undefined) {
    throw new EngineError(
      'TRANSPORT_ERR_BAD_SDP',
      `the remote description has ${sdpFingerprints(sdp).length} certificate fingerprints; exactly one SHA-256 is required`,
    );
  }
}

/** The `typ` of a candidate line (RFC 8839 §5.1). */
function candidateType(candidate: string): string | undefined {
  return / typ (\S+)/.exec(candidate)?.[1];
}
