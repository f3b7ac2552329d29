/**
 * What the native send and receive paths need from a `node:dgram` socket that werift owns: its
 * file descriptor, whether libuv reads it, and addresses as bytes. Read through the socket's
 * internal state rather than the deprecated `_handle` getter, which would print a deprecation
 * warning; any surprise gives undefined/false and the callers keep werift's own paths.
 * @module
 */
import type { Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

/** The 4 or 16 bytes of an IPv4 or IPv6 literal, or undefined if it is neither. */
export function ipAddressBytes(address: string): Uint8Array | undefined {
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (isIPv6(address)) {
    const [head = '', tail = ''] = address.split('::');
    const part = (s: string): number[] =>
      s === '' ? [] : s.split(':').map((h) => parseInt(h, 16));
    const hi = part(head);
    const lo = address.includes('::') ? part(tail) : [];
    const words = [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
    const out = new Uint8Array(16);
    words.forEach((w, i) => {
      out[2 * i] = w >> 8;
      out[2 * i + 1] = w & 0xff;
    });
    return out;
  }
  return undefined;
}

/** libuv's UDP handle of a socket (Node's `UDPWrap`), or undefined. */
function udpHandle(socket: Socket): Record<string, unknown> | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (sym === undefined) return undefined;
  const state: unknown = (socket as unknown as Record<symbol, unknown>)[sym];
  const handle: unknown =
    typeof state === 'object' && state !== null
      ? (state as { handle?: unknown }).handle
      : undefined;
  return typeof handle === 'object' && handle !== null
    ? (handle as Record<string, unknown>)
    : undefined;
}

/**
 * The file descriptor of a bound `node:dgram` socket, or undefined if it has none (closed, not
 * bound) or Node's internals changed.
 */
export function udpSocketFd(socket: Socket): number | undefined {
  const fd = udpHandle(socket)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/**
 * Stops (`false`) or restarts (`true`) libuv's reading of a bound socket, so that another reader
 * (a native thread on a dup() of its descriptor) gets every datagram; sending is unaffected.
 * Returns false if it could not (Node's internals changed, socket closed).
 */
export function setUdpReading(socket: Socket, on: boolean): boolean {
  const h = udpHandle(socket);
  const f = h?.[on ? 'recvStart' : 'recvStop'];
  if (typeof f !== 'function') return false;
  const rc: unknown = (f as () => unknown).call(h);
  return rc === 0 || rc === undefined;
}
