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
 * ClientKeyExchange. werift's retransmission timers are untouched. The fix belongs upstream;
 * the test `dtls-handshake-loss.integration.test.ts` shows the defect with the gate disabled,
 * so it will say when a werift upgrade makes this file unnecessary.
 */
import { DtlsServer, DtlsSocket } from 'werift';
import { DtlsHandshakeGate } from './dtls-handshake-gate.ts';

/** werift's reassembled handshake message (its class is not exported by name). */
type FragmentedHandshake = Parameters<DtlsSocket['handleFragmentHandshake']>[0][number];

let installed = false;
let enabled = true;
/** Sockets whose `onHandleHandshakes` is wrapped. */
const wrapped = new WeakSet<DtlsSocket>();
/** One gate per handshake: werift replaces `dtls` on renegotiation. */
const gates = new WeakMap<object, DtlsHandshakeGate<FragmentedHandshake>>();

/**
 * Installs the patch on werift's DtlsSocket prototype. Idempotent; `peer-transport.ts` calls it
 * when it loads, so every call's DTLS handshake goes through the gate.
 */
export function installWeriftDtlsFix(): void {
  if (installed) return;
  installed = true;
  const proto = DtlsSocket.prototype;
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
 * Turns the gate on or off (on by default) for handshake messages received afterwards. Only for
 * the test that shows werift's own behaviour; a call must never run with it off.
 */
export function setWeriftDtlsFixEnabled(on: boolean): void {
  enabled = on;
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
    let gate = gates.get(socket.dtls);
    if (gate === undefined) {
      gate = new DtlsHandshakeGate<FragmentedHandshake>(role);
      gates.set(socket.dtls, gate);
    }
    const runs: Promise<void>[] = [];
    for (const message of assembled) {
      const view = { flight: socket.dtls.flight, connected: socket.connected };
      // One call per message, started in order: werift's handlers run synchronously up to
      // their first await, so they see the transcript in message_seq order.
      for (const m of gate.accept(message, view)) runs.push(deliver([m]));
    }
    await Promise.all(runs);
  };
}
