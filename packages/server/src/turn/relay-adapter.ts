/**
 * The IO shell around {@link TurnCore}: it feeds the core's `handleInput` with what the sockets
 * and the 1 s timer bring, and carries out what `pollOutput` asks. The sockets live in their own
 * files: UDP on the native forwarding thread (`native-forwarding.ts`) or `dgram`
 * (`udp-sockets.ts`), TCP clients (`tcp-listener.ts`), relay ports (`relay-ports.ts`) and RFC 6062
 * connections (`tcp-relay.ts`).
 */
import type dgram from 'node:dgram';
import type { ForwarderPacket, TurnForwarder } from '@parloir/native';
import type { Allocation, ClientRef, TurnLogger } from './allocation.ts';
import { NativeForwarding } from './native-forwarding.ts';
import { RelayPorts } from './relay-ports.ts';
import type { TransportAddress } from './stun.ts';
import { TcpClients, type TcpLimits } from './tcp-listener.ts';
import { TcpRelays } from './tcp-relay.ts';
import type { TurnCore } from './turn-core.ts';
import type { PendingAllocate, TurnInput, TurnOutput } from './turn-core-types.ts';
import { bindUdpRelay, listenUdp, type RelaySocket } from './udp-sockets.ts';

/** The adapter's addresses, limits and policy switches (see `TurnRelayOptions`). */
export interface RelayAdapterOptions {
  /** IP the listeners bind. */
  listenHost: string;
  /** IPv4 address relay sockets bind and advertise. */
  relayIp: string;
  /** Relay port range, inclusive. */
  relayPorts: { min: number; max: number };
  /** Logger. */
  logger: TurnLogger;
  /** Bench mode (one call group in the forwarding thread). */
  bench: boolean;
  /** Per-allocation bandwidth cap, bytes/s. */
  bandwidthBytesPerSec: number;
  /** Clients may send to any port of a loopback relay address (allowLoopbackPeers, bench). */
  selfPortsOpen: boolean;
  /** TCP caps and the authentication deadline. */
  tcp: TcpLimits;
}

/** The adapter: owns every socket, forwards to and from {@link TurnCore}. */
export class RelayAdapter {
  readonly core: TurnCore;
  #o: RelayAdapterOptions;
  #udpSockets: dgram.Socket[] = [];
  #tcp: TcpClients;
  #tcpRelays: TcpRelays;
  #ports: RelayPorts;
  #clients = new Map<string, ClientRef>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #native: NativeForwarding | undefined;

  constructor(core: TurnCore, options: RelayAdapterOptions) {
    this.core = core;
    this.#o = options;
    this.#ports = new RelayPorts(options.relayPorts);
    this.#tcpRelays = new TcpRelays(
      core,
      options.relayIp,
      options.logger,
      (client, data) => this.#sendToClient(client, data),
      options.bandwidthBytesPerSec,
    );
    this.#tcp = new TcpClients({
      limits: options.tcp,
      logger: options.logger,
      counters: core.counters,
      authenticated: (key) => core.allocationOf(key) !== undefined,
      onFrame: (client, frame) => this.#drive({ kind: 'client', client, data: frame }),
      onClose: (key) => this.#drive({ kind: 'client-gone', clientKey: key }),
    });
  }

  get relayIp(): string {
    return this.#o.relayIp;
  }

  get forwarding(): 'native' | 'dgram' {
    return this.#native ? 'native' : 'dgram';
  }

  /** One input to the core, then every output it asks for, in order. */
  #drive(input: TurnInput, now = Date.now()): void {
    this.core.handleInput(input, now);
    for (let out = this.core.pollOutput(); out; out = this.core.pollOutput()) this.#apply(out, now);
  }

  #apply(out: TurnOutput, now: number): void {
    switch (out.kind) {
      case 'send':
        this.#sendToClient(out.client, out.data);
        break;
      case 'relay':
        this.#forward(out.allocation, out.peer, out.data, now);
        break;
      case 'allocate':
        void this.#allocate(out.pending);
        break;
      case 'connect':
        this.#tcpRelays.connect(out.pending);
        break;
      case 'bind': {
        const conn = this.#tcp.connection(out.client.key);
        if (conn && this.#tcpRelays.bind(out.pending, out.client, conn.sock, conn.framer)) {
          conn.raw = true;
        }
        break;
      }
      case 'deleted':
        this.#ports.release(out.allocation.relay.port);
        break;
      case 'allocated':
        // Only a `relay-bound` input gives it; #allocate keeps the socket.
        break;
    }
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
      if (p.kind === 'client') {
        this.#drive({ kind: 'client', client: this.#clientRef(p.ip, p.port), data: p.data });
      } else this.#onPeerPacket(p.relayPort, p.data, { address: p.ip, port: p.port });
    }
  }

  /** The core's `onAllocationChange`: mirror into the forwarding thread, close deleted sockets. */
  onAllocationChange(a: Allocation, deleted: boolean): void {
    this.#native?.mirror(a, deleted);
    if (deleted) this.#ports.release(a.relay.port);
  }

  /** Folds the forwarding thread's counters into the core's. */
  syncCounters(): void {
    if (!this.#closed) this.#native?.syncCounters(this.core.counters);
  }

  async listen(
    port: number,
    tcp: boolean,
    udpSockets: number,
    native: typeof TurnForwarder | undefined,
  ): Promise<number> {
    const { listenHost, logger } = this.#o;
    let bound: number;
    if (native) {
      this.#native = NativeForwarding.open(native, {
        listenIp: listenHost,
        port,
        sockets: udpSockets,
        relayIp: this.#o.relayIp,
        bandwidthBytesPerSec: this.#o.bandwidthBytesPerSec,
        selfPortsOpen: this.#o.selfPortsOpen,
        bench: this.#o.bench,
        onPackets: (packets) => this.#onForwarderPackets(packets),
      });
      bound = this.#native.port;
    } else {
      this.#udpSockets = await listenUdp(listenHost, port, udpSockets, logger, (msg, rinfo) =>
        this.#drive({
          kind: 'client',
          client: this.#clientRef(rinfo.address, rinfo.port),
          data: msg,
        }),
      );
      bound = this.#udpSockets[0]?.address().port ?? port;
    }
    if (tcp) {
      bound = await this.#tcp.listen(listenHost, bound).catch((err: unknown) => {
        // Undo the UDP side, so that the caller may try another port.
        this.#native?.close();
        this.#native = undefined;
        for (const u of this.#udpSockets) u.close();
        this.#udpSockets = [];
        throw err;
      });
    }
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    return bound;
  }

  #sendToClient(client: ClientRef, data: Buffer): void {
    if (client.transport === 'tcp') this.#tcp.send(client, data);
    else if (this.#native) this.#native.sendToClient(client.ip, client.port, data);
    else this.#udpSockets[0]?.send(data, client.port, client.ip);
  }

  /** Sends from `from`'s relayed address to `peer`, short-circuiting peers on this server. */
  #forward(from: Allocation, peer: TransportAddress, data: Buffer, now: number): void {
    // With the native thread the kernel hop is kept: the target's packets are then all counted
    // and capped in one place (the thread), whichever way they come.
    if (!this.#native && peer.ip === this.#o.relayIp) {
      const target = this.core.allocationByRelayPort(peer.port);
      if (target) {
        // Both ends relayed here: skip the kernel round trip, same checks as a real datagram.
        const headroom = from.client.transport === 'udp';
        const input: TurnInput = {
          kind: 'peer',
          allocation: target,
          peer: from.relay,
          data,
          from,
          headroom,
        };
        this.#drive(input, now);
        return;
      }
    }
    this.#ports.get(from.relay.port)?.send(data, peer.port, peer.ip);
  }

  #onPeerPacket(port: number, msg: Buffer, rinfo: { address: string; port: number }): void {
    const allocation = this.core.allocationByRelayPort(port);
    if (!allocation) return;
    const from =
      rinfo.address === this.#o.relayIp ? this.core.allocationByRelayPort(rinfo.port) : undefined;
    const peer = { ip: rinfo.address, port: rinfo.port };
    this.#drive({ kind: 'peer', allocation, peer, data: msg, from });
  }

  #bindRelay(port: number): Promise<RelaySocket | undefined> {
    if (this.#native) return Promise.resolve(this.#native.openRelay(port));
    return bindUdpRelay(this.#o.relayIp, port, this.#o.logger, (msg, rinfo) =>
      this.#onPeerPacket(port, msg, rinfo),
    );
  }

  async #allocate(pending: PendingAllocate): Promise<void> {
    const got = await this.#ports.acquire(
      pending,
      Date.now(),
      (p) => this.#bindRelay(p),
      (p) => this.#tcpRelays.listen(p),
    );
    if (this.#closed) {
      got?.socket.close();
      return;
    }
    const relay = got
      ? { address: { ip: this.#o.relayIp, port: got.port }, reservationToken: got.reservationToken }
      : undefined;
    this.core.handleInput({ kind: 'relay-bound', pending, relay }, Date.now());
    let kept = false;
    for (let out = this.core.pollOutput(); out; out = this.core.pollOutput()) {
      if (out.kind === 'allocated' && got) {
        // The core mirrored the allocation before its socket was recorded here.
        this.#ports.keep(got.port, got.socket);
        kept = true;
      } else this.#apply(out, Date.now());
    }
    if (!kept) got?.socket.close();
  }

  callEnded(callId: string): void {
    this.#drive({ kind: 'call-ended', callId });
  }

  #tick(): void {
    this.syncCounters();
    const now = Date.now();
    this.#drive({ kind: 'tick' }, now);
    this.#ports.expire(now);
  }

  async close(): Promise<void> {
    this.syncCounters();
    if (this.#timer) clearInterval(this.#timer);
    for (const a of this.core.allocations()) this.core.clientGone(a.client.key);
    this.#closed = true;
    this.#ports.closeAll();
    this.#tcpRelays.close();
    const tcp = this.#tcp.close();
    this.#native?.close();
    await Promise.all(
      this.#udpSockets.map((u) => new Promise<void>((resolve) => u.close(() => resolve()))),
    );
    await tcp;
  }
}
