/**
 * Test kit of the relay's integration tests: TURN clients over real loopback UDP and TCP sockets,
 * credentials as signalling issues them, and a relay starter per forwarding path.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { TurnLogger } from './allocation.ts';
import { TurnTestClient, type TurnResponse } from './client.ts';
import { issueTurnCredential, turnPassword } from './credentials.ts';
import { createTurnRelay, type TurnRelay, type TurnRelayOptions } from './relay.ts';

export const SECRET = 'integration-secret';

/** A TURN client over a real UDP socket. */
export class UdpTurn {
  readonly sock = dgram.createSocket('udp4');
  readonly tc: TurnTestClient;
  #inbox: Buffer[] = [];
  #waiters: ((b: Buffer) => void)[] = [];
  #server: number;

  constructor(server: number, tc: TurnTestClient) {
    this.tc = tc;
    this.#server = server;
    this.sock.on('message', (m) => {
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#inbox.push(m);
    });
  }

  async open(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', r));
  }

  send(buf: Buffer): void {
    this.sock.send(buf, this.#server, '127.0.0.1');
  }

  /** Next datagram, or undefined after `ms`. */
  next(ms = 1000): Promise<Buffer | undefined> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, ms);
      const waiter = (b: Buffer) => {
        clearTimeout(timer);
        resolve(b);
      };
      this.#waiters.push(waiter);
    });
  }

  async call(req: Buffer): Promise<TurnResponse> {
    this.send(req);
    const res = await this.next();
    assert.ok(res, 'no response from the relay');
    const parsed = this.tc.read(res);
    assert.ok(parsed);
    return parsed;
  }

  async allocate(): Promise<TurnResponse> {
    const first = await this.call(this.tc.allocate());
    assert.equal(first.errorCode, 401);
    return this.call(this.tc.allocate());
  }

  close(): void {
    this.sock.close();
  }
}

/** A TCP connection to the relay: framed STUN until `raw()`, then raw bytes (RFC 6062 data). */
export class TcpConn {
  readonly sock: net.Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed = false;

  constructor(port: number, host = '127.0.0.1', localAddress?: string) {
    this.sock = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    this.sock.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      this.#wake?.();
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  async opened(): Promise<void> {
    await new Promise<void>((r) => this.sock.once('connect', r));
  }

  async #until(ok: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!ok() && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 20);
      });
    }
    return ok();
  }

  /** The next STUN message on the stream, or undefined after `ms`. */
  async frame(ms = 1000): Promise<Buffer | undefined> {
    const whole = () =>
      this.#buf.length >= 20 && this.#buf.length >= 20 + this.#buf.readUInt16BE(2);
    if (!(await this.#until(whole, ms))) return undefined;
    const len = 20 + this.#buf.readUInt16BE(2);
    const out = this.#buf.subarray(0, len);
    this.#buf = this.#buf.subarray(len);
    return out;
  }

  async call(tc: TurnTestClient, req: Buffer): Promise<TurnResponse> {
    this.sock.write(req);
    const res = await this.frame();
    assert.ok(res, 'no response from the relay');
    return tc.read(res)!;
  }

  /** Raw bytes received so far (after the ConnectionBind response), waiting for `n` of them. */
  async raw(n: number, ms = 1000): Promise<string> {
    await this.#until(() => this.#buf.length >= n, ms);
    return this.#buf.toString();
  }

  /** Resolves true once the connection is closed, false after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return this.#until(() => this.closed, ms);
  }
}

/** Credentials for one party of a call, as signalling issues them. */
export function callCreds(callId: string, userId: string): TurnTestClient {
  const c = issueTurnCredential(SECRET, callId, userId, Date.now(), 600);
  return new TurnTestClient({ username: c.username, password: c.credential });
}

/** A bench-mode credential (`expiry:anything`). */
export function benchCreds(): TurnTestClient {
  const username = `${Math.floor(Date.now() / 1000) + 600}:bench`;
  return new TurnTestClient({ username, password: turnPassword(SECRET, username) });
}

export function quietLogger(lines: string[]): TurnLogger {
  return { info() {}, warn: (_o, m) => lines.push(m) };
}

/**
 * Starts a relay on 127.0.0.1 (an ephemeral port) for the tests of one forwarding path, with
 * relay ports from `portBase` to `portBase + 999` (one range per test file: files run at once).
 */
export function relayStarter(nativeForwarding: boolean, portBase: number) {
  return (
    calls: Map<string, readonly [string, string]>,
    lines: string[],
    registry?: Registry,
    extra: Partial<TurnRelayOptions> = {},
  ): Promise<TurnRelay> =>
    createTurnRelay({
      ...extra,
      nativeForwarding,
      listenHost: '127.0.0.1',
      port: 0,
      relayAddress: '127.0.0.1',
      relayPorts: { min: portBase, max: portBase + 999 },
      secret: SECRET,
      calls: { partiesOf: (id) => calls.get(id) },
      logger: quietLogger(lines),
      registry,
    });
}
