/**
 * Every read of a werift 0.25.2 or Node internal the direct edge needs, in one place, checked
 * once when a call's edge opens: {@link directEdgeParts} either gives all of them, typed, or
 * says why the call takes the werift edge instead — because the path does not allow the direct
 * edge (TURN over TCP or no channel bound yet, another SRTP profile: a plain reason), or because
 * a member is missing or has another shape (a {@link MediaEdgeError} naming it). A pair whose
 * local candidate is relayed by TURN over UDP takes the same C edge on werift's TURN socket,
 * framed as ChannelData on the channel werift bound (the relayed edge). The direct edge's
 * modules (direct-send.ts, direct-receive.ts, compound-rtcp.ts) read werift only through what
 * this returns, plus the sender/receiver RTCP fields checked here.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:dgram';
import type { RTCPeerConnection, RTCRtpReceiver, RTCRtpSender } from 'werift';
import { formatFingerprint } from '@parloir/protocol';
import { MediaEdgeError, nodeChanged, shapeOf, weriftChanged } from './errors.ts';

/** AES-GCM tag, session key and salt lengths werift's GCM cipher uses, bytes. */
const TAG_BYTES = 16;
const KEY_BYTES = 16;
const SALT_BYTES = 12;
/** DTLS-SRTP protection profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2). */
const SRTP_AEAD_AES_128_GCM = 0x0007;
const SRTP_PROFILE_NAMES: Record<number, string> = {
  0x0001: 'SRTP_AES128_CM_HMAC_SHA1_80',
  0x0002: 'SRTP_AES128_CM_HMAC_SHA1_32',
  0x0007: 'SRTP_AEAD_AES_128_GCM',
  0x0008: 'SRTP_AEAD_AES_256_GCM',
};

/** A plain object view of werift internals. */
export type Obj = Record<string, unknown>;
/** `v` as an object, or undefined. */
export const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null ? (v as Obj) : undefined;

/** Why a call does not take the direct edge; `error` when werift or Node changed. */
export interface EdgeRefusal {
  /** Short reason (`relayed pair`, `SRTP profile …`, or the error's message). */
  reason: string;
  /** Set when a member the direct edge needs is missing or changed. */
  error?: MediaEdgeError;
}

/** One direction's SRTP context of a DTLS transport. */
export interface GcmContext {
  /** Session key (16 bytes) and the 12 salt bytes of the GCM IV (RFC 7714 §8.1). */
  key: Uint8Array;
  salt: Uint8Array;
  /** werift's per-SSRC state (`srtpSSRCStates`): ROC and last sequence number. */
  states: Obj;
}

/** Everything the direct edge reads from werift and Node, checked. */
export interface DirectEdgeParts {
  /**
   * werift's socket for the nominated pair's local candidate: the ICE socket, or for a relayed
   * local candidate its TURN client's UDP socket.
   */
  socket: Socket;
  /** Node's UDP handle of that socket (checked: `fd`, `recvStart`, `recvStop`). */
  handle: Obj;
  /** Its file descriptor. */
  fd: number;
  /**
   * Where the media goes: the nominated pair's remote address and port, or for a relayed local
   * candidate the TURN server's.
   */
  address: string;
  port: number;
  /**
   * For a relayed local candidate, the TURN channel werift's client bound to the peer
   * (RFC 8656 §12): the C sender and receiver frame the media as ChannelData on it (the relayed
   * edge). Undefined: the direct edge.
   */
  channel?: number;
  /** Our SRTP context (sending) and the peer's (receiving). */
  local: GcmContext;
  remote: GcmContext;
  /** The sender's negotiated payload type, SSRC and werift's sequence/timestamp offsets. */
  payloadType: number;
  ssrc: number;
  seqOffset: number;
  timestampOffset: number;
  /** The receiver's per-SSRC `StreamStatistics` (RFC 3550 §A.3) and negotiated payload types. */
  remoteStreams: Obj;
  payloadTypes: number[];
}

/** The sender fields werift's SR loop reads, which the direct edge turns into accessors. */
export const SENDER_REPORT_FIELDS = ['packetCount', 'octetCount', 'rtpTimestamp', 'ntpTimestamp'];

const refuse = (error: MediaEdgeError): EdgeRefusal => ({ reason: error.message, error });

/** libuv's UDP handle of a `node:dgram` socket (Node's `UDPWrap`), or the error. */
export function udpHandle(socket: Socket): Obj | MediaEdgeError {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (sym === undefined) return nodeChanged('dgram.Socket[state symbol]', 'missing');
  const state = obj((socket as unknown as Record<symbol, unknown>)[sym]);
  const handle = obj(state?.handle);
  if (handle === undefined) return nodeChanged('dgram.Socket[state symbol].handle', 'missing');
  for (const m of ['recvStart', 'recvStop']) {
    if (typeof handle[m] !== 'function') {
      return nodeChanged(`UDPWrap.${m}`, shapeOf(handle[m]));
    }
  }
  const fd = handle.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    return nodeChanged('UDPWrap.fd', shapeOf(fd));
  }
  return handle;
}

/**
 * Stops (`false`) or restarts (`true`) libuv's reading of a socket whose handle
 * {@link udpHandle} checked, so that a native thread on a dup() of its descriptor gets every
 * datagram; sending is unaffected. Returns whether libuv agreed.
 */
export function setUdpReading(handle: Obj, on: boolean): boolean {
  const f = handle[on ? 'recvStart' : 'recvStop'] as () => unknown;
  const rc = f.call(handle);
  return rc === 0 || rc === undefined;
}

/** Where a C edge sends: the socket, its destination, and the TURN channel when relayed. */
interface PairRoute {
  socket: Socket;
  address: string;
  port: number;
  channel?: number;
}

/**
 * The route of a pair whose local candidate is relayed (werift 0.25.2's `StunOverTurnProtocol`
 * over `TurnProtocol`): the TURN client's UDP socket, the server endpoint its allocation is
 * pinned to, and the channel bound to the peer (`channelByAddr`, keyed by the peer's JSON
 * [address, port]). No channel yet, or TURN over TCP/TLS: the werift edge (a plain reason).
 */
function relayedRoute(protocol: Obj, remote: [string, number]): PairRoute | EdgeRefusal {
  const turn = obj(protocol.turn);
  if (turn === undefined) return refuse(weriftChanged('StunOverTurnProtocol.turn', 'missing'));
  const transport = obj(turn.transport);
  if (transport?.type !== 'udp') {
    return typeof transport?.type === 'string'
      ? { reason: `relayed pair over ${transport.type}` }
      : refuse(weriftChanged('TurnProtocol.transport.type', shapeOf(transport?.type)));
  }
  const socket = obj(transport.socket) as unknown as Socket | undefined;
  if (socket === undefined || typeof socket.listeners !== 'function') {
    return refuse(weriftChanged('TurnProtocol.transport.socket', shapeOf(socket)));
  }
  const server = turn.pinnedServerEndpoint;
  if (!Array.isArray(server) || typeof server[0] !== 'string' || typeof server[1] !== 'number') {
    return refuse(weriftChanged('TurnProtocol.pinnedServerEndpoint', shapeOf(server)));
  }
  const channels = obj(turn.channelByAddr);
  if (channels === undefined) {
    return refuse(weriftChanged('TurnProtocol.channelByAddr', shapeOf(turn.channelByAddr)));
  }
  const channel = obj(channels[JSON.stringify(remote)]);
  // A provisional mapping (refreshAt 0) is a ChannelBind still in flight or failed.
  if (channel === undefined || !(Number(channel.refreshAt) > 0)) {
    return { reason: 'relayed pair without a TURN channel' };
  }
  const number = channel.number;
  if (
    typeof number !== 'number' ||
    !Number.isInteger(number) ||
    number < 0x4000 ||
    number > 0x7fff
  ) {
    return refuse(weriftChanged('TurnProtocol.channelByAddr[].number', shapeOf(number)));
  }
  return { socket, address: server[0], port: server[1], channel: number };
}

/** The nominated pair's route if it is UDP (plain, or relayed by TURN over UDP), else why not. */
function nominatedPair(pc: RTCPeerConnection): PairRoute | EdgeRefusal {
  const connection = obj(obj(pc.iceTransports[0])?.connection);
  if (connection === undefined)
    return refuse(weriftChanged('RTCIceTransport.connection', 'missing'));
  const pair = obj(connection.nominated);
  if (pair === undefined) return { reason: 'no nominated ICE pair' };
  const protocol = obj(pair.protocol);
  const type = protocol?.type;
  if (protocol === undefined || (type !== 'stun' && type !== 'turn')) {
    return refuse(weriftChanged('CandidatePair.protocol.type', String(type)));
  }
  const remote = pair.remoteAddr;
  if (!Array.isArray(remote) || typeof remote[0] !== 'string' || typeof remote[1] !== 'number') {
    return refuse(weriftChanged('CandidatePair.remoteAddr', shapeOf(remote)));
  }
  if (type === 'turn') return relayedRoute(protocol, [remote[0], remote[1]]);
  const socket = obj(obj(protocol.transport)?.socket) as unknown as Socket | undefined;
  if (socket === undefined || typeof socket.listeners !== 'function') {
    return refuse(weriftChanged('UdpTransport.socket', shapeOf(socket)));
  }
  return { socket, address: remote[0], port: remote[1] };
}

/** One side's AES-GCM context of werift's SRTP session, or the error naming the member. */
function gcmContext(srtp: Obj, side: 'localContext' | 'remoteContext'): GcmContext | EdgeRefusal {
  const ctx = obj(srtp[side]);
  if (ctx === undefined) return refuse(weriftChanged(`SrtpSession.${side}`, 'missing'));
  const cipher = obj(ctx.cipher);
  const states = obj(ctx.srtpSSRCStates);
  if (states === undefined) {
    return refuse(weriftChanged('SrtpContext.srtpSSRCStates', shapeOf(ctx.srtpSSRCStates)));
  }
  if (cipher?.aeadAuthTagLen !== TAG_BYTES) {
    return refuse(weriftChanged('CipherAesGcm.aeadAuthTagLen', shapeOf(cipher?.aeadAuthTagLen)));
  }
  const key = cipher.srtpSessionKey;
  const salt = cipher.srtpSessionSalt;
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    return refuse(
      weriftChanged(`CipherAesGcm.srtpSessionKey (${side})`, `${shapeOf(key)}, not 16 bytes`),
    );
  }
  if (!(salt instanceof Uint8Array) || salt.length < SALT_BYTES) {
    return refuse(
      weriftChanged(`CipherAesGcm.srtpSessionSalt (${side})`, `${shapeOf(salt)}, not 12+ bytes`),
    );
  }
  return { key, salt: salt.subarray(0, SALT_BYTES), states };
}

/** A number field of a werift object, or the error naming it. */
function numberField(o: Obj, cls: string, name: string): number | EdgeRefusal {
  const v = o[name];
  return typeof v === 'number' ? v : refuse(weriftChanged(`${cls}.${name}`, shapeOf(v)));
}

const isRefusal = (v: unknown): v is EdgeRefusal =>
  typeof v === 'object' && v !== null && 'reason' in v;

/**
 * Checks, once when a connected call's edge opens, everything the direct edge will read or
 * replace in werift and Node, and returns it; or why the call takes the werift edge. Never
 * throws, and keeps no state: called again after an ICE restart, it gives the new pair's parts.
 */
export function directEdgeParts(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  receiver: RTCRtpReceiver,
): DirectEdgeParts | EdgeRefusal {
  if (pc.connectionState !== 'connected') return { reason: 'not connected' };
  const pair = nominatedPair(pc);
  if (isRefusal(pair)) return pair;
  const dtlsTransport = obj(sender.dtlsTransport);
  const srtp = obj(dtlsTransport?.srtp);
  if (srtp === undefined) return refuse(weriftChanged('RTCDtlsTransport.srtp', 'missing'));
  const profile = obj(obj(dtlsTransport?.dtls)?.srtp)?.srtpProfile;
  if (typeof profile !== 'number') {
    return refuse(weriftChanged('DtlsSocket.srtp.srtpProfile', shapeOf(profile)));
  }
  if (profile !== SRTP_AEAD_AES_128_GCM) {
    return { reason: `SRTP profile ${SRTP_PROFILE_NAMES[profile] ?? String(profile)}` };
  }
  const local = gcmContext(srtp, 'localContext');
  if (isRefusal(local)) return local;
  const remote = gcmContext(srtp, 'remoteContext');
  if (isRefusal(remote)) return remote;
  const s = sender as unknown as Obj;
  const r = receiver as unknown as Obj;
  const payloadType = sender.codec?.payloadType;
  if (typeof payloadType !== 'number') return { reason: 'no negotiated codec' };
  const seqOffset = numberField(s, 'RTCRtpSender', 'seqOffset');
  if (isRefusal(seqOffset)) return seqOffset;
  const timestampOffset = numberField(s, 'RTCRtpSender', 'timestampOffset');
  if (isRefusal(timestampOffset)) return timestampOffset;
  for (const f of ['packetCount', 'octetCount']) {
    const v = numberField(s, 'RTCRtpSender', f);
    if (isRefusal(v)) return v;
  }
  if (typeof s.runRtcp !== 'function') {
    return refuse(weriftChanged('RTCRtpSender.runRtcp', shapeOf(s.runRtcp)));
  }
  const remoteStreams = obj(r.remoteStreams);
  if (remoteStreams === undefined) {
    return refuse(weriftChanged('RTCRtpReceiver.remoteStreams', shapeOf(r.remoteStreams)));
  }
  const codecs = obj(r.codecs);
  if (codecs === undefined)
    return refuse(weriftChanged('RTCRtpReceiver.codecs', shapeOf(r.codecs)));
  const payloadTypes = Object.keys(codecs)
    .map(Number)
    .filter((pt) => Number.isInteger(pt) && pt >= 0 && pt < 128);
  if (payloadTypes.length === 0) return { reason: 'no negotiated codec' };
  const handle = udpHandle(pair.socket);
  if (handle instanceof MediaEdgeError) return refuse(handle);
  return {
    ...pair,
    handle,
    fd: handle.fd as number,
    local,
    remote,
    payloadType,
    ssrc: sender.ssrc,
    seqOffset,
    timestampOffset,
    remoteStreams,
    payloadTypes,
  };
}

/**
 * werift's per-SSRC ROC state of the remote SRTP context (`srtpSSRCStates`), whatever the
 * profile, or undefined before DTLS has keyed SRTP.
 */
export function remoteSrtpStates(sender: RTCRtpSender): Obj | undefined {
  return obj(obj(obj(obj(sender.dtlsTransport)?.srtp)?.remoteContext)?.srtpSSRCStates);
}

/**
 * The RTCP fields werift's sender keeps from receiver reports (RFC 3550 §6.4.1), the very ones
 * its getStats() puts in 'remote-inbound-rtp', or undefined if werift changed them (the caller
 * then builds getStats()).
 */
export function senderRtcpFields(
  sender: RTCRtpSender,
): { rtt: unknown; remoteFractionLost: unknown; remotePacketsLost: unknown } | undefined {
  const s = sender as unknown as Obj;
  if (!('rtt' in s && 'remoteFractionLost' in s && 'remotePacketsLost' in s)) return undefined;
  return {
    rtt: s.rtt,
    remoteFractionLost: s.remoteFractionLost,
    remotePacketsLost: s.remotePacketsLost,
  };
}

/**
 * The DTLS certificates `sender`'s transport negotiated, as SHA-256 fingerprints (`sha-256
 * AB:CD:…`): ours, and the peer's — the one werift's DTLS stack received in the handshake,
 * whose signature dtls-fix.ts checked and which it matched against the SDP. The SAS and
 * the media binding check use these, never fingerprints read from SDP text. Undefined before
 * the handshake, or if werift changed.
 */
export function negotiatedCertificates(sender: RTCRtpSender): {
  local: string | undefined;
  remote: string | undefined;
} {
  const dtls = obj(sender.dtlsTransport);
  const remote = obj(dtls?.dtls)?.remoteCertificate;
  const localPem = obj(dtls?.localCertificate)?.certPem;
  const fp = (der: Uint8Array) => formatFingerprint(createHash('sha256').update(der).digest());
  let local: string | undefined;
  if (typeof localPem === 'string') {
    try {
      local = fp(new X509Certificate(localPem).raw);
    } catch {
      local = undefined;
    }
  }
  return {
    local,
    remote: remote instanceof Uint8Array && remote.length > 0 ? fp(remote) : undefined,
  };
}
