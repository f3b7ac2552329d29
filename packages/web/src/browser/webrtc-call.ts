/**
 * One WebRTC audio call in the page: microphone via getUserMedia, RTCPeerConnection with the
 * server's ICE servers (TURN, optionally relay-only), offer/answer and trickled candidates carried
 * by the signalling session, remote playback with volume, the SAS from both DTLS fingerprints,
 * once-a-second quality samples from getStats(), and mid-call settings (bitrate through
 * RTCRtpSender.setParameters; FEC and frame size through the Opus fmtp of the remote description,
 * re-applied locally — RFC 7587 §6.1 `useinbandfec`, RFC 4566 `a=ptime`), and ICE restarts
 * (issue 21 §2) when the path fails or the signalling re-attaches, as ice-restart.ts decides:
 * the offerer sends a restart offer, the answerer asks it to with `restart-request`. Chromium
 * keeps the DTLS association (and the checked certificate) through the restart.
 */
import {
  checkNegotiatedFingerprint,
  checkSignedSdp,
  deriveSas,
  formatFingerprint,
  MediaAuthError,
  sdpFingerprint,
  signMediaBinding,
  verifyMediaBinding,
  type CallSignal,
  type IceRestartReason,
  type MediaBinding,
  type Signer,
  type VerifiedPeer,
} from '@parloir/protocol';
import { quality } from '../app/quality.ts';
import { mungeOpus } from './opus-sdp.ts';
import { IceRestartPolicy, type IceState } from './ice-restart.ts';
import type { UiSettings, QosSample } from '../app/types.ts';

/**
 * Who the call is with and how to prove it (issue 17 §1): our identity signs our media binding,
 * the peer's is checked before any audio is sent or played.
 */
export interface CallAuth {
  /** Our identity (signs our media binding). */
  identity: Signer;
  /** Our user id. */
  selfUserId: string;
  /** The call id. */
  callId: string;
  /** The peer as the server announced it. */
  peer: { userId: string; name: string };
  /** Checks the peer's key against its pin (pins it on first use); throws MediaAuthError. */
  checkPin: (peer: { name: string; userId: string; identityKey: Uint8Array }) => void;
}

export { mungeOpus } from './opus-sdp.ts';

/** Options of {@link WebRtcCall}. */
export interface WebRtcCallOptions {
  /** The offerer creates the SDP offer (the signalling server picks the role). */
  role: 'offerer' | 'answerer';
  /** ICE servers handed out by the server for this call. */
  iceServers: RTCIceServer[];
  /** Use only relayed candidates (ICE transport policy "relay"). */
  relayOnly: boolean;
  /** The microphone stream (already acquired). */
  mic: MediaStream;
  /** Sends a signal to the other party. */
  sendSignal: (signal: CallSignal) => void;
  /** Media connected (ICE + DTLS up) or failed for good. */
  onConnection: (state: 'connected' | 'failed' | 'disconnected') => void;
  /** Initial settings (FEC, frame size, bitrate). */
  settings: UiSettings;
  /** Identities of the call (media binding and pinning). */
  auth: CallAuth;
  /**
   * The peer's media key did not check out (media-binding.ts): the call's media is closed, no
   * audio was sent or played. The error's code and message are for the person.
   */
  onAuthFailed: (err: MediaAuthError) => void;
  /** An ICE restart started (true) or the path is back (false): the UI shows "restarting…". */
  onRestarting?: (restarting: boolean) => void;
}

/** What one stats poll yields. */
export interface CallStatsSample {
  /** The quality sample for the charts. */
  sample: QosSample;
  /** The media path, when a candidate pair is selected. */
  path?: 'direct' | 'relay';
  /** Total audio bytes sent so far. */
  bytesSent: number;
  /** Total audio bytes received so far. */
  bytesReceived: number;
  /** Total audio packets received so far. */
  packetsReceived: number;
  /** Estimated mouth-to-ear delay, in ms. */
  oneWayDelayMs: number;
}

/**
 * How long the certificate check waits for the DTLS transport to report `connected` after the
 * peer connection did, in ms. Past it, the signed SDP fingerprint stands for the certificate.
 */
export const DTLS_CONNECTED_TIMEOUT_MS = 5_000;

/** A live WebRTC audio call. */
export class WebRtcCall {
  #opts: WebRtcCallOptions;
  #pc: RTCPeerConnection;
  #audio: HTMLAudioElement;
  #pendingCandidates: RTCIceCandidateInit[] = [];
  #remoteSet = false;
  #settings: UiSettings;
  #prev: { atMs: number; bytesSent: number; lost: number; received: number } | null = null;
  #closed = false;
  /** The microphone's sender: its track is set only once the peer is verified. */
  #micSender: RTCRtpSender | undefined;
  #remoteStream: MediaStream | undefined;
  /** What the peer's signed binding established. */
  #verified: VerifiedPeer | undefined;
  /** The remote certificate DTLS negotiated, checked against the signed one. */
  #remoteCertificate: string | undefined;
  /** Audio flows (both ways) only once this is true. */
  #authenticated = false;
  /** Where the checked remote certificate came from: the DTLS transport, or the signed SDP. */
  #certificateSource: 'dtls' | 'sdp' | 'none' = 'none';
  /** When to restart ICE (ice-restart.ts), and the timer that runs it. */
  #restart = new IceRestartPolicy();
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #restartShown = false;
  /** Media was up once: a later failure is the restart policy's to handle first. */
  #everConnected = false;

  /** Creates the peer connection and, as offerer, sends the offer. */
  constructor(opts: WebRtcCallOptions) {
    this.#opts = opts;
    this.#settings = { ...opts.settings };
    this.#pc = new RTCPeerConnection({
      iceServers: opts.iceServers,
      iceTransportPolicy: opts.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    this.#audio = new Audio();
    this.#audio.autoplay = true;
    // addTrack (not addTransceiver) so an answerer's transceiver is reused for the offer's
    // m-line; the track is then taken off until the peer's media key is verified (#authenticate).
    const micTrack = opts.mic.getAudioTracks()[0];
    if (micTrack !== undefined) {
      this.#micSender = this.#pc.addTrack(micTrack, opts.mic);
      void this.#micSender.replaceTrack(null);
    }
    this.#pc.ontrack = (e) => {
      this.#remoteStream = e.streams[0] ?? new MediaStream([e.track]);
      if (this.#authenticated) this.#play();
    };
    this.#pc.onicecandidate = (e) => {
      if (e.candidate === null) opts.sendSignal({ kind: 'end-of-candidates' });
      else if (e.candidate.candidate !== '')
        opts.sendSignal({
          kind: 'candidate',
          candidate: e.candidate.candidate,
          sdpMid: e.candidate.sdpMid,
          sdpMLineIndex: e.candidate.sdpMLineIndex,
        });
    };
    this.#pc.onconnectionstatechange = () => {
      const s = this.#pc.connectionState;
      if (s === 'connected') {
        void this.#authenticate().then((ok) => {
          if (!ok) return;
          this.#everConnected = true;
          void this.#applyBitrate();
          opts.onConnection('connected');
        });
      } else if (s === 'failed' && this.#everConnected && !this.#restart.exhausted) {
        // The restart policy (fed by the ICE state) restarts the path instead.
      } else if (s === 'failed' || s === 'disconnected') opts.onConnection(s);
    };
    this.#pc.oniceconnectionstatechange = () => {
      if (!this.#everConnected) return;
      this.#restart.handleIceState(this.#pc.iceConnectionState as IceState, Date.now());
      this.#runRestart();
    };
    if (opts.role === 'offerer') void this.#offer();
  }

  /**
   * Restarts ICE now (after a signalling re-attach: ours, or the peer's). The offerer makes the
   * restart offer; the answerer asks the offerer for one. `fromPeer`: the answerer's
   * `restart-request`, ignored when it crossed our own restart offer.
   */
  restartIce(reason: IceRestartReason, fromPeer = false): void {
    if (this.#closed || !this.#everConnected) return;
    this.#restart.request(reason, Date.now(), fromPeer);
    this.#runRestart();
  }

  /** Makes the restart the policy says is due, and sets the timer for its next decision. */
  #runRestart(): void {
    if (this.#closed) return;
    const now = Date.now();
    const reason = this.#restart.poll(now);
    if (reason !== undefined) {
      if (this.#opts.role === 'offerer')
        this.#restartOffer().catch((err: unknown) => console.warn('parloir: ICE restart', err));
      else this.#opts.sendSignal({ kind: 'restart-request', reason });
    }
    if (this.#restart.exhausted && !this.connected) {
      this.#opts.onConnection('failed');
      return;
    }
    this.#showRestarting();
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const next = this.#restart.nextTimeoutMs();
    if (next !== undefined)
      this.#restartTimer = setTimeout(() => this.#runRestart(), Math.max(0, next - now));
  }

  #showRestarting(): void {
    const restarting = this.#restart.restarting;
    if (restarting === this.#restartShown) return;
    this.#restartShown = restarting;
    this.#opts.onRestarting?.(restarting);
  }

  /** RFC 8445 §9: new ICE credentials in a new offer; a restart offer still unanswered is rolled back. */
  async #restartOffer(): Promise<void> {
    const pc = this.#pc;
    if (pc.signalingState === 'have-local-offer')
      await pc.setLocalDescription({ type: 'rollback' });
    if (pc.signalingState !== 'stable' || this.#closed) return;
    pc.restartIce();
    const offer = await pc.createOffer({ iceRestart: true });
    await pc.setLocalDescription(offer);
    const sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';
    this.#opts.sendSignal({ kind: 'offer', sdp, binding: await this.#binding(sdp) });
  }

  /** A restart's offer/answer is done: over at once if ICE never stopped being connected. */
  #negotiated(): void {
    this.#restart.negotiated(this.#pc.iceConnectionState as IceState, Date.now());
    this.#runRestart();
  }

  async #offer(): Promise<void> {
    const offer = await this.#pc.createOffer();
    await this.#pc.setLocalDescription(offer);
    const sdp = this.#pc.localDescription?.sdp ?? offer.sdp ?? '';
    this.#opts.sendSignal({ kind: 'offer', sdp, binding: await this.#binding(sdp) });
  }

  /** Our signed media binding for this call, over our SDP's one fingerprint. */
  async #binding(sdp: string): Promise<MediaBinding> {
    const fp = sdpFingerprint(sdp);
    if (fp === undefined) {
      throw new MediaAuthError('MEDIA_AUTH_ERR_FINGERPRINT_COUNT', 'no local DTLS fingerprint');
    }
    const a = this.#opts.auth;
    return signMediaBinding(a.identity, a.callId, a.peer.userId, fp);
  }

  /**
   * Checks the peer's offer or answer before it is applied: signed binding from the announced
   * user, for this call and us; the SDP's one fingerprint the signed one; the pinned key.
   */
  async #verify(sdp: string, binding: MediaBinding | undefined): Promise<void> {
    const a = this.#opts.auth;
    const verified = await verifyMediaBinding(binding, {
      callId: a.callId,
      peerUserId: a.peer.userId,
      selfUserId: a.selfUserId,
    });
    checkSignedSdp(sdp, verified.fingerprint);
    a.checkPin({ name: a.peer.name, userId: a.peer.userId, identityKey: verified.identityKey });
    this.#verified = verified;
  }

  /**
   * Once DTLS is up: the certificate the DTLS stack negotiated (RTCDtlsTransport
   * .getRemoteCertificates(), Chromium) is the signed one; only then do the microphone and the
   * speaker get their tracks. Without that API the single signed SDP fingerprint stands for it
   * (the browser refused any other certificate).
   */
  async #authenticate(): Promise<boolean> {
    if (this.#authenticated) return true;
    try {
      const verified = this.#verified;
      if (verified === undefined) {
        throw new MediaAuthError('MEDIA_AUTH_ERR_NO_BINDING', 'media up without a signed key');
      }
      const der = await this.#negotiatedCertificate();
      const negotiated =
        der === undefined
          ? sdpFingerprint(this.#pc.remoteDescription?.sdp ?? '')
          : formatFingerprint(new Uint8Array(await crypto.subtle.digest('SHA-256', der)));
      checkNegotiatedFingerprint(negotiated, verified.fingerprint);
      if (this.#closed) return false;
      this.#remoteCertificate = negotiated;
      this.#certificateSource = der === undefined ? 'sdp' : 'dtls';
      this.#authenticated = true;
      const track = this.#opts.mic.getAudioTracks()[0];
      if (this.#micSender !== undefined && track !== undefined) {
        await this.#micSender.replaceTrack(track);
      }
      this.#play();
      return true;
    } catch (err) {
      this.#authFailed(err);
      return false;
    }
  }

  /**
   * The peer's DER certificate from the DTLS transport, read once that transport is `connected`:
   * Chromium reports the peer connection connected slightly before its RTCDtlsTransport, whose
   * getRemoteCertificates() is empty until then. Waits for the transport's statechange, at most
   * {@link DTLS_CONNECTED_TIMEOUT_MS}; undefined where the API is missing, the transport never
   * connected, or a connected transport still shows no certificate.
   */
  async #negotiatedCertificate(): Promise<ArrayBuffer | undefined> {
    const transports = new Set<RTCDtlsTransport>();
    for (const t of [
      ...this.#pc.getSenders().map((x) => x.transport),
      ...this.#pc.getReceivers().map((x) => x.transport),
    ]) {
      if (t !== null && typeof t.getRemoteCertificates === 'function') transports.add(t);
    }
    if (transports.size === 0) return undefined;
    const ready = (): RTCDtlsTransport | undefined =>
      [...transports].find((t) => t.state === 'connected');
    let found = ready();
    if (found === undefined) {
      found = await new Promise<RTCDtlsTransport | undefined>((resolve) => {
        const done = (t: RTCDtlsTransport | undefined): void => {
          clearTimeout(timer);
          for (const x of transports) x.removeEventListener('statechange', onChange);
          resolve(t);
        };
        const onChange = (): void => {
          const t = ready();
          if (t !== undefined) done(t);
          else if ([...transports].every((x) => x.state === 'failed' || x.state === 'closed')) {
            done(undefined);
          }
        };
        const timer = setTimeout(() => done(ready()), DTLS_CONNECTED_TIMEOUT_MS);
        for (const x of transports) x.addEventListener('statechange', onChange);
      });
    }
    return found?.getRemoteCertificates()[0];
  }

  #play(): void {
    if (this.#remoteStream === undefined || this.#closed) return;
    this.#audio.srcObject = this.#remoteStream;
    this.#audio.play().catch(() => {
      // Autoplay may be refused until the next user gesture; the next click resumes it.
      document.addEventListener('click', () => void this.#audio.play(), { once: true });
    });
  }

  #authFailed(err: unknown): void {
    const e =
      err instanceof MediaAuthError
        ? err
        : new MediaAuthError('MEDIA_AUTH_ERR_BAD_SIGNATURE', String(err), { cause: err });
    if (this.#closed) return;
    this.close();
    this.#opts.onAuthFailed(e);
  }

  /** Feeds a signal from the other party. Errors end up as a failed connection. */
  async handleSignal(signal: CallSignal): Promise<void> {
    if (this.#closed) return;
    try {
      switch (signal.kind) {
        case 'offer': {
          try {
            await this.#verify(signal.sdp, signal.binding);
          } catch (err) {
            this.#authFailed(err);
            return;
          }
          await this.#pc.setRemoteDescription({
            type: 'offer',
            sdp: mungeOpus(signal.sdp, this.#settings),
          });
          await this.#flushCandidates();
          const answer = await this.#pc.createAnswer();
          await this.#pc.setLocalDescription(answer);
          const sdp = this.#pc.localDescription?.sdp ?? '';
          this.#opts.sendSignal({ kind: 'answer', sdp, binding: await this.#binding(sdp) });
          this.#negotiated();
          return;
        }
        case 'answer':
          // The answer to an offer rolled back by a newer restart: stale, nothing to apply.
          if (this.#pc.signalingState !== 'have-local-offer') return;
          try {
            await this.#verify(signal.sdp, signal.binding);
          } catch (err) {
            this.#authFailed(err);
            return;
          }
          await this.#pc.setRemoteDescription({
            type: 'answer',
            sdp: mungeOpus(signal.sdp, this.#settings),
          });
          await this.#flushCandidates();
          this.#negotiated();
          return;
        case 'candidate': {
          const c: RTCIceCandidateInit = {
            candidate: signal.candidate,
            sdpMid: signal.sdpMid ?? null,
            sdpMLineIndex: signal.sdpMLineIndex ?? null,
          };
          if (!this.#remoteSet) this.#pendingCandidates.push(c);
          else await this.#pc.addIceCandidate(c);
          return;
        }
        case 'end-of-candidates':
          return;
        case 'restart-request':
          // Only the offerer restarts (the answerer asks): the caller's offer wins.
          if (this.#opts.role === 'offerer') this.restartIce(signal.reason, true);
          return;
      }
    } catch (err) {
      console.warn('parloir: signal failed', err);
      if (signal.kind !== 'candidate') this.#opts.onConnection('failed');
    }
  }

  async #flushCandidates(): Promise<void> {
    this.#remoteSet = true;
    const queued = this.#pendingCandidates.splice(0);
    for (const c of queued) await this.#pc.addIceCandidate(c).catch(() => undefined);
  }

  /** Mutes or unmutes the microphone (the track keeps sending silence frames). */
  setMuted(muted: boolean): void {
    for (const t of this.#opts.mic.getAudioTracks()) t.enabled = !muted;
  }

  /** Output volume, 0..1. */
  setVolume(volume: number): void {
    this.#audio.volume = Math.min(1, Math.max(0, volume));
  }

  /**
   * The SAS (protocol sas.ts v2) over both identity keys, our certificate (from our own
   * description) and the peer's certificate DTLS negotiated; undefined until media is verified.
   */
  async sas(): Promise<string | undefined> {
    const local = sdpFingerprint(this.#pc.localDescription?.sdp ?? '');
    const remote = this.#remoteCertificate;
    const verified = this.#verified;
    if (local === undefined || remote === undefined || verified === undefined) return undefined;
    const sas = await deriveSas(
      { identityKey: this.#opts.auth.identity.publicKey, certificateFingerprint: local },
      { identityKey: verified.identityKey, certificateFingerprint: remote },
    );
    return sas.words;
  }

  /** Whether the media path is up (ICE and DTLS connected). */
  get connected(): boolean {
    return this.#pc.connectionState === 'connected';
  }

  /** Current settings (what was last applied). */
  get settings(): UiSettings {
    return { ...this.#settings };
  }

  /**
   * Applies settings mid-call. Bitrate goes through setParameters (no renegotiation). FEC and
   * frame size change the Opus parameters our encoder reads from the remote description, so the
   * remote description is re-applied locally with new fmtp (the other side sees no change).
   */
  async apply(change: UiSettings): Promise<void> {
    this.#settings = { ...this.#settings, ...change };
    if (change.bitrateKbps !== undefined) await this.#applyBitrate();
    if (change.fec === undefined && change.frameMs === undefined) return;
    const remote = this.#pc.remoteDescription;
    if (remote === null || this.#pc.signalingState !== 'stable') return;
    const sdp = mungeOpus(remote.sdp, this.#settings);
    if (remote.type === 'answer') {
      await this.#pc.setLocalDescription(await this.#pc.createOffer());
      await this.#pc.setRemoteDescription({ type: 'answer', sdp });
    } else {
      await this.#pc.setRemoteDescription({ type: 'offer', sdp });
      await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    }
  }

  async #applyBitrate(): Promise<void> {
    const kbps = this.#settings.bitrateKbps;
    if (kbps === undefined) return;
    for (const sender of this.#pc.getSenders()) {
      if (sender.track?.kind !== 'audio') continue;
      const params = sender.getParameters();
      if (params.encodings.length === 0) params.encodings = [{}];
      for (const e of params.encodings) e.maxBitrate = kbps * 1000;
      await sender.setParameters(params);
    }
  }

  /** Polls getStats() once: a chart sample plus path and byte counters. */
  async poll(nowMs: number): Promise<CallStatsSample> {
    const report = await this.#pc.getStats();
    let inbound: Record<string, unknown> | undefined;
    let outbound: Record<string, unknown> | undefined;
    let remoteInbound: Record<string, unknown> | undefined;
    let pair: Record<string, unknown> | undefined;
    let selectedPairId: string | undefined;
    const byId = new Map<string, Record<string, unknown>>();
    report.forEach((s: Record<string, unknown>) => {
      byId.set(s.id as string, s);
      if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s;
      else if (s.type === 'outbound-rtp' && s.kind === 'audio') outbound = s;
      else if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') remoteInbound = s;
      else if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string')
        selectedPairId = s.selectedCandidatePairId;
    });
    if (selectedPairId !== undefined) pair = byId.get(selectedPairId);
    const num = (o: Record<string, unknown> | undefined, k: string): number | undefined =>
      typeof o?.[k] === 'number' ? o[k] : undefined;

    const bytesSent = num(outbound, 'bytesSent') ?? 0;
    const bytesReceived = num(inbound, 'bytesReceived') ?? 0;
    const received = num(inbound, 'packetsReceived') ?? 0;
    const lost = Math.max(0, num(inbound, 'packetsLost') ?? 0);
    const jitterS = num(inbound, 'jitter');
    const jbDelayS = num(inbound, 'jitterBufferDelay');
    const jbCount = num(inbound, 'jitterBufferEmittedCount');
    const rttS = num(remoteInbound, 'roundTripTime') ?? num(pair, 'currentRoundTripTime');

    let bitrateKbps: number | null = null;
    let lossPct: number | null = null;
    const prev = this.#prev;
    if (prev !== null && nowMs > prev.atMs) {
      bitrateKbps = ((bytesSent - prev.bytesSent) * 8) / (nowMs - prev.atMs);
      const dLost = lost - prev.lost;
      const dRecv = received - prev.received;
      lossPct = dLost + dRecv > 0 ? (100 * Math.max(0, dLost)) / (dLost + dRecv) : 0;
    }
    this.#prev = { atMs: nowMs, bytesSent, lost, received };

    const bufferDelayMs =
      jbDelayS !== undefined && jbCount !== undefined && jbCount > 0
        ? (1000 * jbDelayS) / jbCount
        : null;
    const rttMs = rttS !== undefined ? rttS * 1000 : null;
    const frameMs = this.#settings.frameMs ?? 20;
    // Mouth-to-ear: half the RTT, the playout buffer, one frame plus Opus look-ahead (6.5 ms).
    const oneWayDelayMs = (rttMs ?? 0) / 2 + (bufferDelayMs ?? 0) + frameMs + 6.5;
    const q =
      lossPct === null
        ? null
        : quality({
            oneWayDelayMs,
            lossPct,
            bitrateKbps: this.#settings.bitrateKbps ?? 32,
            fec: this.#settings.fec ?? true,
          });

    let path: 'direct' | 'relay' | undefined;
    if (pair !== undefined) {
      const local = byId.get(pair.localCandidateId as string);
      const remote = byId.get(pair.remoteCandidateId as string);
      path =
        local?.candidateType === 'relay' || remote?.candidateType === 'relay' ? 'relay' : 'direct';
    }
    return {
      sample: {
        t: nowMs / 1000,
        jitterMs: jitterS !== undefined ? jitterS * 1000 : null,
        lossPct,
        rttMs,
        mos: q?.mos ?? null,
        bitrateKbps,
        bufferDelayMs,
        ...(q !== null ? { grade: q.grade } : {}),
      },
      ...(path !== undefined ? { path } : {}),
      bytesSent,
      bytesReceived,
      packetsReceived: received,
      oneWayDelayMs,
    };
  }

  /** Connection states, for troubleshooting (`window.parloirDebug.peer()`). */
  describe(): Record<string, string | number> {
    return {
      connection: this.#pc.connectionState,
      ice: this.#pc.iceConnectionState,
      signaling: this.#pc.signalingState,
      gathering: this.#pc.iceGatheringState,
      hasRemote: this.#remoteSet ? 1 : 0,
      queuedCandidates: this.#pendingCandidates.length,
      authenticated: this.#authenticated ? 1 : 0,
      iceRestarts: this.#restart.attempts,
      certificate: this.#certificateSource,
    };
  }

  /** Closes the connection and stops playback (the microphone is the backend's). */
  close(): void {
    this.#closed = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#pc.close();
    this.#audio.srcObject = null;
  }
}
