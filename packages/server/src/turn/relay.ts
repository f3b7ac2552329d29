/**
 * The socket adapters around {@link TurnCore}: a UDP listener, a TCP listener (RFC 8656 §3.1:
 * STUN and padded ChannelData framed on the stream), one UDP relay socket per allocation, and the
 * timer. `createTurnRelay` builds the whole thing and implements the signalling contract
 * ({@link MediaRelay}).
 *
 * Two ways to move UDP packets, with the same behaviour: the native forwarding thread of
 * `@parloir/native` (`TurnForwarder`: it owns the UDP listener and the relay sockets and forwards
 * by tables mirrored from the core through `onAllocationChange`, handing everything else up), or
 * Node `dgram` sockets (the fallback when the addon cannot load, or `nativeForwarding: false`).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ForwarderPacket, TurnForwarder } from '@parloir/native';
import type { Registry } from 'prom-client';
import type { CallDirectory, IceServerInfo, MediaRelay } from '../relay-types.ts';
import type { Allocation, ClientRef, TurnLogger } from './allocation.ts';
import { TurnCore, type ClientAction } from './turn-core.ts';
import type { PendingAllocate } from './turn-core-types.ts';
import { issueTurnCredential } from './credentials.ts';
import { TurnError } from './errors.ts';
import { registerTurnMetrics } from './metrics.ts';
import { StreamFramer, type TransportAddress } from './stun.ts';
import { TcpRelays } from './tcp-relay.ts';

/** Options of {@link createTurnRelay}. */
export interface TurnRelayOptions {
  /** IP the UDP and TCP listeners bind (default '0.0.0.0'). */
  listenHost?: string;
  /** Listening port for UDP and TCP; 0 picks an ephemeral one (tests). Default 3478. */
  port?: number;
  /**
   * UDP listening sockets sharing the port through SO_REUSEPORT (default 2). More sockets mean
   * more kernel receive buffer to ride out a stalled event loop without loss.
   */
  udpSockets?: number;
  /** Listen on TCP as well as UDP (default true). */
  tcp?: boolean;
  /**
   * IPv4 address relay sockets bind and advertise. Default: `listenHost`; for 0.0.0.0, the first
   * non-internal IPv4 address of the machine (127.0.0.1 if there is none).
   */
  relayAddress?: string;
  /** Host name or IP put in the `turn:` URLs handed to clients (default: `relayAddress`). */
  publicHost?: string;
  /** Relay port range, inclusive (default 49152-65535). */
  relayPorts?: { min: number; max: number };
  /** Shared secret of TURN REST credentials (also coturn's `static-auth-secret`). */
  secret: string;
  /** Realm (default 'parloir'). */
  realm?: string;
  /** Live calls (required unless `bench`). */
  calls?: CallDirectory;
  /**
   * Bench mode (`--turn-bench`): any unexpired `expiry:anything` credential made with the secret
   * is accepted without a call, and loopback peers are allowed. Refused unless every listener is
   * on loopback.
   */
  bench?: boolean;
  /**
   * Allow loopback peers on any port, outside the call and on this machine's own ports (tests and
   * development on one machine, `--turn-allow-loopback-peers`). Default false: loopback peers are
   * refused, and this machine's addresses are reachable only on live relay ports.
   */
  allowLoopbackPeers?: boolean;
  /**
   * Private-range peers (10/8, 172.16/12, 192.168/16, 100.64/10): 'allow' (default: a call between
   * two people on the server's LAN works) or 'deny' (`--turn-private-peers deny`).
   */
  privatePeers?: 'allow' | 'deny';
  /**
   * Max TCP connections from one IP (default 128, none in bench mode where every client is on
   * 127.0.0.1); past it new ones are closed at once.
   */
  maxTcpConnectionsPerIp?: number;
  /** Max TCP connections in total (default 4 096). */
  maxTcpConnections?: number;
  /**
   * A TCP connection that has not made an authenticated request (an Allocate that succeeded, or a
   * ConnectionBind) this long after it opened is closed, ms (default 10 000).
   */
  tcpAuthDeadlineMs?: number;
  /** Max allocations per user of a call (default 8). */
  maxAllocationsPerUser?: number;
  /** Max allocations per call (default 16). */
  maxAllocationsPerCall?: number;
  /** Max allocations in total (default 10 000). */
  maxAllocations?: number;
  /** Per-allocation bandwidth cap, bytes/s (default 125 000 = 1 Mbit/s). */
  bandwidthBytesPerSec?: number;
  /** Max STUN requests per second from one IP (default 2 000). */
  requestsPerSecPerIp?: number;
  /** Lifetime of credentials handed out by `iceServersFor`, s (default 21 600). */
  credentialTtlSec?: number;
  /**
   * External TURN URLs (e.g. coturn with `use-auth-secret` and the same secret). When set,
   * `iceServersFor` hands these out instead of the built-in relay, which then binds nothing.
   */
  externalUrls?: string[];
  /** Clients must use relayed candidates only (`--relay-only`). */
  relayOnly?: boolean;
  /** Registry to register metrics on. */
  registry?: Registry;
  /** Logger (pino). */
  logger?: TurnLogger;
  /**
   * Forward UDP in the native addon's thread (default true). Falls back to Node `dgram` when the
   * addon cannot load or the listen/relay addresses are not IPv4 literals; `false` forces `dgram`.
   */
  nativeForwarding?: boolean;
}

/** Counters and sizes, for tests and the bench. */
export interface TurnRelayStats {
  /** Live allocations. */
  allocations: number;
  /** Packets relayed, both directions. */
  packetsRelayed: number;
  /** Payload bytes relayed, both directions. */
  bytesRelayed: number;
  /** Refusals by STUN error code (or reason for silent drops). */
  refusals: Record<string, number>;
  /** Packets dropped as malformed. */
  malformed: number;
  /** Packets dropped by the bandwidth cap. */
  bandwidthDropped: number;
}

/** The built-in TURN relay. */
export interface TurnRelay extends MediaRelay {
  /** Bound UDP/TCP listening port (0 when only external URLs are used). */
  readonly port: number;
  /** IPv4 address of relayed transport addresses. */
  readonly relayAddress: string;
  /** How UDP is forwarded: the native thread, Node `dgram`, or nothing (external URLs only). */
  readonly forwarding: 'native' | 'dgram' | 'none';
  /** Counters. */
  stats(): TurnRelayStats;
  /** Closes every socket and the timer. */
  close(): Promise<void>;
}

/** Every IPv4 address of this machine's interfaces (loopback included). */
function ownIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

/** The first non-internal IPv4 address of this machine, if any. */
function firstExternalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function isLoopbackHost(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

/**
 * Every address we send to is an IP literal, so "resolve" it synchronously: dgram's default
 * goes through dns.lookup, which defers each send by a process.nextTick.
 */
function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, 4);
}

/** Bytes queued toward one TCP client beyond which relayed packets are dropped. */
const TCP_QUEUE_LIMIT_BYTES = 256 * 1024;

/** The adapter's limits and policy switches (see {@link TurnRelayOptions}). */
interface AdapterLimits {
  /** Clients may send to any port of a loopback relay address (allowLoopbackPeers, bench). */
  selfPortsOpen: boolean;
  /** Max TCP connections from one IP. */
  maxTcpPerIp: number;
  /** Max TCP connections in total. */
  maxTcp: number;
  /** Time a TCP connection gets to make its first authenticated request, ms. */
  tcpAuthDeadlineMs: number;
}

/** A relay socket: a `dgram` socket, or a port of the native forwarding thread. */
interface RelaySocket {
  send(data: Buffer, port: number, ip: string): void;
  close(): void;
}

interface Reservation {
  socket: RelaySocket;
  port: number;
  expiresAtMs: number;
}

/** The adapter: owns every socket, forwards to and from {@link TurnCore}. */
class RelayAdapter {
  readonly core: TurnCore;
  #listenHost: string;
  #relayIp: string;
  #relayPorts: { min: number; max: number };
  #udp: dgram.Socket | undefined;
  #udpSockets: dgram.Socket[] = [];
  #tcp: net.Server | undefined;
  #tcpConns = new Map<
    string,
    { sock: net.Socket; framer: StreamFramer; raw: boolean; ip: string; deadline?: NodeJS.Timeout }
  >();
  /** Open TCP connections per client IP (the per-IP cap). */
  #tcpPerIp = new Map<string, number>();
  #limits: AdapterLimits;
  #tcpRelays: TcpRelays;
  #relaySockets = new Map<number, RelaySocket>();
  #reservations = new Map<string, Reservation>();
  #clients = new Map<string, ClientRef>();
  #timer: NodeJS.Timeout | undefined;
  #nextConnId = 1;
  #logger: TurnLogger;
  #closed = false;
  #fwd: TurnForwarder | undefined;
  #fwdLast = {
    packets: 0,
    bytes: 0,
    bandwidthDropped: 0,
    crossCall: 0,
    malformed: 0,
    upcallsDropped: 0,
    selfPort: 0,
  };
  /** Call groups of the forwarding thread: callId → group number and live allocations. */
  #groups = new Map<string, { group: number; count: number }>();
  #mirrored = new Set<Allocation>();
  #nextGroup = 1;
  #bench: boolean;

  constructor(
    core: TurnCore,
    listenHost: string,
    relayIp: string,
    relayPorts: { min: number; max: number },
    logger: TurnLogger,
    bench: boolean,
    bandwidthBytesPerSec: number,
    limits: AdapterLimits,
  ) {
    this.core = core;
    this.#limits = limits;
    this.#listenHost = listenHost;
    this.#relayIp = relayIp;
    this.#relayPorts = relayPorts;
    this.#logger = logger;
    this.#bench = bench;
    this.#tcpRelays = new TcpRelays(
      core,
      relayIp,
      logger,
      (client, data) => this.#sendToClient(client, data),
      bandwidthBytesPerSec,
    );
  }

  get relayIp(): string {
    return this.#relayIp;
  }

  get forwarding(): 'native' | 'dgram' {
    return this.#fwd ? 'native' : 'dgram';
  }

  #clientRef(ip: string, port: number): ClientRef {
    const key = `udp:${ip}:${port}`;
    let client = this.#clients.get(key);
    if (!client) {
      client = { transport: 'udp', ip, port, key };
      if (this.#clients.size > 100_000) this.#clients.clear();
      this.#clients.set(key, client);
    }
    return client;
  }

  /** Packets the forwarding thread did not cover: STUN requests, strangers, TCP allocations. */
  #onForwarderPackets(packets: ForwarderPacket[]): void {
    for (const p of packets) {
      if (this.#closed) return;
      if (p.kind === 'client') this.#onClientPacket(this.#clientRef(p.ip, p.port), p.data);
      else this.#onPeerPacket(p.relayPort, p.data, { address: p.ip, port: p.port });
    }
  }

  /** Mirrors one allocation into the forwarding thread's tables (core `onAllocationChange`). */
  onAllocationChange(a: Allocation, deleted: boolean): void {
    if (deleted) {
      if (this.#fwd && this.#mirrored.has(a)) a.packets += this.#fwd.deleteAllocation(a.relay.port);
      this.#closeRelay(a);
      if (!this.#mirrored.delete(a)) return;
      const g = this.#groups.get(a.callId);
      if (g && --g.count === 0) this.#groups.delete(a.callId);
      return;
    }
    const fwd = this.#fwd;
    // RFC 6062 TCP allocations carry no datagrams: nothing for the forwarding thread.
    if (!fwd || a.deleted || a.tcpRelay) return;
    let g = this.#groups.get(a.callId);
    if (!this.#mirrored.has(a)) {
      if (!g) this.#groups.set(a.callId, (g = { group: this.#nextGroup++, count: 0 }));
      g.count++;
      this.#mirrored.add(a);
    }
    fwd.setAllocation({
      relayPort: a.relay.port,
      clientIp: a.client.ip,
      clientPort: a.client.port,
      tcp: a.client.transport === 'tcp',
      // Bench mode relays between any allocations: one group.
      group: this.#bench ? 0 : (g?.group ?? 0),
      expiresAtMs: a.expiresAtMs,
      permissions: a.permissions,
      channels: a.channels,
    });
  }

  /** Folds the forwarding thread's counters into the core's. */
  syncCounters(): void {
    const fwd = this.#fwd;
    if (!fwd || this.#closed) return;
    const c = fwd.counters();
    const last = this.#fwdLast;
    const k = this.core.counters;
    k.packetsRelayed += c.packets - last.packets;
    k.bytesRelayed += c.bytes - last.bytes;
    k.bandwidthDropped += c.bandwidthDropped - last.bandwidthDropped;
    k.malformed += c.malformed - last.malformed;
    const refuse = (reason: string, n: number): void => {
      if (n > 0) k.refusals.set(reason, (k.refusals.get(reason) ?? 0) + n);
    };
    refuse('cross-call', c.crossCall - last.crossCall);
    // Packets for TypeScript beyond the thread's queue bound (a flood outran the event loop).
    refuse('queue-full', c.upcallsDropped - last.upcallsDropped);
    // Send/ChannelData to a port of the relay IP that no allocation holds (peer-policy.ts).
    refuse('peer-self-port', c.selfPort - last.selfPort);
    this.#fwdLast = { ...c };
  }

  async listen(
    port: number,
    tcp: boolean,
    udpSockets: number,
    native: typeof TurnForwarder | undefined,
    bandwidthBytesPerSec: number,
  ): Promise<number> {
    let bound = native
      ? this.#listenNative(native, port, udpSockets, bandwidthBytesPerSec)
      : await this.#listenDgram(port, udpSockets);
    if (tcp) {
      const server = net.createServer((sock) => this.#onTcpConnection(sock));
      server.on('error', (err) =>
        this.#logger.warn({ err: err.message }, 'turn tcp listener error'),
      );
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bound, this.#listenHost, () => {
          server.off('error', reject);
          resolve();
        });
      }).catch((err: unknown) => {
        // Undo the UDP side, so that the caller may try another port.
        this.#fwd?.close();
        this.#fwd = undefined;
        for (const u of this.#udpSockets) u.close();
        this.#udpSockets = [];
        this.#udp = undefined;
        throw err;
      });
      this.#tcp = server;
      bound = (server.address() as net.AddressInfo).port;
    }
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    return bound;
  }

  #listenNative(
    native: typeof TurnForwarder,
    port: number,
    udpSockets: number,
    bandwidthBytesPerSec: number,
  ): number {
    this.#fwd = new native({
      listenIp: this.#listenHost,
      port,
      sockets: udpSockets,
      relayIp: this.#relayIp,
      bandwidthBytesPerSec,
      onPackets: (packets) => this.#onForwarderPackets(packets),
      selfPortsOpen: this.#limits.selfPortsOpen,
    });
    return this.#fwd.port;
  }

  async #listenDgram(port: number, udpSockets: number): Promise<number> {
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      this.#onClientPacket(this.#clientRef(rinfo.address, rinfo.port), msg);
    };
    // Several sockets on one port (SO_REUSEPORT): the kernel spreads clients over them by
    // 4-tuple hash, so a stalled event loop has N receive buffers to fill before anything drops.
    // Any of them can answer: they share the source address.
    let bound = port;
    for (let i = 0; i < udpSockets; i++) {
      const udp = dgram.createSocket({
        type: 'udp4',
        recvBufferSize: 4 << 20,
        sendBufferSize: 4 << 20,
        reusePort: udpSockets > 1,
        lookup: literalLookup,
      });
      udp.on('message', onMessage);
      udp.on('error', (err) => this.#logger.warn({ err: err.message }, 'turn udp listener error'));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(bound, this.#listenHost, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      this.#udpSockets.push(udp);
      bound = udp.address().port;
    }
    this.#udp = this.#udpSockets[0];
    return bound;
  }

  #onTcpConnection(sock: net.Socket): void {
    const ip = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const fromIp = this.#tcpPerIp.get(ip) ?? 0;
    // Caps before anything is allocated for the connection: a flood of connections costs a
    // file descriptor each until the kernel's accept, and nothing after.
    if (this.#tcpConns.size >= this.#limits.maxTcp || fromIp >= this.#limits.maxTcpPerIp) {
      const reason = fromIp >= this.#limits.maxTcpPerIp ? 'tcp-ip-cap' : 'tcp-cap';
      this.core.counters.refusals.set(reason, (this.core.counters.refusals.get(reason) ?? 0) + 1);
      sock.on('error', () => {});
      sock.destroy();
      return;
    }
    this.#tcpPerIp.set(ip, fromIp + 1);
    sock.setNoDelay(true);
    const key = `tcp:${this.#nextConnId++}`;
    const client: ClientRef = {
      transport: 'tcp',
      ip,
      port: sock.remotePort ?? 0,
      key,
    };
    const framer = new StreamFramer();
    const conn: {
      sock: net.Socket;
      framer: StreamFramer;
      raw: boolean;
      ip: string;
      deadline?: NodeJS.Timeout;
    } = { sock, framer, raw: false, ip };
    // A connection must authenticate (an Allocate that succeeds, or a ConnectionBind) in time;
    // STUN Binding alone does not keep it open.
    conn.deadline = setTimeout(() => {
      conn.deadline = undefined;
      if (conn.raw || this.core.allocationOf(key)) return;
      this.core.counters.refusals.set(
        'tcp-auth-deadline',
        (this.core.counters.refusals.get('tcp-auth-deadline') ?? 0) + 1,
      );
      this.#logger.warn(
        { client: `${ip}:${client.port}` },
        'turn tcp: no authenticated request in time, closing',
      );
      sock.destroy();
    }, this.#limits.tcpAuthDeadlineMs);
    conn.deadline.unref();
    this.#tcpConns.set(key, conn);
    sock.on('data', (chunk: Buffer) => {
      const frames = framer.push(chunk);
      if (!frames.ok) {
        this.core.counters.malformed++;
        this.#logger.warn(
          { client: key, err: frames.error.code },
          'turn tcp stream broken, closing',
        );
        sock.destroy();
        return;
      }
      for (const f of frames.value) {
        // After an RFC 6062 ConnectionBind the connection carries raw bytes, not frames.
        if (conn.raw) break;
        this.#onClientPacket(client, f);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      if (conn.deadline) clearTimeout(conn.deadline);
      const n = (this.#tcpPerIp.get(ip) ?? 1) - 1;
      if (n > 0) this.#tcpPerIp.set(ip, n);
      else this.#tcpPerIp.delete(ip);
      this.#tcpConns.delete(key);
      const gone = this.core.clientGone(key);
      if (gone) this.#closeRelay(gone);
    });
  }

  #sendToClient(client: ClientRef, data: Buffer): void {
    if (client.transport === 'udp') {
      if (this.#fwd) this.#fwd.sendToClient(client.ip, client.port, data);
      else this.#udp?.send(data, client.port, client.ip);
    } else {
      const sock = this.#tcpConns.get(client.key)?.sock;
      // A client that does not read gets its media dropped rather than queued without bound.
      if (sock && !sock.destroyed && sock.writableLength < TCP_QUEUE_LIMIT_BYTES) sock.write(data);
    }
  }

  #onClientPacket(client: ClientRef, msg: Buffer): void {
    const now = Date.now();
    const action: ClientAction | undefined = this.core.handleClientPacket(client, msg, now);
    if (!action) return;
    if (action.kind === 'relay') {
      this.#forward(action.allocation, action.peer, action.data, now);
    } else if (action.kind === 'reply') {
      this.#sendToClient(client, action.data);
    } else if (action.kind === 'connect') {
      this.#tcpRelays.connect(action.pending);
    } else if (action.kind === 'bind') {
      const conn = this.#tcpConns.get(client.key);
      if (conn && this.#tcpRelays.bind(action.pending, client, conn.sock, conn.framer)) {
        conn.raw = true;
      }
    } else {
      void this.#allocate(action.pending);
    }
  }

  /** Sends from `from`'s relayed address to `peer`, short-circuiting peers on this server. */
  #forward(from: Allocation, peer: TransportAddress, data: Buffer, now: number): void {
    // With the native thread the kernel hop is kept: the target's packets are then all counted
    // and capped in one place (the thread), whichever way they come.
    if (!this.#fwd && peer.ip === this.#relayIp) {
      const target = this.core.allocationByRelayPort(peer.port);
      if (target) {
        // Both ends relayed here: skip the kernel round trip, same checks as a real datagram.
        const out = this.core.handlePeerData(
          target,
          from.relay.ip,
          from.relay.port,
          data,
          now,
          from,
          from.client.transport === 'udp',
        );
        if (out) this.#sendToClient(target.client, out);
        return;
      }
    }
    this.#relaySockets.get(from.relay.port)?.send(data, peer.port, peer.ip);
  }

  #onPeerPacket(port: number, msg: Buffer, rinfo: { address: string; port: number }): void {
    const allocation = this.core.allocationByRelayPort(port);
    if (!allocation) return;
    const now = Date.now();
    const from =
      rinfo.address === this.#relayIp ? this.core.allocationByRelayPort(rinfo.port) : undefined;
    const out = this.core.handlePeerData(allocation, rinfo.address, rinfo.port, msg, now, from);
    if (out) this.#sendToClient(allocation.client, out);
  }

  async #bindRelay(port: number): Promise<RelaySocket | undefined> {
    const fwd = this.#fwd;
    if (fwd) {
      if (!fwd.openRelay(port)) return undefined;
      return {
        send: (data, peerPort, ip) => void fwd.sendFromRelay(port, ip, peerPort, data),
        close: () => fwd.closeRelay(port),
      };
    }
    const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('error', () => resolve(false));
      sock.bind({ port, address: this.#relayIp, exclusive: true }, () => resolve(true));
    });
    if (!ok) {
      sock.close();
      return undefined;
    }
    sock.removeAllListeners('error');
    sock.on('error', (err) =>
      this.#logger.warn({ port, err: err.message }, 'turn relay socket error'),
    );
    sock.on('message', (msg, rinfo) => this.#onPeerPacket(port, msg, rinfo));
    return sock;
  }

  #portFree(port: number): boolean {
    if (this.#relaySockets.has(port)) return false;
    for (const r of this.#reservations.values()) if (r.port === port) return false;
    return true;
  }

  async #allocate(pending: PendingAllocate): Promise<void> {
    const now = Date.now();
    let socket: RelaySocket | undefined;
    let port = 0;
    let reservationToken: Buffer | undefined;
    if (pending.reservationToken) {
      const hex = pending.reservationToken.toString('hex');
      const r = this.#reservations.get(hex);
      if (r) {
        this.#reservations.delete(hex);
        socket = r.socket;
        port = r.port;
      }
    } else {
      const { min, max } = this.#relayPorts;
      const span = max - min + 1;
      const start = min + Math.floor(Math.random() * span);
      for (let i = 0; i < Math.min(span, 64) && !socket; i++) {
        let p = min + ((start - min + i * 7919) % span);
        if (pending.evenPort && p % 2 === 1) p = p + 1 > max ? p - 1 : p + 1;
        if (p < min || !this.#portFree(p)) continue;
        if (pending.reserveNext && (p + 1 > max || !this.#portFree(p + 1))) continue;
        const s = pending.tcpRelay ? await this.#tcpRelays.listen(p) : await this.#bindRelay(p);
        if (!s) continue;
        if (pending.reserveNext) {
          const next = await this.#bindRelay(p + 1);
          if (!next) {
            s.close();
            continue;
          }
          reservationToken = randomBytes(8);
          // RFC 8656 §14.9: the reserved port is held for about 30 s.
          this.#reservations.set(reservationToken.toString('hex'), {
            socket: next,
            port: p + 1,
            expiresAtMs: now + 30_000,
          });
        }
        socket = s;
        port = p;
      }
    }
    if (this.#closed) {
      socket?.close();
      return;
    }
    const { reply, allocation } = this.core.completeAllocate(
      pending,
      socket ? { address: { ip: this.#relayIp, port }, reservationToken } : undefined,
      Date.now(),
    );
    if (allocation && socket) {
      this.#relaySockets.set(port, socket);
      // completeAllocate mirrored the allocation before its socket was recorded here.
    } else socket?.close();
    this.#sendToClient(pending.client, reply);
  }

  #closeRelay(a: Allocation): void {
    const s = this.#relaySockets.get(a.relay.port);
    if (s) {
      this.#relaySockets.delete(a.relay.port);
      s.close();
    }
  }

  callEnded(callId: string): void {
    for (const a of this.core.callEnded(callId)) this.#closeRelay(a);
  }

  #tick(): void {
    this.syncCounters();
    const now = Date.now();
    for (const a of this.core.tick(now)) this.#closeRelay(a);
    for (const [hex, r] of this.#reservations) {
      if (r.expiresAtMs <= now) {
        this.#reservations.delete(hex);
        r.socket.close();
      }
    }
  }

  async close(): Promise<void> {
    this.syncCounters();
    if (this.#timer) clearInterval(this.#timer);
    for (const a of this.core.allocations()) this.core.clientGone(a.client.key);
    this.#closed = true;
    for (const s of this.#relaySockets.values()) s.close();
    this.#relaySockets.clear();
    for (const r of this.#reservations.values()) r.socket.close();
    this.#reservations.clear();
    this.#tcpRelays.close();
    for (const c of this.#tcpConns.values()) c.sock.destroy();
    this.#fwd?.close();
    await Promise.all(
      this.#udpSockets.map((u) => new Promise<void>((resolve) => u.close(() => resolve()))),
    );
    const tcp = this.#tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}

/**
 * Starts the TURN relay: binds the UDP (and TCP) listener, registers metrics, and returns the
 * {@link MediaRelay} the signalling server uses. With `externalUrls` no socket is bound and
 * `iceServersFor` hands out those URLs with REST credentials made from the same secret.
 */
export async function createTurnRelay(options: TurnRelayOptions): Promise<TurnRelay> {
  const logger = options.logger ?? { info() {}, warn() {} };
  const listenHost = options.listenHost ?? '0.0.0.0';
  const relayAddress =
    options.relayAddress ??
    (listenHost === '0.0.0.0' ? (firstExternalIPv4() ?? '127.0.0.1') : listenHost);
  const publicHost = options.publicHost ?? relayAddress;
  const realm = options.realm ?? 'parloir';
  const ttlSec = options.credentialTtlSec ?? 21_600;
  const relayOnly = options.relayOnly ?? false;
  const secret = options.secret;
  if (!secret) throw new TurnError('TURN_ERR_BAD_OPTION', 'a TURN secret is required');
  const bench = options.bench ?? false;
  if (bench && !(isLoopbackHost(listenHost) && isLoopbackHost(relayAddress))) {
    throw new TurnError(
      'TURN_ERR_BENCH_NOT_LOOPBACK',
      `--turn-bench needs every listener on loopback (listen ${listenHost}, relay ${relayAddress})`,
    );
  }
  if (!bench && !options.calls && !options.externalUrls) {
    throw new TurnError('TURN_ERR_BAD_OPTION', 'a call directory is required outside bench mode');
  }
  const relayPorts = options.relayPorts ?? { min: 49152, max: 65535 };
  if (
    !Number.isInteger(relayPorts.min) ||
    !Number.isInteger(relayPorts.max) ||
    relayPorts.min < 1024 ||
    relayPorts.max > 65535 ||
    relayPorts.min > relayPorts.max
  ) {
    throw new TurnError(
      'TURN_ERR_BAD_OPTION',
      `bad relay port range ${relayPorts.min}-${relayPorts.max}`,
    );
  }

  if (options.externalUrls && options.externalUrls.length > 0) {
    const urls = [...options.externalUrls];
    logger.info({ urls }, 'turn: handing out external TURN servers');
    return {
      port: 0,
      relayAddress: '',
      forwarding: 'none',
      relayOnly,
      iceServersFor(callId, userId, nowMs) {
        const c = issueTurnCredential(secret, callId, userId, nowMs, ttlSec);
        return [{ urls, username: c.username, credential: c.credential }];
      },
      callEnded() {},
      stats: () => ({
        allocations: 0,
        packetsRelayed: 0,
        bytesRelayed: 0,
        refusals: {},
        malformed: 0,
        bandwidthDropped: 0,
      }),
      close: () => Promise.resolve(),
    };
  }

  let native: typeof TurnForwarder | undefined;
  if ((options.nativeForwarding ?? true) && isIPv4(listenHost) && isIPv4(relayAddress)) {
    try {
      const mod = await import('@parloir/native');
      if (mod.TurnForwarder.available) native = mod.TurnForwarder;
    } catch (err) {
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'turn: the native addon did not load, forwarding with dgram',
      );
    }
  }
  const hook: { adapter?: RelayAdapter } = {};
  const core = new TurnCore({
    secret,
    realm,
    calls: options.calls,
    bench,
    allowLoopbackPeers: options.allowLoopbackPeers ?? false,
    privatePeers: options.privatePeers ?? 'allow',
    selfAddresses: [
      ...ownIPv4Addresses(),
      relayAddress,
      ...(listenHost === '0.0.0.0' ? [] : [listenHost]),
    ],
    maxAllocationsPerUser: options.maxAllocationsPerUser,
    maxAllocationsPerCall: options.maxAllocationsPerCall,
    maxAllocations: options.maxAllocations,
    bandwidthBytesPerSec: options.bandwidthBytesPerSec,
    requestsPerSecPerIp: options.requestsPerSecPerIp,
    logger,
    onAllocationChange: (a, deleted) => hook.adapter?.onAllocationChange(a, deleted),
  });
  const adapter = new RelayAdapter(
    core,
    listenHost,
    relayAddress,
    relayPorts,
    logger,
    bench,
    options.bandwidthBytesPerSec ?? 125_000,
    {
      selfPortsOpen:
        ((options.allowLoopbackPeers ?? false) || bench) && isLoopbackHost(relayAddress),
      // Bench mode runs every client on 127.0.0.1: one IP, so only the global cap applies.
      maxTcpPerIp: options.maxTcpConnectionsPerIp ?? (bench ? Infinity : 128),
      maxTcp: options.maxTcpConnections ?? 4096,
      tcpAuthDeadlineMs: options.tcpAuthDeadlineMs ?? 10_000,
    },
  );
  hook.adapter = adapter;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      port = await adapter.listen(
        options.port ?? 3478,
        options.tcp ?? true,
        // An ephemeral port gets one socket: Linux may give a SO_REUSEPORT bind to port 0 a port
        // that another reuse-port socket of this user already holds.
        options.port === 0 ? 1 : (options.udpSockets ?? 2),
        native,
        options.bandwidthBytesPerSec ?? 125_000,
      );
      break;
    } catch (err) {
      // An ephemeral UDP port whose number is taken on the TCP side: draw another one.
      const inUse = (err as { code?: string }).code === 'EADDRINUSE';
      if (options.port !== 0 || !inUse || attempt >= 5) throw err;
    }
  }
  if (bench) {
    logger.warn(
      { port },
      'TURN BENCH MODE: any credential made with the secret is accepted without a call, loopback peers allowed. Never use in production.',
    );
  }
  logger.info(
    {
      listen: `${listenHost}:${port}`,
      relay: relayAddress,
      relayPorts,
      tcp: options.tcp ?? true,
      forwarding: adapter.forwarding,
    },
    'turn relay listening',
  );
  const unregister = options.registry
    ? registerTurnMetrics(options.registry, core, () => adapter.syncCounters())
    : () => {};
  const stats = (): TurnRelayStats => {
    adapter.syncCounters();
    return {
      allocations: core.allocationCount,
      packetsRelayed: core.counters.packetsRelayed,
      bytesRelayed: core.counters.bytesRelayed,
      refusals: Object.fromEntries(core.counters.refusals),
      malformed: core.counters.malformed,
      bandwidthDropped: core.counters.bandwidthDropped,
    };
  };
  return {
    port,
    relayAddress,
    forwarding: adapter.forwarding,
    relayOnly,
    iceServersFor(callId: string, userId: string, nowMs: number): IceServerInfo[] {
      const c = issueTurnCredential(secret, callId, userId, nowMs, ttlSec);
      const hostPort = `${publicHost}:${port}`;
      return [
        { urls: [`stun:${hostPort}`] },
        {
          urls: [`turn:${hostPort}?transport=udp`, `turn:${hostPort}?transport=tcp`],
          username: c.username,
          credential: c.credential,
        },
      ];
    },
    callEnded: (callId: string) => adapter.callEnded(callId),
    stats,
    async close() {
      unregister();
      await adapter.close();
    },
  };
}
