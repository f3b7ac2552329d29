/**
 * Replay attack by the network (RFC 3711 §3.3.2), on each receive path of a real werift call on
 * 127.0.0.1: werift's (what the werift edge inserts into the C pipeline goes through the
 * transport's replay list first) and the direct edge's C receiver. A man in the middle relays the call
 * like a NAT (the candidates are rewritten to its ports), records the caller's SRTP, then replays
 * 1,000 of those genuine packets at the callee from the address the callee trusts: three in four
 * among the last 100 received, one in four more than 2,048 behind. None is delivered twice, and
 * the transport's statistics count every one.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { engineJitterOptions } from '../engine/jitter-options.ts';
import type { NativeReceive } from './media-edge/index.ts';
import { PeerTransport } from './peer-transport.ts';

const GENUINE = 2_300;
const REPLAYS = 1_000;

async function bound(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits for `cond`, polling every 10 ms, for at most `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!(await cond()) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/**
 * The relay: `facingA` is what a sees as b, `facingB` what b sees as a. Host candidates (trickled
 * or in the SDP) are rewritten to those ports; a's RTP towards b is recorded.
 */
class Mitm {
  facingA!: Socket;
  facingB!: Socket;
  aPort = 0;
  bPort = 0;
  /** a → b RTP datagrams, in the order relayed. */
  rtp: Buffer[] = [];

  async start(): Promise<void> {
    this.facingA = await bound();
    this.facingB = await bound();
    this.facingA.on('message', (b: Buffer, from: RemoteInfo) => {
      this.aPort = from.port;
      if (b.length > 12 && (b[0] ?? 0) >> 6 === 2 && ((b[1] ?? 0) & 0x7f) === 111) this.rtp.push(b);
      if (this.bPort !== 0) this.facingB.send(b, this.bPort, '127.0.0.1');
    });
    this.facingB.on('message', (b: Buffer) => {
      if (this.aPort !== 0) this.facingA.send(b, this.aPort, '127.0.0.1');
    });
  }

  /** `text` (a candidate or an SDP) from `side`, as the other side must see it. */
  rewrite(text: string, side: 'a' | 'b'): string {
    return text.replace(/ 127\.0\.0\.1 (\d+) typ host/g, (_m, port: string) => {
      if (side === 'b') this.bPort = Number(port);
      const via = side === 'a' ? this.facingB : this.facingA;
      return ` 127.0.0.1 ${via.address().port} typ host`;
    });
  }

  /** Sends `b` to b from the address b knows as a's. */
  replay(b: Buffer): void {
    this.facingB.send(b, this.bPort, '127.0.0.1');
  }

  close(): void {
    this.facingA.close();
    this.facingB.close();
  }
}

async function connectVia(mitm: Mitm, a: PeerTransport, b: PeerTransport): Promise<void> {
  const json = <T>(v: T, side: 'a' | 'b'): T =>
    JSON.parse(mitm.rewrite(JSON.stringify(v), side)) as T;
  a.on('candidate', (c) => void b.addRemoteCandidate(json(c, 'a') as never));
  b.on('candidate', (c) => void a.addRemoteCandidate(json(c, 'b') as never));
  const offer = await a.createOffer();
  const answer = await b.acceptOffer(json(offer, 'a'));
  await a.acceptAnswer(json(answer, 'b'));
  await Promise.all([a.waitConnected(10_000), b.waitConnected(10_000)]);
}

async function attack(path: 'werift' | 'native'): Promise<void> {
  const mitm = new Mitm();
  await mitm.start();
  const a = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  const b = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  let native: NativeReceive | undefined;
  try {
    await connectVia(mitm, a, b);
    const delivered: number[] = [];
    if (path === 'native') {
      const edge = b.openEdge({
        frameSamples: 960,
        bitrateBps: 32_000,
        jitter: engineJitterOptions(20, 500),
      });
      assert.equal(edge.kind, 'direct', `edge: ${edge.reason ?? ''}`);
      native = edge.receive;
      native.onRecords((records) => {
        for (const p of records) delivered.push(p.sequenceNumber);
      });
    } else {
      b.on('rtp', (p) => delivered.push(p.sequenceNumber));
    }
    assert.equal(b.edge, path === 'native' ? 'direct' : 'not open');
    const count = (): number => {
      native?.drain();
      return delivered.length;
    };

    for (let i = 0; i < GENUINE; i++) {
      a.sendOpus(Buffer.from([0xf8, 0xff, 0xfe]), i * 960, i === 0);
      if (i % 10 === 9) await tick();
    }
    assert.ok(await until(() => count() >= GENUINE - 50, 30_000), `b got ${count()} of ${GENUINE}`);
    await until(() => mitm.rtp.length >= GENUINE && count() >= GENUINE, 1_000);
    const got = new Set(delivered);
    assert.equal(got.size, delivered.length, 'no packet delivered twice before the attack');
    const before = delivered.length;
    const { packetsReplayed: replayedBefore } = await b.stats();

    // Replays: of the last 100 datagrams relayed, only those b received (a lost one would be
    // new to b); the old ones 2,100 to 2,299 behind the last.
    const rtp = mitm.rtp;
    const recent = rtp.slice(-100).filter((d) => got.has(d.readUInt16BE(2)));
    assert.ok(recent.length > 50);
    const replays = Array.from({ length: REPLAYS }, (_, n) =>
      n % 4 === 3
        ? rtp[rtp.length - 1 - 2100 - ((n * 37) % (rtp.length - 2100))]!
        : recent[(n * 7) % recent.length]!,
    );
    // werift guesses the ROC of a packet far behind as the current one (its own estimate, not
    // RFC 3711 Appendix A), so an old packet from before a sequence wrap fails to authenticate
    // there and never reaches the replay list: werift drops it itself.
    const last = rtp[rtp.length - 1]!.readUInt16BE(2);
    const counted = (d: Buffer, n: number): boolean =>
      path !== 'werift' || n % 4 !== 3 || d.readUInt16BE(2) <= last;
    let expected = 0;
    let replayed = 0;
    const seen = async (): Promise<boolean> => {
      count();
      replayed = (await b.stats()).packetsReplayed - replayedBefore;
      return replayed >= expected;
    };
    // In batches of 20, each counted before the next: the C receiver's thread reads on its own
    // and a burst of 1,000 could overflow the socket's receive buffer.
    for (let n = 0; n < REPLAYS; n++) {
      mitm.replay(replays[n]!);
      if (counted(replays[n]!, n)) expected++;
      if (n % 20 === 19 && !(await until(seen, 5_000))) break;
    }
    await until(seen, 5_000);
    assert.equal(replayed, expected, 'every replay counted');
    assert.equal(count(), before, 'no replay delivered');
  } finally {
    await Promise.all([a.close(), b.close()]);
    mitm.close();
  }
}

test('replays by the network on werift’s receive path are dropped and counted', () =>
  attack('werift'));
test('replays by the network on the C receiver are dropped and counted', () => attack('native'));
