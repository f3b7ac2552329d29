/**
 * Sans-IO ordering gate for the DTLS 1.2 handshake messages a werift peer receives: it hands
 * each message of the peer's flight to werift once and in `message_seq` order, as RFC 6347
 * §4.2.2 requires of a receiver (`next_receive_seq`), and keeps stray copies of earlier flights
 * out. werift 0.25 does neither: it acts on handshake messages as they arrive, repeats its
 * per-message work on every retransmitted copy, and its server derives the extended master
 * secret (RFC 7627) over whatever the transcript holds when a ClientKeyExchange comes in. One
 * lost or reordered flight-5 datagram then leaves the server with wrong keys for good (see
 * media-edge/dtls-fix.ts for the exact places).
 *
 * The gate decides only what to pass on; retransmission stays werift's (its flight timers, and
 * a repeated client Finished makes its server resend flight 6).
 */

/** The fields of a (reassembled) handshake message the gate reads (RFC 6347 §4.2.2). */
export interface GateHandshake {
  /** HandshakeType (RFC 5246 §7.4). */
  msg_type: number;
  /** Handshake message sequence number (RFC 6347 §4.2.2). */
  message_seq: number;
  /** The message body. */
  fragment: Uint8Array;
}

/** What the gate needs to know of the werift socket's state at each message. */
export interface GateView {
  /** werift's `dtls.flight`: the last flight this side sent (1..7). */
  flight: number;
  /** Whether this side considers the handshake done. */
  connected: boolean;
}

/** Which end of the DTLS handshake the gate guards. */
export type GateRole = 'client' | 'server';

/** HandshakeType values (RFC 5246 §7.4, RFC 6347 §4.2.1). */
const CLIENT_HELLO = 1;
const SERVER_HELLO = 2;
const HELLO_VERIFY_REQUEST = 3;
const FINISHED = 20;
/** Messages of the server's flight 4: ServerHello, Certificate, SKE, CertificateRequest, SHD. */
const FLIGHT_4 = new Set([SERVER_HELLO, 11, 12, 13, 14]);
/** Messages of the client's flight 5 before its CCS: Certificate, CKE, CertificateVerify. */
const FLIGHT_5 = new Set([11, 15, 16, FINISHED]);

/** Messages held for a gap at most; a flight has five, so more means a broken peer. */
const MAX_PENDING = 16;

/** Whether a ClientHello body (RFC 6347 §4.2.1) carries a non-empty cookie. */
export function clientHelloHasCookie(body: Uint8Array): boolean {
  // client_version (2) + random (32), then session_id<0..32>, then cookie<0..2^8-1>.
  const sessionIdLength = body[34];
  if (sessionIdLength === undefined) return false;
  const cookieLength = body[35 + sessionIdLength];
  return cookieLength !== undefined && cookieLength > 0;
}

/**
 * Orders one side's incoming handshake messages. {@link accept} returns the messages to hand to
 * werift now, in order: none while a gap is open, several when a retransmission fills one.
 */
export class DtlsHandshakeGate<M extends GateHandshake = GateHandshake> {
  readonly #role: GateRole;
  /** `message_seq` of the next message of the peer's current flight; undefined until known. */
  #next: number | undefined;
  readonly #pending = new Map<number, M>();

  constructor(role: GateRole) {
    this.#role = role;
  }

  /** Messages held back waiting for an earlier one. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Takes one received handshake message; returns those to pass on now, in order. */
  accept(message: M, view: GateView): M[] {
    return this.#role === 'server' ? this.#server(message, view) : this.#client(message, view);
  }

  #server(m: M, view: GateView): M[] {
    if (m.msg_type === CLIENT_HELLO) {
      if (view.connected) return [];
      if (!clientHelloHasCookie(m.fragment)) {
        // Stateless cookie exchange: answer every copy until flight 4 starts; a late copy after
        // that would make werift redo flight 2, with a new server random and key pair.
        return view.flight < 4 ? [m] : [];
      }
      // A copy while flight 4 is out makes werift resend it; after flight 6 it would restart
      // flight 4 under epoch 1.
      if (view.flight > 4) return [];
      this.#next = m.message_seq + 1;
      this.#pending.clear();
      return [m];
    }
    if (FLIGHT_5.has(m.msg_type)) return this.#inOrder(m, m.msg_type === FINISHED);
    return [m];
  }

  #client(m: M, view: GateView): M[] {
    if (m.msg_type === HELLO_VERIFY_REQUEST) {
      // werift's flight 3 throws on a second HelloVerifyRequest, and after it restarts flight 3
      // with an empty transcript.
      return view.flight === 1 && !view.connected ? [m] : [];
    }
    if (FLIGHT_4.has(m.msg_type)) {
      if (view.connected) return [];
      // The ServerHello opens flight 4; until one arrives, its other messages wait.
      if (m.msg_type === SERVER_HELLO && this.#next === undefined) this.#next = m.message_seq;
      return this.#inOrder(m, false);
    }
    return [m];
  }

  /**
   * Holds `m` until every earlier message of its flight has passed. A copy of a message already
   * passed is dropped, unless `passRepeat` (a repeated Finished: werift answers with its flight).
   */
  #inOrder(m: M, passRepeat: boolean): M[] {
    const next = this.#next;
    if (next !== undefined && m.message_seq < next) return passRepeat ? [m] : [];
    if (this.#pending.size >= MAX_PENDING) this.#pending.clear();
    this.#pending.set(m.message_seq, m);
    if (next === undefined) return [];
    const out: M[] = [];
    let seq = next;
    for (let held = this.#pending.get(seq); held !== undefined; held = this.#pending.get(seq)) {
      out.push(held);
      this.#pending.delete(seq);
      seq++;
    }
    this.#next = seq;
    return out;
  }
}
