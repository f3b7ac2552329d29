/**
 * What the native send path and the fast receive path read from werift 0.25's internals, in one
 * place: the nominated ICE pair when it is plain UDP, and an SRTP context's AES-GCM session key
 * and salt. Duck-typed: any surprise gives a reason (a string) and the callers keep werift's
 * own paths.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:dgram';
import type { RTCPeerConnection, RTCRtpSender } from 'werift';
import { formatFingerprint } from '@parloir/protocol';

/** AES-GCM tag, session key and salt lengths werift's GCM cipher uses, bytes. */
const TAG_BYTES = 16;
const KEY_BYTES = 16;
const SALT_BYTES = 12;

/** A plain object view of werift internals. */
export type Obj = Record<string, unknown>;
/** `v` as an object, or undefined. */
export const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null ? (v as Obj) : undefined;

/** The nominated pair of a plain UDP path. */
export interface UdpPair {
  /** werift's socket for the pair's local candidate. */
  socket: Socket;
  /** Remote address and port of the pair. */
  address: string;
  port: number;
}

/** The nominated ICE pair if it is plain UDP (`StunProtocol` over a `dgram` socket), else why not. */
export function nominatedUdpPair(pc: RTCPeerConnection): UdpPair | string {
  const connection = obj(obj(pc.iceTransports[0])?.connection);
  const pair = obj(connection?.nominated);
  const protocol = obj(pair?.protocol);
  const type = protocol?.type;
  if (type !== 'stun') {
    return `ICE pair is ${typeof type === 'string' ? type : 'unknown'}, not plain UDP`;
  }
  const socket = obj(obj(protocol?.transport)?.socket) as unknown as Socket | undefined;
  if (socket === undefined || typeof socket.listeners !== 'function') return 'no UDP socket';
  const remote = pair?.remoteAddr;
  if (!Array.isArray(remote) || typeof remote[0] !== 'string' || typeof remote[1] !== 'number') {
    return 'no remote address';
  }
  return { socket, address: remote[0], port: remote[1] };
}

/** One direction's SRTP context of a DTLS transport. */
export interface GcmContext {
  /** Session key (16 bytes) and the 12 salt bytes of the GCM IV (RFC 7714 §8.1). */
  key: Uint8Array;
  salt: Uint8Array;
  /** werift's per-SSRC state (`srtpSSRCStates`): ROC and last sequence number. */
  states: Obj;
}

/**
 * werift's per-SSRC ROC state of the remote SRTP context (`srtpSSRCStates`), whatever the
 * profile, or undefined before DTLS has keyed SRTP.
 */
export function remoteSrtpStates(sender: RTCRtpSender): Obj | undefined {
  return obj(obj(obj(obj(sender.dtlsTransport)?.srtp)?.remoteContext)?.srtpSSRCStates);
}

/** The local or remote SRTP context of `sender`'s DTLS transport if it is AES-GCM, else why not. */
export function gcmContext(sender: RTCRtpSender, side: 'local' | 'remote'): GcmContext | string {
  const srtp = obj(obj(sender.dtlsTransport)?.srtp);
  const ctx = obj(srtp?.[side === 'local' ? 'localContext' : 'remoteContext']);
  const cipher = obj(ctx?.cipher);
  const states = obj(ctx?.srtpSSRCStates);
  if (cipher?.aeadAuthTagLen !== TAG_BYTES || states === undefined) return 'SRTP is not AES-GCM';
  const key = cipher.srtpSessionKey;
  const salt = cipher.srtpSessionSalt;
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) return 'unexpected SRTP key';
  if (!(salt instanceof Uint8Array) || salt.length < SALT_BYTES) return 'unexpected SRTP salt';
  return { key, salt: salt.subarray(0, SALT_BYTES), states };
}

/**
 * The DTLS certificates `sender`'s transport negotiated, as SHA-256 fingerprints (`sha-256
 * AB:CD:…`): ours, and the peer's — the one werift's DTLS stack received in the handshake,
 * whose signature werift-dtls-fix.ts checked and which it matched against the SDP. The SAS and
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
