/**
 * The relay's TCP listener (RFC 8656 §3.1: STUN and padded ChannelData framed on the stream): the
 * per-IP and global connection caps, the deadline to the first authenticated request, the stream
 * framer, and sending to TCP clients with a bounded queue. What the frames mean is the core's.
 */
import net from 'node:net';
import type { ClientRef, TurnLogger } from './allocation.ts';
import { StreamFramer } from './stun.ts';
import type { TurnCounters } from './turn-core-types.ts';

/** Bytes queued toward one TCP client beyond which relayed packets are dropped. */
const TCP_QUEUE_LIMIT_BYTES = 256 * 1024;

/** The TCP listener's limits. */
export interface TcpLimits {
  /** Max TCP connections from one IP. */
  maxTcpPerIp: number;
  /** Max TCP connections in total. */
  maxTcp: number;
  /** Time a TCP connection gets to make its first authenticated request, ms. */
  tcpAuthDeadlineMs: number;
}

/** One TCP client connection. */
export interface TcpConnection {
  /** The socket. */
  sock: net.Socket;
  /** Its STUN/ChannelData framer (holds bytes read past the last frame). */
  framer: StreamFramer;
  /** After an RFC 6062 ConnectionBind the connection carries raw bytes, not frames. */
  raw: boolean;
  /** Client IP. */
  ip: string;
  /** The authentication deadline's timer, until it fires or the connection closes. */
  deadline?: NodeJS.Timeout;
}

/** Options of {@link TcpClients}. */
export interface TcpClientsOptions {
  /** Caps and deadline. */
  limits: TcpLimits;
  /** Logger. */
  logger: TurnLogger;
  /** The core's counters (refusals by reason, malformed streams). */
  counters: TurnCounters;
  /** Whether the client `key` made an authenticated request (it holds an allocation). */
  authenticated(key: string): boolean;
  /** One frame from a client. */
  onFrame(client: ClientRef, frame: Buffer): void;
  /** A client's connection closed. */
  onClose(key: string): void;
}

/** The TCP listener and its client connections. */
export class TcpClients {
  #opts: TcpClientsOptions;
  #server: net.Server | undefined;
  #conns = new Map<string, TcpConnection>();
  /** Open TCP connections per client IP (the per-IP cap). */
  #perIp = new Map<string, number>();
  #nextId = 1;

  constructor(options: TcpClientsOptions) {
    this.#opts = options;
  }

  /** Listens on `host:port`; resolves to the bound port, or rejects with the listen error. */
  async listen(host: string, port: number): Promise<number> {
    const server = net.createServer((sock) => this.#onConnection(sock));
    server.on('error', (err) =>
      this.#opts.logger.warn({ err: err.message }, 'turn tcp listener error'),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return (server.address() as net.AddressInfo).port;
  }

  /** The connection of client `key`, if open. */
  connection(key: string): TcpConnection | undefined {
    return this.#conns.get(key);
  }

  /** Sends to a TCP client; a client that does not read gets its media dropped, not queued. */
  send(client: ClientRef, data: Buffer): void {
    const sock = this.#conns.get(client.key)?.sock;
    if (sock && !sock.destroyed && sock.writableLength < TCP_QUEUE_LIMIT_BYTES) sock.write(data);
  }

  #refuse(reason: string): void {
    const r = this.#opts.counters.refusals;
    r.set(reason, (r.get(reason) ?? 0) + 1);
  }

  #onConnection(sock: net.Socket): void {
    const { limits, logger } = this.#opts;
    const ip = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const fromIp = this.#perIp.get(ip) ?? 0;
    // Caps before anything is allocated for the connection: a flood of connections costs a
    // file descriptor each until the kernel's accept, and nothing after.
    if (this.#conns.size >= limits.maxTcp || fromIp >= limits.maxTcpPerIp) {
      this.#refuse(fromIp >= limits.maxTcpPerIp ? 'tcp-ip-cap' : 'tcp-cap');
      sock.on('error', () => {});
      sock.destroy();
      return;
    }
    this.#perIp.set(ip, fromIp + 1);
    sock.setNoDelay(true);
    const key = `tcp:${this.#nextId++}`;
    const client: ClientRef = { transport: 'tcp', ip, port: sock.remotePort ?? 0, key };
    const framer = new StreamFramer();
    const conn: TcpConnection = { sock, framer, raw: false, ip };
    // A connection must authenticate (an Allocate that succeeds, or a ConnectionBind) in time;
    // STUN Binding alone does not keep it open.
    conn.deadline = setTimeout(() => {
      conn.deadline = undefined;
      if (conn.raw || this.#opts.authenticated(key)) return;
      this.#refuse('tcp-auth-deadline');
      logger.warn(
        { client: `${ip}:${client.port}` },
        'turn tcp: no authenticated request in time, closing',
      );
      sock.destroy();
    }, limits.tcpAuthDeadlineMs);
    conn.deadline.unref();
    this.#conns.set(key, conn);
    sock.on('data', (chunk: Buffer) => {
      const frames = framer.push(chunk);
      if (!frames.ok) {
        this.#opts.counters.malformed++;
        logger.warn({ client: key, err: frames.error.code }, 'turn tcp stream broken, closing');
        sock.destroy();
        return;
      }
      for (const f of frames.value) {
        if (conn.raw) break;
        this.#opts.onFrame(client, f);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      if (conn.deadline) clearTimeout(conn.deadline);
      const n = (this.#perIp.get(ip) ?? 1) - 1;
      if (n > 0) this.#perIp.set(ip, n);
      else this.#perIp.delete(ip);
      this.#conns.delete(key);
      this.#opts.onClose(key);
    });
  }

  /** Destroys every connection and closes the listener. */
  async close(): Promise<void> {
    for (const c of this.#conns.values()) c.sock.destroy();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
