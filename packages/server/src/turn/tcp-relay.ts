/**
 * RFC 6062 TCP allocations, the socket side: one TCP listener per allocation on its relayed
 * address, Connect (the relay opens a connection to the peer), ConnectionAttempt (a permitted
 * peer connected in), and ConnectionBind (the client's new data connection is joined to the peer
 * connection, after which bytes flow raw both ways). Policy (auth, peers, permissions) is the
 * core's; this file holds connections and their timers.
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import type { Allocation, ClientRef, TurnLogger } from './allocation.ts';
import type { TurnCore } from './turn-core.ts';
import type { PendingBind, PendingConnect } from './turn-core-types.ts';
import type { StreamFramer } from './stun.ts';
import { Method } from './stun.ts';

/** RFC 6062 §5.2: a connection not bound within 30 s is closed. */
export const CONNECTION_BIND_TIMEOUT_MS = 30_000;
/** How long a Connect may take before 447, ms. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Connections (pending or bound) one TCP allocation may hold. */
export const MAX_CONNECTIONS_PER_ALLOCATION = 64;

interface PeerConnection {
  id: number;
  allocation: Allocation;
  peerKey: string;
  peer: net.Socket;
  data: net.Socket | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** A TCP relayed address: closing it closes its listener and every connection through it. */
export interface TcpRelayHandle {
  send(): void;
  close(): void;
}

/** The TCP connections of every TCP allocation. */
export class TcpRelays {
  #core: TurnCore;
  #relayIp: string;
  #logger: TurnLogger;
  #sendToClient: (client: ClientRef, data: Buffer) => void;
  #byId = new Map<number, PeerConnection>();
  #byPort = new Map<number, Set<PeerConnection>>();
  #cap: number;
  #buckets = new WeakMap<Allocation, { bytes: number; atMs: number }>();

  /** @param bandwidthBytesPerSec per-allocation cap, both directions of every connection. */
  constructor(
    core: TurnCore,
    relayIp: string,
    logger: TurnLogger,
    sendToClient: (client: ClientRef, data: Buffer) => void,
    bandwidthBytesPerSec: number,
  ) {
    this.#core = core;
    this.#relayIp = relayIp;
    this.#logger = logger;
    this.#sendToClient = sendToClient;
    this.#cap = bandwidthBytesPerSec;
  }

  /**
   * Spends `bytes` from the allocation's token bucket (both directions of every connection
   * together) and returns how long the chunk must wait before it may go, ms (0: at once). Bytes
   * cannot be dropped from a stream, so the cap delays them instead.
   */
  #debtMs(a: Allocation, bytes: number): number {
    const cap = this.#cap;
    const now = Date.now();
    let b = this.#buckets.get(a);
    if (!b) this.#buckets.set(a, (b = { bytes: cap, atMs: now }));
    b.bytes = Math.min(cap, b.bytes + ((now - b.atMs) * cap) / 1000) - bytes;
    b.atMs = now;
    return b.bytes >= 0 ? 0 : Math.ceil((-b.bytes * 1000) / cap);
  }

  /**
   * Relays `src` to `dst` raw: counted, held to the bandwidth cap (the source stops reading while
   * a chunk waits), and with backpressure. Returns the chunk handler, for bytes read before.
   */
  #relayStream(a: Allocation, src: net.Socket, dst: net.Socket): (chunk: Buffer) => void {
    const counters = this.#core.counters;
    let held = false;
    let full = false;
    let ended = false;
    const resume = (): void => {
      if (!held && !full && !src.destroyed) src.resume();
    };
    const write = (chunk: Buffer): void => {
      if (dst.destroyed || dst.writableEnded || dst.write(chunk)) return;
      full = true;
      src.pause();
      dst.once('drain', () => {
        full = false;
        resume();
      });
    };
    const onChunk = (chunk: Buffer): void => {
      counters.packetsRelayed++;
      counters.bytesRelayed += chunk.length;
      a.packets++;
      const wait = this.#debtMs(a, chunk.length);
      if (wait === 0) {
        write(chunk);
        return;
      }
      held = true;
      src.pause();
      setTimeout(() => {
        held = false;
        write(chunk);
        if (ended) dst.end();
        else resume();
      }, wait).unref();
    };
    src.on('data', onChunk);
    // A half-close goes through, after any chunk still held by the cap.
    src.on('end', () => {
      ended = true;
      if (!held) dst.end();
    });
    return onChunk;
  }

  /** Binds relayIp:`port` (TCP, exclusively) for a new TCP allocation; undefined if taken. */
  async listen(port: number): Promise<TcpRelayHandle | undefined> {
    const server = net.createServer((sock) => this.#onPeerConnection(port, sock));
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ port, host: this.#relayIp, exclusive: true }, () => resolve(true));
    });
    if (!ok) {
      server.close();
      return undefined;
    }
    server.on('error', (err) =>
      this.#logger.warn({ port, err: err.message }, 'turn tcp relay listener error'),
    );
    return {
      send() {},
      close: () => {
        server.close();
        for (const c of this.#byPort.get(port) ?? []) this.#drop(c);
        this.#byPort.delete(port);
      },
    };
  }

  #track(allocation: Allocation, peerKey: string, peer: net.Socket): PeerConnection {
    let id = randomInt(1, 0xffff_ffff);
    while (this.#byId.has(id)) id = randomInt(1, 0xffff_ffff);
    const c: PeerConnection = { id, allocation, peerKey, peer, data: undefined, timer: undefined };
    this.#byId.set(id, c);
    const port = allocation.relay.port;
    let set = this.#byPort.get(port);
    if (!set) this.#byPort.set(port, (set = new Set()));
    set.add(c);
    peer.on('close', () => this.#drop(c));
    peer.on('error', () => peer.destroy());
    return c;
  }

  /** Waits for the client's ConnectionBind; the peer's bytes stay in the kernel until then. */
  #awaitBind(c: PeerConnection): void {
    c.peer.pause();
    c.timer = setTimeout(() => this.#drop(c), CONNECTION_BIND_TIMEOUT_MS);
    c.timer.unref();
  }

  #drop(c: PeerConnection): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    this.#byId.delete(c.id);
    this.#byPort.get(c.allocation.relay.port)?.delete(c);
    c.peer.destroy();
    c.data?.destroy();
  }

  #full(allocation: Allocation): boolean {
    return (this.#byPort.get(allocation.relay.port)?.size ?? 0) >= MAX_CONNECTIONS_PER_ALLOCATION;
  }

  #exists(allocation: Allocation, peerKey: string): boolean {
    for (const c of this.#byPort.get(allocation.relay.port) ?? []) {
      if (c.peerKey === peerKey) return true;
    }
    return false;
  }

  /** A peer connected to a relayed address: ConnectionAttempt if it has a permission. */
  #onPeerConnection(port: number, sock: net.Socket): void {
    const a = this.#core.allocationByRelayPort(port);
    const ip = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const peerPort = sock.remotePort ?? 0;
    if (!a || !a.tcpRelay || !this.#core.permits(a, ip, Date.now()) || this.#full(a)) {
      sock.destroy();
      return;
    }
    const c = this.#track(a, `${ip}:${peerPort}`, sock);
    this.#awaitBind(c);
    this.#sendToClient(a.client, this.#core.connectionAttempt({ ip, port: peerPort }, c.id));
  }

  /** RFC 6062 §5.2: opens the connection from the relayed address and answers the Connect. */
  connect(pending: PendingConnect): void {
    const { allocation: a, peer, transactionId } = pending;
    const reply = (result: { connectionId: number } | { code: number; why: string }): void => {
      if (a.deleted) return;
      this.#sendToClient(
        a.client,
        this.#core.connectionResponse(Method.CONNECT, transactionId, a.key, a.client, result),
      );
    };
    const peerKey = `${peer.ip}:${peer.port}`;
    if (this.#exists(a, peerKey)) {
      reply({ code: 446, why: `a connection to ${peerKey} exists` });
      return;
    }
    if (this.#full(a)) {
      reply({ code: 447, why: `${MAX_CONNECTIONS_PER_ALLOCATION} connections already` });
      return;
    }
    const sock = net.connect({ host: peer.ip, port: peer.port, localAddress: this.#relayIp });
    const timer = setTimeout(() => sock.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    const failed = (err: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reply({ code: 447, why: `connect to ${peerKey}: ${err.message}` });
    };
    sock.once('error', failed);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', failed);
      if (a.deleted) {
        sock.destroy();
        return;
      }
      const c = this.#track(a, peerKey, sock);
      this.#awaitBind(c);
      reply({ connectionId: c.id });
    });
  }

  /**
   * RFC 6062 §5.4: joins the client's data connection `sock` to the peer connection. On success
   * `sock` carries raw bytes from then on: its framer's leftover goes to the peer, and the caller
   * must stop reading frames from it (`true` is returned).
   */
  bind(pending: PendingBind, client: ClientRef, sock: net.Socket, framer: StreamFramer): boolean {
    const c = this.#byId.get(pending.connectionId);
    const fail = (why: string): false => {
      this.#sendToClient(
        client,
        this.#core.connectionResponse(
          Method.CONNECTION_BIND,
          pending.transactionId,
          pending.key,
          client,
          { code: 400, why },
        ),
      );
      return false;
    };
    if (!c || c.data) return fail('unknown or already bound CONNECTION-ID');
    if (c.allocation.deleted || c.allocation.username !== pending.username) {
      return fail('CONNECTION-ID of another allocation');
    }
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    c.data = sock;
    sock.write(
      this.#core.connectionResponse(
        Method.CONNECTION_BIND,
        pending.transactionId,
        pending.key,
        client,
        {},
      ),
    );
    sock.removeAllListeners('data');
    const toPeer = this.#relayStream(c.allocation, sock, c.peer);
    this.#relayStream(c.allocation, c.peer, sock);
    const leftover = framer.takePending();
    if (leftover.length > 0) toPeer(leftover);
    sock.on('close', () => this.#drop(c));
    c.peer.resume();
    return true;
  }

  /** Closes every connection (relay shutdown). */
  close(): void {
    for (const c of [...this.#byId.values()]) this.#drop(c);
  }
}
