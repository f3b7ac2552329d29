/**
 * TURN messages the relay sends (RFC 8656, RFC 6062), built on the STUN codec of `stun.ts`: the
 * success and error responses, the 401/438 challenge, Data and ConnectionAttempt indications, and
 * ChannelData toward a client. Wire format only: no state, no clock. With `stun.ts`, the
 * counterpart of pion/turn's `internal/proto`.
 */
import {
  Attr,
  MessageClass,
  Method,
  StunBuilder,
  buildChannelData,
  type TransportAddress,
} from './stun.ts';

/** SOFTWARE attribute of every message we send (RFC 8489 §14.14). */
export const SOFTWARE = 'parloir';

const indicationTid = Buffer.alloc(12);
/** A transaction id for an indication: never matched against anything, so no CSPRNG needed. */
function indicationId(): Buffer {
  for (let i = 0; i < 12; i += 4)
    indicationTid.writeUInt32BE((Math.random() * 0x1_0000_0000) >>> 0, i);
  return indicationTid;
}

/**
 * A success response to `method`, integrity-protected with `key`. `add` appends the method's own
 * attributes before SOFTWARE.
 */
export function successResponse(
  method: number,
  transactionId: Buffer,
  key: Buffer,
  add?: (b: StunBuilder) => void,
): Buffer {
  const b = new StunBuilder(method, MessageClass.SUCCESS, transactionId);
  add?.(b);
  return b.addString(Attr.SOFTWARE, SOFTWARE).build({ integrityKey: key, fingerprint: true });
}

/**
 * An error response with ERROR-CODE `code` (RFC 8489 §14.8). Integrity-protected when `key` is
 * known (the request authenticated); `extra` appends attributes such as UNKNOWN-ATTRIBUTES.
 */
export function errorResponse(
  method: number,
  transactionId: Buffer,
  code: number,
  key?: Buffer,
  extra?: (b: StunBuilder) => void,
): Buffer {
  const b = new StunBuilder(method, MessageClass.ERROR, transactionId).addError(code);
  extra?.(b);
  b.addString(Attr.SOFTWARE, SOFTWARE);
  return b.build({ integrityKey: key, fingerprint: true });
}

/** RFC 8489 §9.2.4: the 401 or 438 challenge, with REALM and a fresh NONCE, no integrity. */
export function challengeResponse(
  method: number,
  transactionId: Buffer,
  code: 401 | 438,
  realm: string,
  nonce: string,
): Buffer {
  return new StunBuilder(method, MessageClass.ERROR, transactionId)
    .addError(code)
    .addString(Attr.REALM, realm)
    .addString(Attr.NONCE, nonce)
    .addString(Attr.SOFTWARE, SOFTWARE)
    .build({ fingerprint: true });
}

/** RFC 8489 §7.3: the Binding success response, with the client's XOR-MAPPED-ADDRESS. */
export function bindingResponse(transactionId: Buffer, client: TransportAddress): Buffer {
  return new StunBuilder(Method.BINDING, MessageClass.SUCCESS, transactionId)
    .addAddress(Attr.XOR_MAPPED_ADDRESS, client)
    .addString(Attr.SOFTWARE, SOFTWARE)
    .build({ fingerprint: true });
}

/** RFC 8656 §7.3: the Allocate success response. */
export function allocateResponse(
  transactionId: Buffer,
  key: Buffer,
  relay: TransportAddress,
  lifetimeSec: number,
  client: TransportAddress,
  reservationToken: Buffer | undefined,
): Buffer {
  return successResponse(Method.ALLOCATE, transactionId, key, (b) => {
    b.addAddress(Attr.XOR_RELAYED_ADDRESS, relay)
      .addUint32(Attr.LIFETIME, lifetimeSec)
      .addAddress(Attr.XOR_MAPPED_ADDRESS, client);
    if (reservationToken) b.add(Attr.RESERVATION_TOKEN, reservationToken);
  });
}

/** CONNECTION-ID (RFC 6062 §6.2.1): 4 bytes. */
export function connectionIdAttribute(connectionId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(connectionId, 0);
  return id;
}

/** RFC 8656 §11.4: a Data indication carrying `data` from `peer`. */
export function dataIndication(peer: TransportAddress, data: Buffer): Buffer {
  return new StunBuilder(Method.DATA, MessageClass.INDICATION, indicationId())
    .addAddress(Attr.XOR_PEER_ADDRESS, peer)
    .add(Attr.DATA, data)
    .build();
}

/** RFC 6062 §5.3: the ConnectionAttempt indication for a peer that connected in. */
export function connectionAttempt(peer: TransportAddress, connectionId: number): Buffer {
  return new StunBuilder(Method.CONNECTION_ATTEMPT, MessageClass.INDICATION, indicationId())
    .addAddress(Attr.XOR_PEER_ADDRESS, peer)
    .add(Attr.CONNECTION_ID, connectionIdAttribute(connectionId))
    .addString(Attr.SOFTWARE, SOFTWARE)
    .build({ fingerprint: true });
}

/**
 * ChannelData carrying `data` to a client (RFC 8656 §12.4), padded to 4 bytes over TCP (§12.5).
 * With `headroom` (a UDP client, and the 4 bytes before `data` in its backing memory are scratch:
 * a header of a datagram we own), the header is written there and nothing is copied.
 */
export function channelDataToClient(
  channel: number,
  data: Buffer,
  tcp: boolean,
  headroom: boolean,
): Buffer {
  if (headroom && !tcp && data.byteOffset >= 4) {
    const out = Buffer.from(data.buffer, data.byteOffset - 4, data.length + 4);
    out.writeUInt16BE(channel, 0);
    out.writeUInt16BE(data.length, 2);
    return out;
  }
  return buildChannelData(channel, data, tcp);
}
