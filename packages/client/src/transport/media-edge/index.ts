/**
 * The media edge: the one module through which the client reads or replaces werift (pinned to
 * 0.25.2) and Node internals, and the network edge of a call's C pipeline.
 *
 * - Load time ({@link installWeriftPatches}): the DTLS handshake gate and peer-authentication
 *   checks (dtls-fix.ts; a werift without its hook refuses calls with a typed error rather than
 *   make them unauthenticated) and SRTP AES-GCM through the addon (srtp-native.ts; checks itself
 *   on a probe packet and leaves werift alone on any difference).
 * - Per call ({@link openMediaEdge}): the **direct** edge — the C sender and receiver on the ICE
 *   socket itself, with their own SRTP (direct-send.ts, direct-receive.ts, compound-rtcp.ts) — when
 *   internals.ts finds the pair plain UDP, the SRTP profile AES-GCM and every werift and Node
 *   member it needs as expected; the **relayed** edge, the same C code on werift's TURN client
 *   socket with the media framed as ChannelData on the channel werift bound to the peer, when the
 *   local candidate is relayed by TURN over UDP (werift keeps the allocation, permissions,
 *   channel refreshes and ICE consent); else the **werift** edge (werift-edge.ts), where werift
 *   does RTP and SRTP and packets cross into and out of the same C pipeline. A member missing or
 *   changed gives a {@link MediaEdgeError} naming it, kept on the edge (the caller logs it, and it
 *   goes in the transport's statistics and the QoS log): the call still works, on the werift
 *   edge.
 */
import type { SrtpReplayList } from '@parloir/media';
import type { NativeJitterOptions, NativeRtpSender } from '@parloir/native';
import type { RTCPeerConnection, RTCRtpReceiver, RTCRtpSender } from 'werift';
import { openDirectReceive, type NativeReceive } from './direct-receive.ts';
import { openDirectSender } from './direct-send.ts';
import { installWeriftDtlsFix } from './dtls-fix.ts';
import type { MediaEdgeError } from './errors.ts';
import { directEdgeParts, type DirectEdgeParts } from './internals.ts';
import { installWeriftSrtpNative, type WeriftSrtpNativeStatus } from './srtp-native.ts';
import { openWeriftReceive, openWeriftSender } from './werift-edge.ts';

export { MediaEdgeError, type MediaEdgeErrorCode } from './errors.ts';
export type { NativeReceive } from './direct-receive.ts';
export { negotiatedCertificates, remoteSrtpStates, senderRtcpFields } from './internals.ts';

/** Which edge a call's C pipeline uses. */
export type MediaEdgeKind = 'direct' | 'relayed' | 'werift';

/** A call's network edge, with the C pipeline's sender and receiver behind it. */
export interface MediaEdge {
  /**
   * `direct`: C reads and writes the ICE socket; `relayed`: C reads and writes the TURN client's
   * socket (ChannelData); `werift`: packets cross to werift.
   */
  kind: MediaEdgeKind;
  /**
   * Why the werift edge (`relayed pair without a TURN channel`, `SRTP profile …`, the error's
   * message).
   */
  reason: string | undefined;
  /** Set when werift or Node internals the direct edge needs are missing or changed. */
  error: MediaEdgeError | undefined;
  /** The C sender: capture → gain → Opus (→ RTP → SRTP → socket on the direct/relayed edges). */
  sender: NativeRtpSender;
  /** The C receiver: (socket → SRTP →) jitter buffer → decode → playout. */
  receive: NativeReceive;
}

/** What {@link openMediaEdge} needs from the transport. */
export interface MediaEdgeContext {
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
  receiver: RTCRtpReceiver;
  /** The transport's replay list of packets werift opened (RFC 3711 §3.3.2). */
  replay: SrtpReplayList;
  /** The werift edge's send: one Opus frame as RTP through werift (the transport's `sendOpus`). */
  sendOpus: (payload: Buffer, clockSamples: number, marker: boolean) => void;
  /** The transport's next sequence number and RTP timestamp offset (the stream goes on). */
  sequenceNumber: number;
  timestampOffset: number;
}

/** The C pipeline's initial settings. */
export interface MediaEdgeOptions {
  /** Initial frame, samples at 48 kHz. */
  frameSamples: number;
  /** Initial Opus bitrate, bit/s. */
  bitrateBps: number;
  /** The C jitter buffer's options. */
  jitter: NativeJitterOptions;
}

let patches: { srtp: WeriftSrtpNativeStatus } | undefined;

/**
 * Installs the load-time patches once. Throws {@link MediaEdgeError} when werift lacks what the
 * DTLS peer-authentication checks hook into (no call may run without them).
 */
export function installWeriftPatches(): { srtp: WeriftSrtpNativeStatus } {
  if (patches !== undefined) return patches;
  installWeriftDtlsFix();
  patches = { srtp: installWeriftSrtpNative() };
  return patches;
}

/**
 * Opens a connected call's edge: direct (or relayed) when the path and werift allow it, else
 * werift. Never gives up on a call: only a failure of the addon itself (out of memory, no
 * thread) throws. Re-entrant: after an ICE restart, close the old edge and call it again for the
 * new pair.
 */
export function openMediaEdge(ctx: MediaEdgeContext, options: MediaEdgeOptions): MediaEdge {
  const parts = directEdgeParts(ctx.pc, ctx.sender, ctx.receiver);
  if ('fd' in parts) {
    const direct = openDirect(ctx, parts, options);
    if (direct !== undefined) return direct;
  }
  const refusal = 'fd' in parts ? { reason: 'the direct edge failed to open' } : parts;
  return {
    kind: 'werift',
    reason: refusal.reason,
    error: refusal.error,
    sender: openWeriftSender(ctx.sendOpus, options),
    receive: openWeriftReceive(options.jitter),
  };
}

function openDirect(
  ctx: MediaEdgeContext,
  parts: DirectEdgeParts,
  options: MediaEdgeOptions,
): MediaEdge | undefined {
  let receive: NativeReceive | undefined;
  try {
    receive = openDirectReceive(parts, options.jitter, ctx.replay);
    const sender = openDirectSender(ctx.sender, ctx.receiver, parts, {
      sequenceNumber: ctx.sequenceNumber,
      timestampOffset: ctx.timestampOffset,
      frameSamples: options.frameSamples,
      bitrateBps: options.bitrateBps,
    });
    const kind = parts.channel === undefined ? 'direct' : 'relayed';
    return { kind, reason: undefined, error: undefined, sender, receive };
  } catch {
    receive?.close();
    return undefined;
  }
}
