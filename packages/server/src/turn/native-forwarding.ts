/**
 * The glue to the native forwarding thread (`TurnForwarder` of `@parloir/native`, `relay.c`): it
 * owns the UDP listener and every UDP relay socket, and forwards by tables mirrored from the core.
 * This file mirrors each allocation into them (call groups, permissions, channels, expiry), folds
 * the thread's counters into the core's, and gives relay sockets on the thread. Policy stays in
 * TypeScript; see docs/turn.md, "The UDP fast path".
 */
import type { ForwarderPacket, TurnForwarder } from '@parloir/native';
import type { Allocation } from './allocation.ts';
import type { TurnCounters } from './turn-core-types.ts';
import type { RelaySocket } from './udp-sockets.ts';

/** Options of {@link NativeForwarding.open}. */
export interface NativeForwardingOptions {
  /** Listening IPv4 address. */
  listenIp: string;
  /** Listening port (0: ephemeral). */
  port: number;
  /** UDP listening sockets sharing the port. */
  sockets: number;
  /** IPv4 address relay sockets bind. */
  relayIp: string;
  /** Per-allocation bandwidth cap, bytes/s. */
  bandwidthBytesPerSec: number;
  /** Clients may send to any port of a loopback relay address (allowLoopbackPeers, bench). */
  selfPortsOpen: boolean;
  /** Bench mode: every allocation in one call group. */
  bench: boolean;
  /** What the thread hands up: STUN requests, strangers, TCP clients' peer data. */
  onPackets: (packets: ForwarderPacket[]) => void;
}

/** The forwarding thread and its mirror of the core's allocations. */
export class NativeForwarding {
  #fwd: TurnForwarder;
  #bench: boolean;
  #closed = false;
  #last = {
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

  private constructor(fwd: TurnForwarder, bench: boolean) {
    this.#fwd = fwd;
    this.#bench = bench;
  }

  /** Starts the thread on its listening sockets. Throws the addon's typed error on failure. */
  static open(native: typeof TurnForwarder, o: NativeForwardingOptions): NativeForwarding {
    const fwd = new native({
      listenIp: o.listenIp,
      port: o.port,
      sockets: o.sockets,
      relayIp: o.relayIp,
      bandwidthBytesPerSec: o.bandwidthBytesPerSec,
      onPackets: o.onPackets,
      selfPortsOpen: o.selfPortsOpen,
    });
    return new NativeForwarding(fwd, o.bench);
  }

  /** The bound listening port. */
  get port(): number {
    return this.#fwd.port;
  }

  /** Sends `data` to a UDP client from the listening address. */
  sendToClient(ip: string, port: number, data: Buffer): void {
    this.#fwd.sendToClient(ip, port, data);
  }

  /** Opens a relay socket on `port` in the thread, or undefined when the port is taken. */
  openRelay(port: number): RelaySocket | undefined {
    const fwd = this.#fwd;
    if (!fwd.openRelay(port)) return undefined;
    return {
      send: (data, peerPort, ip) => void fwd.sendFromRelay(port, ip, peerPort, data),
      close: () => fwd.closeRelay(port),
    };
  }

  /**
   * Mirrors one allocation into the thread's tables (the core's `onAllocationChange`). On
   * deletion, the thread's entry is removed under its lock before this returns, so it forwards
   * nothing more, and its packet count is added to `a.packets`.
   */
  mirror(a: Allocation, deleted: boolean): void {
    if (deleted) {
      if (!this.#mirrored.delete(a)) return;
      a.packets += this.#fwd.deleteAllocation(a.relay.port);
      const g = this.#groups.get(a.callId);
      if (g && --g.count === 0) this.#groups.delete(a.callId);
      return;
    }
    // RFC 6062 TCP allocations carry no datagrams: nothing for the forwarding thread.
    if (a.deleted || a.tcpRelay) return;
    let g = this.#groups.get(a.callId);
    if (!this.#mirrored.has(a)) {
      if (!g) this.#groups.set(a.callId, (g = { group: this.#nextGroup++, count: 0 }));
      g.count++;
      this.#mirrored.add(a);
    }
    this.#fwd.setAllocation({
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

  /** Folds the thread's counters into the core's `k` (once a second, at scrapes, on stats). */
  syncCounters(k: TurnCounters): void {
    if (this.#closed) return;
    const c = this.#fwd.counters();
    const last = this.#last;
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
    this.#last = { ...c };
  }

  /** Stops the thread and closes its sockets. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fwd.close();
  }
}
