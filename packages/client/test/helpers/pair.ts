/** Two connected {@link PeerTransport}s on 127.0.0.1, wired by plain JSON like signalling does. */
import { PeerTransport, type PeerTransportOptions } from '../../src/transport/peer-transport.ts';

/** Creates and connects a caller/callee pair. */
export async function connectedPair(
  options: PeerTransportOptions = {},
): Promise<[PeerTransport, PeerTransport]> {
  const opts = { hostAddresses: ['127.0.0.1'], ...options };
  const a = new PeerTransport(opts);
  const b = new PeerTransport(opts);
  a.on('candidate', (c) => void b.addRemoteCandidate(c));
  b.on('candidate', (c) => void a.addRemoteCandidate(c));
  const offer = await a.createOffer();
  const answer = await b.acceptOffer(offer);
  await a.acceptAnswer(answer);
  await Promise.all([a.waitConnected(10_000), b.waitConnected(10_000)]);
  return [a, b];
}
