/**
 * The werift 0.25.2 internals an ICE restart (RFC 8445 §2.4) needs, in the media edge like every
 * other read of werift's internals:
 *
 * - which addresses the next gathering uses: werift reads `additionalHostAddresses` and binds
 *   new host sockets to `interfaceAddresses.udp4` at each gathering, from the options it was
 *   built with; a host address that went away must leave them, and a new one join them;
 * - starting the checks: werift's `connect()` returns at once while the DTLS transport is
 *   connected, so after a restart's offer/answer nothing would check the new candidates. The
 *   DTLS association (and with it the SRTP keys) is kept: its packets ride on whatever pair ICE
 *   nominates (`connection.send` uses `nominated`);
 * - the selected pair, as addresses and sockets, for the path monitor and to re-point the edge.
 *
 * Every function checks what it reads and gives a {@link MediaEdgeError} naming the member when
 * werift changed, instead of failing somewhere deeper.
 */
import type { RTCPeerConnection, RTCRtpReceiver, RTCRtpSender } from 'werift';
import { MediaEdgeError, shapeOf, weriftChanged } from './errors.ts';
import { directEdgeParts, obj, type Obj } from './internals.ts';
import type { MediaEdge } from './index.ts';

/** The selected ICE pair, as the path monitor reads it. */
export interface SelectedPair {
  /** Local candidate's address (for a relayed candidate, the relay's address). */
  localAddress: string;
  /** Local candidate type: host, srflx, prflx or relay. */
  localType: string;
  /** Remote candidate's address and port. */
  remoteAddress: string;
  remotePort: number;
  /** Whether either end of the pair is relayed. */
  relayed: boolean;
}

/** werift's ICE `Connection` of the call's (only) transport, or the error naming the member. */
function iceConnection(pc: RTCPeerConnection): Obj | MediaEdgeError {
  const connection = obj(obj(pc.iceTransports[0])?.connection);
  if (connection === undefined) return weriftChanged('RTCIceTransport.connection', 'missing');
  if (obj(connection.options) === undefined) {
    return weriftChanged('Connection.options', shapeOf(connection.options));
  }
  return connection;
}

/**
 * Makes the next gathering (the restart's) offer host candidates on `addresses` only, and bind
 * its new host socket to the first. Sockets werift already has stay (it re-advertises their
 * candidates: one whose address went away fails its checks).
 */
export function setGatherAddresses(
  pc: RTCPeerConnection,
  addresses: readonly string[],
): MediaEdgeError | undefined {
  const connection = iceConnection(pc);
  if (connection instanceof MediaEdgeError) return connection;
  const options = connection.options as Obj;
  options.additionalHostAddresses = [...addresses];
  const first = addresses[0];
  if (first !== undefined) options.interfaceAddresses = { udp4: first };
  return undefined;
}

/**
 * Starts the connectivity checks of a restarted ICE transport (werift's `connect()` skips them
 * while DTLS is up). Resolves when a pair is nominated; rejects when the checks fail.
 */
export async function startIceChecks(pc: RTCPeerConnection): Promise<void> {
  const transport = obj(pc.iceTransports[0]);
  if (transport === undefined) throw weriftChanged('RTCPeerConnection.iceTransports[0]', 'missing');
  const start = transport.start;
  if (typeof start !== 'function') throw weriftChanged('RTCIceTransport.start', shapeOf(start));
  // werift's transport state says `completed` once gathering is done, checks or not: whether a
  // pair is nominated is what tells the checks have run.
  if (obj(obj(transport.connection)?.nominated) !== undefined) return;
  await (start as () => Promise<void>).call(transport);
}

/** The nominated pair, or undefined (none yet, or during a restart). */
export function selectedPair(pc: RTCPeerConnection): SelectedPair | undefined {
  const connection = iceConnection(pc);
  if (connection instanceof MediaEdgeError) return undefined;
  const pair = obj(connection.nominated);
  const local = obj(pair?.localCandidate);
  const remote = pair?.remoteAddr;
  const remoteCandidate = obj(pair?.remoteCandidate);
  if (
    typeof local?.host !== 'string' ||
    typeof local.type !== 'string' ||
    !Array.isArray(remote) ||
    typeof remote[0] !== 'string' ||
    typeof remote[1] !== 'number'
  ) {
    return undefined;
  }
  return {
    localAddress: local.host,
    localType: local.type,
    remoteAddress: remote[0],
    remotePort: remote[1],
    relayed: local.type === 'relay' || remoteCandidate?.type === 'relay',
  };
}

/**
 * After a restart's checks: points a direct (or relayed) edge's C sender at the newly nominated
 * pair's socket and remote address (same stream, same keys). The receive direction needs nothing: the C thread
 * keeps reading the old socket, and whatever arrives on another socket or from another address
 * reaches werift, which opens it and hands it to the same C jitter buffer (insertFromWerift).
 * The werift edge needs nothing either: werift sends on whatever pair is nominated. Returns the
 * edge the call's sender is on now, or why it could not follow (the new pair cannot take the C
 * sender: a relayed pair without a TURN channel, another SRTP profile).
 */
export function repointMediaEdge(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  receiver: RTCRtpReceiver,
  edge: MediaEdge,
): { ok: true; edge: string } | { ok: false; reason: string } {
  if (edge.kind === 'werift') return { ok: true, edge: 'werift' };
  const parts = directEdgeParts(pc, sender, receiver);
  if (!('fd' in parts)) return { ok: false, reason: parts.reason };
  // A relayed pair's parts name the TURN channel werift bound to the peer: the sender frames
  // its packets as ChannelData for the relay (RFC 8656 §12), so a direct edge can move to a
  // relayed pair and back.
  const channel = (parts as { channel?: number }).channel;
  try {
    edge.sender.setDestination({
      fd: parts.fd,
      address: parts.address,
      port: parts.port,
      ...(channel === undefined ? {} : { channel }),
    });
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true, edge: channel === undefined ? 'direct' : 'relayed' };
}
