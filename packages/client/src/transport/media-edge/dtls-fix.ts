/**
 * Load-time patch of werift 0.25's DTLS 1.2 handshake so that a call survives the loss (or
 * reordering) of handshake datagrams. It puts a {@link DtlsHandshakeGate} between werift's record
 * layer and its handshake logic: every DtlsClient/DtlsServer then sees the peer's messages once
 * each, in `message_seq` order.
 *
 * Root cause, in werift's bundle `lib/index.mjs` (the same code as `lib/dtls/src/*.js`):
 * - `DtlsSocket.udpOnMessage` (socket.js) passes each handshake message to the flight logic as it
 *   arrives, without RFC 6347 §4.2.2 `next_receive_seq` ordering, and every retransmitted copy too.
 * - The server (server.js, `certificate_11 | certificate_verify_15 | client_key_exchange_16`)
 *   makes a new Flight6 per message, and Flight6's ClientKeyExchange handler (flight6.js,
 *   `handlers[client_key_exchange_16]`) derives the extended master secret over
 *   `dtls.sortedHandshakeCache` as it is at that moment. RFC 7627 §3 wants the transcript up to
 *   and including ClientKeyExchange. If the client's Certificate was lost, the hash lacks it; if
 *   the ClientKeyExchange was lost, its retransmitted copy finds CertificateVerify already cached
 *   and hashes that too. Either way the keys are wrong for good: the client's Finished fails with
 *   `aead decrypt failed` on every retransmission. A lost Certificate even fails at once,
 *   because the CertificateVerify handler throws "client certificate missing".
 * - The server runs flight 2 again (new random and key pair) on a late ClientHello copy, and
 *   flight 4 again under epoch 1 on a ClientHello copy that arrives after flight 6. The client's
 *   Flight3 (flight3.js) throws on a second HelloVerifyRequest and otherwise restarts with an
 *   empty transcript.
 *
 * The patch wraps `DtlsSocket.prototype.handleFragmentHandshake`, which `udpOnMessage` calls on
 * every received handshake message just before `onHandleHandshakes`: the first call on a socket
 * replaces that socket's `onHandleHandshakes` with one that passes messages through its gate,
 * one message per call so werift's "sort by msg_type" never puts CertificateVerify before
 * ClientKeyExchange. werift's retransmission timers are untouched.
 *
 * The same wrapper runs the two signature checks werift 0.25 skips altogether (dtls-peer-auth.ts):
 * the client verifies the ServerKeyExchange signature, the server the client's CertificateVerify,
 * each with the peer's certificate (the one werift's RTCDtlsTransport later matches against the
 * SDP fingerprint). Without them a man in the middle of the media path can replay both
 * certificates and still match fingerprints and SAS. A failed check fails the handshake through
 * the socket's `onError`, as werift's own errors do.
 *
 * Both fixes belong upstream. `dtls-handshake-loss.integration.test.ts` and
 * `dtls-peer-auth.test.ts` each show werift's defect with the patch disabled, so they will say
 * when a werift upgrade makes this file unnecessary.
 */
import type { KeyObject } from 'node:crypto';
import { DtlsServer, DtlsSocket } from 'werift';
import { DtlsHandshakeGate } from '../dtls-handshake-gate.ts';
import { weriftChanged } from './errors.ts';
import {
  certificateKey,
  firstCertificate,
  verifyCertificateVerify,
  verifyServerKeyExchange,
} from '../dtls-peer-auth.ts';

/** werift's reassembled handshake message (its class is not exported by name). */
type FragmentedHandshake = Parameters<DtlsSocket['handleFragmentHandshake']>[0][number];

let installed = false;
let enabled = true;
/** Sockets whose `onHandleHandshakes` is wrapped. */
const wrapped = new WeakSet<DtlsSocket>();
/** One state per handshake: werift replaces `dtls` on renegotiation. */
const states = new WeakMap<object, HandshakeState>();

/** HandshakeType values the checks look at (RFC 5246 §7.4). */
const SERVER_HELLO = 2;
const CERTIFICATE = 11;
const SERVER_KEY_EXCHANGE = 12;
const CERTIFICATE_VERIFY = 15;

/**
 * Installs the patch on werift's DtlsSocket prototype. Idempotent; `peer-transport.ts` calls it
 * when it loads, so every call's DTLS handshake goes through the gate and the checks.
 */
export function installWeriftDtlsFix(): void {
  if (installed) return;
  const proto = DtlsSocket.prototype;
  // Without the hook there is no gate and, worse, no peer authentication: calls are refused
  // (a typed error from PeerTransport) rather than made unauthenticated.
  if (typeof (proto as Partial<DtlsSocket>).handleFragmentHandshake !== 'function') {
    throw weriftChanged('DtlsSocket.handleFragmentHandshake', 'missing');
  }
  installed = true;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound by .call below
  const original = proto.handleFragmentHandshake;
  proto.handleFragmentHandshake = function patched(
    this: DtlsSocket,
    messages: FragmentedHandshake[],
  ): FragmentedHandshake[] {
    if (!wrapped.has(this)) wrap(this);
    return original.call(this, messages);
  };
}

/**
 * Turns the gate and the checks on or off (on by default) for handshake messages received
 * afterwards. Only for the tests that show werift's own behaviour; a call must never run with
 * it off.
 */
export function setWeriftDtlsFixEnabled(on: boolean): void {
  enabled = on;
}

/** Per-handshake state: the gate and what the signature checks need. */
interface HandshakeState {
  gate: DtlsHandshakeGate<FragmentedHandshake>;
  /** Public key of the peer's certificate, once its Certificate message has passed. */
  peerKey: KeyObject | undefined;
  /** server_random, from the ServerHello (client side). */
  serverRandom: Buffer | undefined;
  /** A check failed: nothing more reaches werift for this handshake. */
  failed: boolean;
}

function wrap(socket: DtlsSocket): void {
  wrapped.add(socket);
  const deliver = socket.onHandleHandshakes;
  const role = socket instanceof DtlsServer ? 'server' : 'client';
  socket.onHandleHandshakes = async (assembled: FragmentedHandshake[]): Promise<void> => {
    if (!enabled) {
      await deliver(assembled);
      return;
    }
    let state = states.get(socket.dtls);
    if (state === undefined) {
      state = {
        gate: new DtlsHandshakeGate<FragmentedHandshake>(role),
        peerKey: undefined,
        serverRandom: undefined,
        failed: false,
      };
      states.set(socket.dtls, state);
    }
    const runs: Promise<void>[] = [];
    for (const message of assembled) {
      const view = { flight: socket.dtls.flight, connected: socket.connected };
      // One call per message, started in order: werift's handlers run synchronously up to
      // their first await, so they see the transcript in message_seq order.
      for (const m of state.gate.accept(message, view)) {
        if (state.failed) break;
        const problem = check(socket, role, state, m);
        if (problem !== undefined) {
          state.failed = true;
          socket.onError.execute(new Error(`DTLS handshake: ${problem}`));
          break;
        }
        runs.push(deliver([m]));
      }
    }
    await Promise.all(runs);
  };
}

/**
 * The peer-authentication checks werift skips (dtls-peer-auth.ts), run on each message as it
 * is passed on. Returns what failed, or undefined.
 */
function check(
  socket: DtlsSocket,
  role: 'client' | 'server',
  state: HandshakeState,
  m: FragmentedHandshake,
): string | undefined {
  switch (m.msg_type) {
    case SERVER_HELLO:
      if (role === 'client') state.serverRandom = Buffer.from(m.fragment.subarray(2, 34));
      return undefined;
    case CERTIFICATE: {
      const der = firstCertificate(m.fragment);
      state.peerKey = der === undefined ? undefined : certificateKey(der);
      return state.peerKey === undefined ? 'unreadable peer certificate' : undefined;
    }
    case SERVER_KEY_EXCHANGE: {
      if (role !== 'client') return undefined;
      const key = state.peerKey;
      const serverRandom = state.serverRandom;
      if (key === undefined || serverRandom === undefined) return 'ServerKeyExchange too early';
      const clientRandom = socket.cipher.localRandom.serialize();
      return verifyServerKeyExchange(key, clientRandom, serverRandom, m.fragment)
        ? undefined
        : 'the ServerKeyExchange signature does not verify with the server certificate';
    }
    case CERTIFICATE_VERIFY: {
      if (role !== 'server') return undefined;
      const key = state.peerKey;
      if (key === undefined) return 'CertificateVerify without a client certificate';
      // What werift's handlers have cached so far: the ClientHello with the cookie, flight 4,
      // and the client's Certificate and ClientKeyExchange (passed before, handled synchronously).
      const transcript = Buffer.concat(socket.dtls.sortedHandshakeCache.map((h) => h.serialize()));
      return verifyCertificateVerify(key, transcript, m.fragment)
        ? undefined
        : 'the CertificateVerify signature does not verify with the client certificate';
    }
    default:
      return undefined;
  }
}
