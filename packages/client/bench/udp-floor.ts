/**
 * The CPU floor of a Node process doing a call's packet I/O and nothing else: one datagram of an
 * RTP packet's size sent every frame from a timer, and one received from the peer every frame.
 * `bench:call` runs two of these beside the real clients (same rate, same measurement), so the
 * client's CPU can be read against what Node's event loop and `dgram` cost on this machine.
 *
 * Usage (by the bench): `node udp-floor.ts FRAME_MS BYTES`; prints `port=N` on stdout, then reads
 * the peer's port from one stdin line and starts. Exits when stdin closes.
 * @module
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const frameMs = Number(process.argv[2] ?? 20);
const bytes = Number(process.argv[3] ?? 108);
const socket = createSocket('udp4');
let received = 0;
socket.on('message', () => {
  received++;
});
socket.bind(0, '127.0.0.1', () => {
  console.log(`port=${socket.address().port}`);
});
const lines = createInterface({ input: process.stdin });
let timer: NodeJS.Timeout | undefined;
lines.once('line', (line) => {
  const peer = Number(line.trim());
  const packet = Buffer.alloc(bytes);
  timer = setInterval(() => socket.send(packet, peer, '127.0.0.1'), frameMs);
});
lines.once('close', () => {
  clearInterval(timer);
  socket.close();
  console.error(`received=${received}`);
});
