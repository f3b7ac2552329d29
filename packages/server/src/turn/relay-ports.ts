/**
 * The relay port range: which ports hold an allocation's relay socket, the EVEN-PORT choice and
 * the RESERVATION-TOKEN reservations of the next port (RFC 8656 §14.6, §14.9). The sockets are
 * bound by a function the adapter gives (UDP on the native thread or `dgram`, or an RFC 6062 TCP
 * listener).
 */
import { randomBytes } from 'node:crypto';
import type { PendingAllocate } from './turn-core-types.ts';
import type { RelaySocket } from './udp-sockets.ts';

/** RFC 8656 §14.9: a reserved port is held for about 30 s, ms. */
const RESERVATION_MS = 30_000;
/** Ports tried per Allocate before 508. */
const ATTEMPTS = 64;

interface Reservation {
  socket: RelaySocket;
  port: number;
  expiresAtMs: number;
}

/** A relay socket bound for an Allocate. */
export interface AcquiredPort {
  /** The relay socket. */
  socket: RelaySocket;
  /** Its port. */
  port: number;
  /** The token of the next port, reserved for a later Allocate (EVEN-PORT with R). */
  reservationToken: Buffer | undefined;
}

/** The relay ports in use and reserved. */
export class RelayPorts {
  #min: number;
  #max: number;
  #sockets = new Map<number, RelaySocket>();
  #reservations = new Map<string, Reservation>();

  /** @param range inclusive port range. */
  constructor(range: { min: number; max: number }) {
    this.#min = range.min;
    this.#max = range.max;
  }

  #free(port: number): boolean {
    if (this.#sockets.has(port)) return false;
    for (const r of this.#reservations.values()) if (r.port === port) return false;
    return true;
  }

  /**
   * Binds a relay socket for `pending` with `bind` (UDP relay) or `bindTcp` (RFC 6062 listener):
   * the reserved port of its RESERVATION-TOKEN, or a free port of the range (even with EVEN-PORT,
   * and the next one reserved with its R bit), probing from a random start. Undefined: no port.
   */
  async acquire(
    pending: PendingAllocate,
    nowMs: number,
    bind: (port: number) => Promise<RelaySocket | undefined>,
    bindTcp: (port: number) => Promise<RelaySocket | undefined>,
  ): Promise<AcquiredPort | undefined> {
    if (pending.reservationToken) {
      const hex = pending.reservationToken.toString('hex');
      const r = this.#reservations.get(hex);
      if (!r) return undefined;
      this.#reservations.delete(hex);
      return { socket: r.socket, port: r.port, reservationToken: undefined };
    }
    const min = this.#min;
    const max = this.#max;
    const span = max - min + 1;
    const start = min + Math.floor(Math.random() * span);
    for (let i = 0; i < Math.min(span, ATTEMPTS); i++) {
      let p = min + ((start - min + i * 7919) % span);
      if (pending.evenPort && p % 2 === 1) p = p + 1 > max ? p - 1 : p + 1;
      if (p < min || !this.#free(p)) continue;
      if (pending.reserveNext && (p + 1 > max || !this.#free(p + 1))) continue;
      const s = pending.tcpRelay ? await bindTcp(p) : await bind(p);
      if (!s) continue;
      if (!pending.reserveNext) return { socket: s, port: p, reservationToken: undefined };
      const next = await bind(p + 1);
      if (!next) {
        s.close();
        continue;
      }
      const token = randomBytes(8);
      this.#reservations.set(token.toString('hex'), {
        socket: next,
        port: p + 1,
        expiresAtMs: nowMs + RESERVATION_MS,
      });
      return { socket: s, port: p, reservationToken: token };
    }
    return undefined;
  }

  /** Records `socket` as the relay socket of a live allocation on `port`. */
  keep(port: number, socket: RelaySocket): void {
    this.#sockets.set(port, socket);
  }

  /** The relay socket of the allocation on `port`, if any. */
  get(port: number): RelaySocket | undefined {
    return this.#sockets.get(port);
  }

  /** Closes and forgets the relay socket on `port` (its allocation is gone); idempotent. */
  release(port: number): void {
    const s = this.#sockets.get(port);
    if (!s) return;
    this.#sockets.delete(port);
    s.close();
  }

  /** Closes reservations that were not claimed in time. */
  expire(nowMs: number): void {
    for (const [hex, r] of this.#reservations) {
      if (r.expiresAtMs <= nowMs) {
        this.#reservations.delete(hex);
        r.socket.close();
      }
    }
  }

  /** Closes every relay socket and reservation. */
  closeAll(): void {
    for (const s of this.#sockets.values()) s.close();
    this.#sockets.clear();
    for (const r of this.#reservations.values()) r.socket.close();
    this.#reservations.clear();
  }
}
