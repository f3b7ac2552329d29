/**
 * DTLS handshake loss: two real werift peers (our PeerTransport) on 127.0.0.1 whose every
 * datagram crosses a tiny in-test UDP forwarder that drops chosen DTLS handshake datagrams. Each
 * case names the datagrams it loses; the handshake must still complete and RTP must flow both
 * ways. Without media-edge/dtls-fix.ts, losing the client's first Certificate or ClientKeyExchange
 * leaves werift's DTLS server with wrong keys for good (docs/engine.md, "Known limitations").
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { setWeriftDtlsFixEnabled } from './media-edge/dtls-fix.ts';
import { PeerTransport, type IceCandidateJson, type ReceivedRtp } from './peer-transport.ts';

/** Direction of a datagram through the forwarder: offerer → answerer or back. */
type Direction = 'offerer->answerer' | 'answerer->offerer';

/** What a drop rule sees of one datagram. */
interface HandshakeDatagram {
  dir: Direction;
  /** Handshake msg_type of the first record (RFC 5246 §7.4), or 'encrypted' for epoch > 0. */
  type: number | 'encrypted';
  /** How many earlier datagrams with identical bytes went the same way. */
  copy: number;
}

/** Handshake types (RFC 5246 §7.4, RFC 6347 §4.2.1). */
const HT = {
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
} as const;

/** Describes `msg` if it is a DTLS handshake record (content type 22, RFC 6347 §4.1). */
function handshakeType(msg: Buffer): number | 'encrypted' | undefined {
  if (msg.length < 13 || msg[0] !== 22 || msg[1] !== 0xfe) return undefined;
  if (msg.readUInt16BE(3) !== 0) return 'encrypted';
  return msg.length > 13 ? msg[13] : undefined;
}

/**
 * Forwards UDP between two peers that only know each other through it: the offerer is given
 * `offererSide` as the answerer's address and the answerer `answererSide` as the offerer's.
 */
class LossyForwarder {
  readonly #offererSide: Socket;
  readonly #answererSide: Socket;
  readonly #copies = new Map<string, number>();
  readonly #drop: (d: HandshakeDatagram) => boolean;
  offererPort = 0;
  answererPort = 0;
  /** Datagrams dropped, as `dir type#copy`. */
  readonly dropped: string[] = [];

  private constructor(a: Socket, b: Socket, drop: (d: HandshakeDatagram) => boolean) {
    this.#offererSide = a;
    this.#answererSide = b;
    this.#drop = drop;
    // The offerer sends to `offererSide`; forward from `answererSide` so the answerer sees the
    // source it was given as the offerer's candidate, and the other way round.
    a.on('message', (msg) => this.#forward(msg, 'offerer->answerer', b, this.answererPort));
    b.on('message', (msg) => this.#forward(msg, 'answerer->offerer', a, this.offererPort));
  }

  static async start(drop: (d: HandshakeDatagram) => boolean): Promise<LossyForwarder> {
    const bind = async (): Promise<Socket> => {
      const s = createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      return s;
    };
    return new LossyForwarder(await bind(), await bind(), drop);
  }

  /** Port the offerer must send to (stands for the answerer). */
  get portForOfferer(): number {
    return this.#offererSide.address().port;
  }

  /** Port the answerer must send to (stands for the offerer). */
  get portForAnswerer(): number {
    return this.#answererSide.address().port;
  }

  #forward(msg: Buffer, dir: Direction, via: Socket, port: number): void {
    if (port === 0) return;
    const type = handshakeType(msg);
    if (type !== undefined) {
      const key = `${dir}:${createHash('sha256').update(msg).digest('hex')}`;
      const copy = this.#copies.get(key) ?? 0;
      this.#copies.set(key, copy + 1);
      if (this.#drop({ dir, type, copy })) {
        this.dropped.push(`${dir} ${type}#${copy}`);
        return;
      }
    }
    via.send(msg, port, '127.0.0.1');
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.#offererSide, this.#answererSide].map(
        (s) => new Promise<void>((resolve) => s.close(() => resolve())),
      ),
    );
  }
}

/** Removes the candidate lines of `sdp`; returns it and its UDP host candidate on 127.0.0.1. */
function splitCandidates(sdp: string): { sdp: string; loopback: IceCandidateJson } {
  const lines = sdp.split('\r\n');
  const line = lines.find((l) => /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/.test(l));
  assert.ok(line !== undefined, `no loopback candidate in ${sdp}`);
  const kept = lines.filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates');
  return {
    sdp: kept.join('\r\n'),
    loopback: { candidate: line.slice('a='.length), sdpMid: '0', sdpMLineIndex: 0 },
  };
}

/** Rewrites a host candidate on 127.0.0.1 to `port`; returns its original port. */
function rewrite(c: IceCandidateJson, port: number): { json: IceCandidateJson; realPort: number } {
  const parts = c.candidate.split(' ');
  const realPort = Number(parts[5]);
  parts[5] = String(port);
  return { json: { ...c, candidate: parts.join(' ') }, realPort };
}

/**
 * Connects an offerer and an answerer through `fwd` and checks that RTP flows both ways. Only
 * the 127.0.0.1 host candidate of each side is exchanged, so every datagram crosses the forwarder.
 */
async function callThrough(fwd: LossyForwarder, connectTimeoutMs: number): Promise<void> {
  const offerer = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  const answerer = new PeerTransport({ hostAddresses: ['127.0.0.1'] });
  try {
    const gotOfferer: ReceivedRtp[] = [];
    const gotAnswerer: ReceivedRtp[] = [];
    offerer.on('rtp', (p) => gotOfferer.push(p));
    answerer.on('rtp', (p) => gotAnswerer.push(p));
    // werift gathers before createOffer/acceptOffer resolve, so the candidates are in the SDP:
    // take them out and hand over only the 127.0.0.1 one, rewritten to the forwarder.
    const offer = await offerer.createOffer();
    const o = splitCandidates(offer.sdp);
    const answer = await answerer.acceptOffer({ type: 'offer', sdp: o.sdp });
    const a = splitCandidates(answer.sdp);
    await offerer.acceptAnswer({ type: 'answer', sdp: a.sdp });
    const toAnswerer = rewrite(o.loopback, fwd.portForAnswerer);
    fwd.offererPort = toAnswerer.realPort;
    const toOfferer = rewrite(a.loopback, fwd.portForOfferer);
    fwd.answererPort = toOfferer.realPort;
    await answerer.addRemoteCandidate(toAnswerer.json);
    await offerer.addRemoteCandidate(toOfferer.json);
    await Promise.all([
      offerer.waitConnected(connectTimeoutMs),
      answerer.waitConnected(connectTimeoutMs),
    ]);
    for (let i = 0; i < 20; i++) {
      offerer.sendOpus(Buffer.from([0xf8, 0xff, 0xfe, i]), i * 960, i === 0);
      answerer.sendOpus(Buffer.from([0xf8, 0xfe, i, i]), i * 960, i === 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const deadline = Date.now() + 3000;
    while ((gotOfferer.length < 18 || gotAnswerer.length < 18) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gotAnswerer.length >= 18, `answerer received ${gotAnswerer.length} of 20 RTP`);
    assert.ok(gotOfferer.length >= 18, `offerer received ${gotOfferer.length} of 20 RTP`);
    const [keyA, keyB] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    assert.deepEqual(offerer.sas(keyA, keyB), answerer.sas(keyB, keyA));
  } finally {
    await Promise.all([offerer.close(), answerer.close()]);
  }
}

/** Runs one case: a call through a forwarder with `drop`, which must drop at least `minDrops`. */
async function lossCase(
  drop: (d: HandshakeDatagram) => boolean,
  minDrops: number,
  connectTimeoutMs = 20_000,
): Promise<string[]> {
  const fwd = await LossyForwarder.start(drop);
  try {
    await callThrough(fwd, connectTimeoutMs);
    assert.ok(fwd.dropped.length >= minDrops, `dropped only ${fwd.dropped.join(', ')}`);
    return fwd.dropped;
  } finally {
    await fwd.close();
  }
}

// werift's offerer (ICE controlling) is the DTLS server, the answerer the DTLS client; the
// client's flight 5 is Certificate, ClientKeyExchange, CertificateVerify, CCS, Finished.
const fromClient = (d: HandshakeDatagram): boolean => d.dir === 'answerer->offerer';
const fromServer = (d: HandshakeDatagram): boolean => d.dir === 'offerer->answerer';

test('the first copy of the client Certificate (flight 5) is lost', async () => {
  await lossCase((d) => fromClient(d) && d.type === HT.certificate && d.copy === 0, 1);
});

test('the first copy of the ClientKeyExchange (flight 5) is lost', async () => {
  await lossCase((d) => fromClient(d) && d.type === HT.clientKeyExchange && d.copy === 0, 1);
});

test('the first ServerHello and ServerKeyExchange (flight 4) are lost', async () => {
  await lossCase(
    (d) =>
      fromServer(d) &&
      (d.type === HT.serverHello || d.type === HT.serverKeyExchange) &&
      d.copy === 0,
    2,
  );
});

test('the first copy of every handshake datagram, both ways, is lost', async () => {
  await lossCase((d) => d.copy === 0, 8);
});

test('the first CertificateVerify and the server Finished (flight 6) are lost', async () => {
  await lossCase(
    (d) =>
      d.copy === 0 &&
      ((fromClient(d) && d.type === HT.certificateVerify) ||
        (fromServer(d) && d.type === 'encrypted')),
    2,
  );
});

test('the first ClientHello, HelloVerifyRequest and second ClientHello copies are lost', async () => {
  await lossCase(
    (d) => d.copy === 0 && (d.type === HT.clientHello || d.type === HT.helloVerifyRequest),
    2,
  );
});

test('25 % random loss of handshake datagrams, 4 seeds', async (t) => {
  for (const seed of [1, 2, 3, 5]) {
    // Park–Miller minimal standard generator: reproducible per seed.
    let state = seed * 7919;
    const random = (): number => {
      state = (state * 48271) % 0x7fffffff;
      return state / 0x7fffffff;
    };
    const started = performance.now();
    const dropped = await lossCase(() => random() < 0.25, 1);
    t.diagnostic(
      `seed ${seed}: connected in ${Math.round(performance.now() - started)} ms, lost ${dropped.join(', ')}`,
    );
  }
});

test('without the gate, werift fails on a lost client Certificate (the defect it fixes)', async () => {
  setWeriftDtlsFixEnabled(false);
  try {
    await assert.rejects(
      lossCase((d) => fromClient(d) && d.type === HT.certificate && d.copy === 0, 1, 8000),
      (err: { code?: string }) =>
        err.code === 'TRANSPORT_ERR_CLOSED' || err.code === 'TRANSPORT_ERR_CONNECT_TIMEOUT',
    );
  } finally {
    setWeriftDtlsFixEnabled(true);
  }
});
