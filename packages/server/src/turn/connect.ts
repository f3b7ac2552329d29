/**
 * RFC 6062 (TURN TCP allocations) in the core: the checks of Connect and ConnectionBind requests
 * and the responses to them. The sockets (listeners, peer connections, the bind timer) are
 * `tcp-relay.ts`'s. Pure.
 */
import type { Allocation, ClientRef, Refusal } from './allocation.ts';
import { connectionIdAttribute, successResponse } from './messages.ts';
import {
  Attr,
  decodeAddress,
  getAttribute,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';

/**
 * RFC 6062 §5.2: a Connect needs a TCP allocation and a decodable XOR-PEER-ADDRESS (the peer
 * policy is checked after, by the caller).
 */
export function parseConnectRequest(
  msg: StunMessage,
  a: Allocation,
): { ok: true; peer: TransportAddress & { family: 4 | 6 } } | ({ ok: false } & Refusal) {
  if (!a.tcpRelay) return { ok: false, code: 400, why: 'not a TCP allocation' };
  const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
  const peer = peerAttr ? decodeAddress(peerAttr, true, msg.transactionId) : undefined;
  if (!peer?.ok) return { ok: false, code: 400, why: 'bad XOR-PEER-ADDRESS' };
  return { ok: true, peer: peer.value };
}

/**
 * RFC 6062 §5.4: a ConnectionBind comes on a new TCP connection (not a control connection, so
 * `client` has no allocation) and carries a 4-byte CONNECTION-ID.
 */
export function parseConnectionBindRequest(
  msg: StunMessage,
  client: ClientRef,
  clientHasAllocation: boolean,
): { ok: true; connectionId: number } | ({ ok: false } & Refusal) {
  const id = getAttribute(msg, Attr.CONNECTION_ID);
  if (client.transport !== 'tcp' || !id || id.length !== 4 || clientHasAllocation) {
    return {
      ok: false,
      code: 400,
      why: 'ConnectionBind needs a new TCP connection and CONNECTION-ID',
    };
  }
  return { ok: true, connectionId: id.readUInt32BE(0) };
}

/** The success response to a Connect (with its CONNECTION-ID) or a ConnectionBind (without). */
export function connectionSuccess(
  method: number,
  transactionId: Buffer,
  key: Buffer,
  connectionId: number | undefined,
): Buffer {
  return successResponse(method, transactionId, key, (b) => {
    if (connectionId !== undefined) b.add(Attr.CONNECTION_ID, connectionIdAttribute(connectionId));
  });
}
