/**
 * UDP impairment proxy: the I/O shell (node:dgram and real timers) around the media package's
 * sans-IO {@link Impairment} generator. Datagrams from a client to `listen` go out to `to` from a
 * per-client upstream socket; replies come back the same way. Each client has its own generator
 * per direction (the k-th client to send, from 0: seed + 2k up, seed + 2k + 1 down), as each
 * client has its own access link: a loss burst or a jitter queue on one peer's path does not
 * touch another's. A run is thus reproducible in its loss/delay decisions.
 *
 * Delivery order is the generator's: each direction keeps one queue sorted by arrival time (ties
 * in send order) drained by a single timer. One `setTimeout` per datagram would not do that:
 * Node schedules a timer from the event loop's cached clock, not from the `performance.now()`
 * the delay was computed with, so datagrams of one burst that the FIFO model gives the same
 * arrival fire in reverse order. That reordered DTLS handshake flights (Finished before
 * ClientKeyExchange), which a lossy-but-FIFO link never does.
 *
 * {@link NetemProxy.setImpairment} switches the impairment mid-run (the impairment matrix test
 * walks a call through its conditions this way): the new generators' clock starts at the switch,
 * so drift and route changes count from then, and nothing they schedule arrives before what the
 * old ones already queued (a link's queue does not reorder because its conditions changed).
 */
import { createSocket, type Socket } from 'node:dgram';
import { Impairment, type ImpairmentOptions } from '@parloir/media';
import type { HostPort } from './spec.ts';

/** Which directions a proxy impairs: the other passes straight through. */
export type NetemDirection = 'both' | 'up' | 'down';

/** Options of {@link NetemProxy.start}. */
export interface NetemProxyOptions {
  /** Where clients send (port 0 picks a free port). */
  listen: HostPort;
  /** Where datagrams are forwarded. */
  to: HostPort;
  /** Impairment applied in each direction (downstream uses seed + 1). */
  impairment: ImpairmentOptions;
  /**
   * Directions impaired (default both): `up` is client → target, `down` target → client. With
   * the proxy in front of a TURN relay, `up` impairs each peer's media once, on its way in.
   */
  direction?: NetemDirection;
  /** Clock in ms; default performance.now. */
  now?: () => number;
  /**
   * Never drop DTLS handshake records (sent bare or inside TURN ChannelData); they are still
   * delayed. Use it to measure loss during a call apart from call setup. (Unpatched werift 0.25
   * could not recover from some lost handshake datagrams; our transport now gates its handshake,
   * see docs/engine.md, so the end-to-end tests no longer need this.)
   */
  spareDtlsHandshake?: boolean;
}

/**
 * Whether `msg` carries a DTLS handshake record: first byte 22 (RFC 6347 §4.1, demultiplexed per
 * RFC 7983 §7), either bare or after a 4-byte TURN ChannelData header (RFC 8656 §12.4, channel
 * numbers 0x4000–0x7FFF).
 */
export function isDtlsHandshake(msg: Uint8Array): boolean {
  const isHandshakeRecord = (offset: number): boolean =>
    msg.length >= offset + 13 && msg[offset] === 22 && msg[offset + 1] === 0xfe;
  const first = msg[0] ?? 0;
  if (first >= 0x40 && first <= 0x7f) return isHandshakeRecord(4);
  return isHandshakeRecord(0);
}

/** Per-direction counters. */
export interface NetemDirectionStats {
  /** Datagrams received from the sending side. */
  received: number;
  /** Datagrams dropped by the loss model. */
  dropped: number;
  /** Datagrams delivered (duplicates count twice). */
  delivered: number;
  /** Sum of the delays applied to delivered datagrams, ms. */
  delaySumMs: number;
}

/** Counters of both directions. */
export interface NetemStats {
  /** Client → target. */
  up: NetemDirectionStats;
  /** Target → client. */
  down: NetemDirectionStats;
  /** Clients seen. */
  clients: number;
}

/** One direction's generator for one client, and the clock it runs on. */
interface DirectionModel {
  /** Undefined when the direction is not impaired. */
  impairment: Impairment | undefined;
  /** Proxy time the generator's clock starts at, ms. */
  originMs: number;
  /** Nothing this generator schedules arrives earlier, ms (the last generator's last arrival). */
  floorMs: number;
  /** Latest arrival scheduled so far, ms. */
  lastArrivalMs: number;
}

/** A datagram waiting for its arrival time. */
interface Scheduled {
  /** Arrival, ms since the proxy started. */
  atMs: number;
  msg: Buffer;
  via: Socket;
  dest: { address: string; port: number };
}

/** One direction's delivery queue, sorted by `atMs`, ties in insertion order. */
interface DeliveryQueue {
  items: Scheduled[];
  timer: NodeJS.Timeout | undefined;
  /** Arrival the timer is set for, ms (Infinity when none). */
  timerAtMs: number;
}

/**
 * A datagram due within this much of now is sent in the current pass, ms: timers fire on a
 * 1 ms clock, so waiting for the sub-millisecond rest would only add a pass.
 */
const DUE_SLACK_MS = 0.5;

interface Session {
  upstream: Socket;
  client: { address: string; port: number };
  /** Order of arrival among clients, from 0: picks the seeds. */
  index: number;
  /** This client's generators, one per direction. */
  models: Record<'up' | 'down', DirectionModel>;
}

const MAX_CLIENTS = 64;

const emptyStats = (): NetemDirectionStats => ({
  received: 0,
  dropped: 0,
  delivered: 0,
  delaySumMs: 0,
});

/** A running proxy. */
export class NetemProxy {
  readonly #listen: Socket;
  readonly #o: NetemProxyOptions;
  readonly #now: () => number;
  readonly #start: number;
  #impairment: ImpairmentOptions;
  /** When the impairment in force was set, ms since the proxy started. */
  #impairmentSinceMs = 0;
  readonly #sessions = new Map<string, Session>();
  readonly #queues: Record<'up' | 'down', DeliveryQueue> = {
    up: { items: [], timer: undefined, timerAtMs: Infinity },
    down: { items: [], timer: undefined, timerAtMs: Infinity },
  };
  readonly #stats: NetemStats = { up: emptyStats(), down: emptyStats(), clients: 0 };
  #closed = false;

  private constructor(listen: Socket, options: NetemProxyOptions) {
    this.#listen = listen;
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    // Validated here, so a bad impairment fails start() rather than the first datagram.
    this.#generator('up', options.impairment, 0);
    this.#impairment = options.impairment;
    listen.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo));
    listen.on('error', () => {
      // A send error (e.g. ICMP port unreachable surfaced on Linux) must not kill the proxy.
    });
  }

  /**
   * Binds the listening socket and starts forwarding.
   * @throws MediaError `MEDIA_ERR_IMPAIRMENT_SPEC` on invalid impairment options, or the bind error.
   */
  static async start(options: NetemProxyOptions): Promise<NetemProxy> {
    const type = options.listen.host.includes(':') ? 'udp6' : 'udp4';
    const socket = createSocket(type);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.listen.port, options.listen.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      return new NetemProxy(socket, options);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** The bound listening address. */
  get address(): HostPort {
    const a = this.#listen.address();
    return { host: a.address, port: a.port };
  }

  /**
   * Replaces the impairment from now on (see the module comment).
   * @throws MediaError `MEDIA_ERR_IMPAIRMENT_SPEC` on invalid options; the old one then stays.
   */
  setImpairment(impairment: ImpairmentOptions): void {
    new Impairment(impairment);
    const now = this.#now() - this.#start;
    for (const session of this.#sessions.values()) {
      for (const dir of ['up', 'down'] as const) {
        const m = session.models[dir];
        m.impairment = this.#generator(dir, impairment, session.index);
        m.originMs = now;
        m.floorMs = m.lastArrivalMs;
      }
    }
    this.#impairment = impairment;
    this.#impairmentSinceMs = now;
  }

  /** The impairment in force. */
  get impairment(): ImpairmentOptions {
    return structuredClone(this.#impairment);
  }

  /** Counters so far. */
  stats(): NetemStats {
    return structuredClone(this.#stats);
  }

  /** Stops forwarding, cancels pending deliveries, closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const q of Object.values(this.#queues)) {
      clearTimeout(q.timer);
      q.timer = undefined;
      q.items.length = 0;
    }
    const closing = [this.#listen, ...[...this.#sessions.values()].map((s) => s.upstream)].map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    );
    this.#sessions.clear();
    await Promise.all(closing);
  }

  #fromClient(msg: Buffer, rinfo: { address: string; port: number }): void {
    if (this.#closed) return;
    const key = `${rinfo.address}|${rinfo.port}`;
    let session = this.#sessions.get(key);
    if (!session) {
      if (this.#sessions.size >= MAX_CLIENTS) return;
      const upstream = createSocket(this.#o.to.host.includes(':') ? 'udp6' : 'udp4');
      const index = this.#stats.clients;
      const model = (dir: 'up' | 'down'): DirectionModel => ({
        impairment: this.#generator(dir, this.#impairment, index),
        originMs: this.#impairmentSinceMs,
        floorMs: -Infinity,
        lastArrivalMs: -Infinity,
      });
      const s: Session = {
        upstream,
        client: { address: rinfo.address, port: rinfo.port },
        index,
        models: { up: model('up'), down: model('down') },
      };
      upstream.on('message', (reply) => this.#forward(reply, 'down', s, this.#listen, s.client));
      upstream.on('error', () => {
        // Target unreachable for a moment: keep going, like a real link would.
      });
      upstream.bind(0, this.#o.to.host.includes(':') ? '::' : '0.0.0.0');
      this.#sessions.set(key, s);
      this.#stats.clients++;
      session = s;
    }
    this.#forward(msg, 'up', session, session.upstream, {
      address: this.#o.to.host,
      port: this.#o.to.port,
    });
  }

  #forward(
    msg: Buffer,
    dir: 'up' | 'down',
    session: Session,
    via: Socket,
    dest: { address: string; port: number },
  ): void {
    if (this.#closed) return;
    const stats = this.#stats[dir];
    stats.received++;
    const now = this.#now() - this.#start;
    const model = session.models[dir];
    const fate = model.impairment?.process(now - model.originMs) ?? { arrivalsMs: [0] };
    fate.arrivalsMs = fate.arrivalsMs.map((a) => Math.max(a + model.originMs, model.floorMs));
    if (fate.arrivalsMs.length === 0) {
      if (this.#o.spareDtlsHandshake === true && isDtlsHandshake(msg)) {
        fate.arrivalsMs.push(now + (this.#impairment.baseDelayMs ?? 0));
      } else {
        stats.dropped++;
        return;
      }
    }
    const queue = this.#queues[dir];
    for (const arrival of fate.arrivalsMs) {
      const delay = Math.max(0, arrival - now);
      stats.delivered++;
      stats.delaySumMs += delay;
      model.lastArrivalMs = Math.max(model.lastArrivalMs, now + delay);
      insertByArrival(queue.items, { atMs: now + delay, msg, via, dest });
    }
    this.#schedule(queue);
  }

  /**
   * The generator of client `index` for `dir` (seed + 2·index up, one more down), or undefined
   * when `dir` is not impaired.
   */
  #generator(
    dir: 'up' | 'down',
    impairment: ImpairmentOptions,
    index: number,
  ): Impairment | undefined {
    const d = this.#o.direction ?? 'both';
    if (d !== 'both' && d !== dir) return undefined;
    const seed = impairment.seed + 2 * index + (dir === 'up' ? 0 : 1);
    return new Impairment({ ...impairment, seed });
  }

  /** Sends every due datagram of `queue` in order, then re-arms its timer for the next one. */
  #drain(queue: DeliveryQueue): void {
    queue.timer = undefined;
    queue.timerAtMs = Infinity;
    if (this.#closed) return;
    const now = this.#now() - this.#start;
    let due = 0;
    while (due < queue.items.length && (queue.items[due]?.atMs ?? Infinity) <= now + DUE_SLACK_MS)
      due++;
    for (const d of queue.items.splice(0, due)) d.via.send(d.msg, d.dest.port, d.dest.address);
    this.#schedule(queue);
  }

  /** Arms `queue`'s timer for its head, unless it is already armed for that time or earlier. */
  #schedule(queue: DeliveryQueue): void {
    const head = queue.items[0];
    if (head === undefined || this.#closed || head.atMs >= queue.timerAtMs) return;
    clearTimeout(queue.timer);
    queue.timerAtMs = head.atMs;
    const delay = Math.max(0, head.atMs - (this.#now() - this.#start));
    queue.timer = setTimeout(() => this.#drain(queue), delay);
  }
}

/** Inserts `d` after every queued datagram arriving at or before it (binary search). */
function insertByArrival(items: Scheduled[], d: Scheduled): void {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid]?.atMs ?? Infinity) <= d.atMs) lo = mid + 1;
    else hi = mid;
  }
  items.splice(lo, 0, d);
}
