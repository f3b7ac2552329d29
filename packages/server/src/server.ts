/**
 * The socket adapter around {@link SignalingCore}: one HTTP(S) port carrying the WebSocket at
 * `/ws`, `/healthz`, `/metrics` and the web UI's static files. It owns the sockets, the timers
 * and the database handle; every protocol decision is the core's.
 */
import { X509Certificate } from 'node:crypto';
import { CORE_CRYPTO } from './core-crypto.ts';
import { existsSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { homedir, hostname, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, serverOriginName, serverTlsName } from '@parloir/protocol';
import { SignalingCore, type CoreOutput, type HostModeOptions } from './core/signaling-core.ts';
import { ipMessageBucket, type CoreLimitsConfig } from './core/limits.ts';
import type { BucketConfig } from './core/token-bucket.ts';
import { ServerError } from './errors.ts';
import { securePrivateDatabase, securePrivateDir } from './file-modes.ts';
import { applySecurityHeaders, metricsAllowed, originAllowed } from './http-security.ts';
import { registerProcessMetrics, registerSignalingMetrics } from './metrics.ts';
import type { MediaRelay } from './relay-types.ts';
import { serveStatic } from './static-files.ts';
import { Store, type DataCheckResult } from './store.ts';
import { loadCertificate, loadOrCreateCertificate, type TlsMaterial } from './tls-cert.ts';
import { AcmeCertificates, type AcmeOptions } from './acme.ts';

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Address to listen on. Default `0.0.0.0`. */
  bind?: string;
  /** TCP port; 0 picks a free one. Default 8443. */
  port?: number;
  /** Where the database and the generated certificate live. Default `$XDG_DATA_HOME/parloir`. */
  dataDir?: string;
  /** PEM certificate file (with {@link key}). Default: self-signed, generated in `dataDir`. */
  cert?: string;
  /** PEM private key file (with {@link cert}). */
  key?: string;
  /** Plain HTTP/WS, for localhost development only. */
  insecureHttp?: boolean;
  /** Server password clients must send. */
  password?: string;
  /** Maximum users online at once. */
  maxUsers?: number;
  /** pino level (`fatal`…`trace`, `silent`). Default `info`. */
  logLevel?: string;
  /** A ready logger (overrides {@link logLevel}). */
  logger?: Logger;
  /** A client silent this long is dropped, ms. Default 30 000. */
  pingTimeoutMs?: number;
  /** Unanswered calls end after this long, ms. Default 30 000. */
  ringTimeoutMs?: number;
  /**
   * An accepted call waits this long for a party whose signalling connection dropped, ms
   * (issue 21 §1); the relay keeps its allocations meanwhile. 0 ends it at once. Default 30 000.
   */
  callGraceMs?: number;
  /** Unauthenticated connections are closed after this long, ms. Default 10 000. */
  authTimeoutMs?: number;
  /** Presence diff batching window, ms. Default 50. */
  presenceBatchMs?: number;
  /** Maximum simultaneous connections from one IP address. Default 32. */
  maxConnectionsPerIp?: number;
  /** Per-connection message rate limit. Default 100 burst, 50/s. */
  messageBucket?: BucketConfig;
  /** Per-connection call attempt rate limit. Default 10 burst, 1/s. */
  callBucket?: BucketConfig;
  /**
   * Limits per identity and per IP that survive reconnects, password-guess throttling and the
   * chat quota (`core/limits.ts`). Default per-IP message bucket: `messageBucket` ×
   * `maxConnectionsPerIp`.
   */
  limits?: Partial<CoreLimitsConfig>;
  /** Protocol violations tolerated before closing a connection. Default 10. */
  maxViolations?: number;
  /** A client whose unsent backlog exceeds this is dropped, bytes. Default 8 MiB. */
  maxBufferedBytes?: number;
  /**
   * Built web UI directory to serve; `null` disables. Default `packages/web/dist` of this
   * repository, when it exists.
   */
  webRoot?: string | null;
  /** TURN relay; without one, calls get no TURN servers. */
  relay?: MediaRelay;
  /** Host mode. */
  host?: HostModeOptions;
  /** Prometheus registry to add metrics to (e.g. shared with the TURN relay). Default: a new one. */
  registry?: Registry;
  /**
   * Get the certificate by ACME (RFC 8555) for this public name instead of a self-signed one;
   * renewed before expiry, new connections get the new one (issue 23 §2). Excludes `cert`/`key`
   * and `insecureHttp`.
   */
  acme?: Omit<AcmeOptions, 'dataDir' | 'log'>;
  /** Server name shown to clients. */
  serverName?: string;
  /**
   * Origins besides its own whose pages may open `/ws` (e.g. `https://parloir.example` behind
   * a reverse proxy that rewrites Host). A browser upgrade from any other origin gets 403.
   */
  allowedOrigins?: string[];
  /**
   * Bearer token that opens `/metrics` to remote scrapers. Without one (and without
   * `PARLOIR_METRICS_TOKEN` in the environment) `/metrics` answers only this machine.
   */
  metricsToken?: string;
  /**
   * Origins clients reach this server at besides its own addresses, e.g.
   * `https://parloir.example` when TLS ends at a reverse proxy. A login signs the origin the
   * client connected to (issue 17 §2), so a login meant for another server is refused here.
   */
  publicOrigins?: string[];
}

/** A running server. */
export interface RunningServer {
  /** WebSocket URL clients connect to, e.g. `wss://127.0.0.1:8443/ws`. */
  url: string;
  /** Base HTTP(S) URL, e.g. `https://127.0.0.1:8443`. */
  httpUrl: string;
  /** The port listened on. */
  port: number;
  /** SHA-256 fingerprint of the TLS certificate (`AB:CD:…`), undefined with insecure HTTP. */
  fingerprint: string | undefined;
  /** The data directory in use. */
  dataDir: string;
  /** The protocol core (also the relay's `CallDirectory`). */
  core: SignalingCore;
  /** The metrics registry. */
  registry: Registry;
  /** The logger. */
  log: Logger;
  /** The start-up data check (integrity, calls swept); undefined when the data failed to open. */
  dataCheck: DataCheckResult | undefined;
  /**
   * Why the data could not be used (corrupt, newer schema, unreadable). The server then runs
   * without it: /healthz answers 503 with this error and no client is let in, so a supervisor
   * sees it instead of a crash loop, and the files are left as they were.
   */
  dataError: ServerError | undefined;
  /**
   * Re-reads the TLS certificate and key (the `cert`/`key` files, or the data directory's) and
   * serves them to new connections (`setSecureContext`); connections already up keep theirs.
   * Returns the new fingerprint; undefined with plain HTTP. Throws SRV_ERR_TLS if they cannot be
   * read (the old ones stay in use).
   */
  reloadTls(): string | undefined;
  /**
   * With {@link ServerOptions.acme}: obtains a new certificate now and serves it to new
   * connections (connections up, and so calls, keep theirs). Resolves to its fingerprint.
   */
  renewCertificate(): Promise<string>;
  /** The HTTP-01 challenge listener's port, with {@link ServerOptions.acme}. */
  acmeHttpPort: number | undefined;
  /** Graceful shutdown: tells clients, closes sockets (forcibly after `graceMs`), closes the database. */
  close(graceMs?: number): Promise<void>;
}

/** Default data directory: `$XDG_DATA_HOME/parloir` or `~/.local/share/parloir`. */
export function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'share'), 'parloir');
}

/** `packages/web/dist` of this repository, if built. */
export function defaultWebRoot(): string | undefined {
  const dir = resolve(import.meta.dirname, '..', '..', 'web', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

/**
 * Longest stretch of deferred-lane writes (presence fan-out, pings) per event-loop turn, ms.
 * A request arriving during a fan-out waits up to one slice per server hop (invite→ringing has
 * two): 1 ms instead of 4 ms moved the median of bench:signaling's p99 invite→ringing (5,000
 * clients, 6 locked runs each) from ~19 to ~13 ms. Later figures (pings spread in groups, one
 * broadcast item per diff, off-loop WAL checkpoints) are in docs/protocol.md.
 */
const BULK_SLICE_MS = 1;
/** WebSocket pings sent per deferred-lane turn (≈ 10 µs each). */
const PINGS_PER_TURN = 128;
/** Keepalive pings are spread over this many groups of connections per ping interval. */
const PING_GROUPS = 40;
/** Longest wait at close for the WAL checkpointer thread to close its connection, ms. */
const CHECKPOINTER_EXIT_MS = 1000;

/** Starts a server. Resolves once it listens. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? pino({ level: options.logLevel ?? 'info' }, pino.destination(2));
  const dataDir = options.dataDir ?? defaultDataDir();
  // Issue 17: 0700 directory, 0600 database and keys, whatever the umask.
  securePrivateDir(dataDir);
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ServerError('SRV_ERR_BAD_OPTIONS', '--cert and --key go together');
  }
  if (options.acme && (options.insecureHttp || options.cert !== undefined)) {
    throw new ServerError(
      'SRV_ERR_BAD_OPTIONS',
      '--domain (ACME) excludes --cert/--key and --insecure-http',
    );
  }
  const acme = options.acme
    ? new AcmeCertificates({
        httpBind: options.bind ?? '0.0.0.0',
        ...options.acme,
        dataDir,
        log,
      })
    : undefined;
  /** Serves `m` to new connections and binds logins to it (set once listening). */
  let useCertificate = (_m: TlsMaterial): void => undefined;
  const tls = options.insecureHttp
    ? undefined
    : acme
      ? await acme.start((m) => useCertificate(m))
      : options.cert !== undefined && options.key !== undefined
        ? loadCertificate(options.cert, options.key)
        : await loadOrCreateCertificate(dataDir);
  securePrivateDatabase(join(dataDir, 'parloir.db'));
  const opened = openData(join(dataDir, 'parloir.db'), log);
  const { store, dataCheck, dataError } = opened;
  const core = new SignalingCore({
    store,
    ...CORE_CRYPTO,
    log,
    ...(options.serverName !== undefined ? { serverName: options.serverName } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.maxUsers !== undefined ? { maxUsers: options.maxUsers } : {}),
    ...(options.pingTimeoutMs !== undefined ? { pingTimeoutMs: options.pingTimeoutMs } : {}),
    ...(options.ringTimeoutMs !== undefined ? { ringTimeoutMs: options.ringTimeoutMs } : {}),
    ...(options.callGraceMs !== undefined ? { callGraceMs: options.callGraceMs } : {}),
    ...(options.authTimeoutMs !== undefined ? { authTimeoutMs: options.authTimeoutMs } : {}),
    ...(options.presenceBatchMs !== undefined ? { presenceBatchMs: options.presenceBatchMs } : {}),
    ...(options.maxViolations !== undefined ? { maxViolations: options.maxViolations } : {}),
    ...(options.messageBucket ? { messageBucket: options.messageBucket } : {}),
    ...(options.callBucket ? { callBucket: options.callBucket } : {}),
    ...(options.host ? { host: options.host } : {}),
    ...(options.relay ? { relay: options.relay } : {}),
    limits: {
      // One IP gets as many messages as its connections could each send (issue 17 §4), and
      // keeps that bucket across reconnects.
      ipMessages: ipMessageBucket(
        options.messageBucket ?? { burst: 100, perSec: 50 },
        options.maxConnectionsPerIp ?? 32,
      ),
      ...options.limits,
    },
  });
  // Calls live at the last stop (kill -9, crash) come back in the grace period (issue 21 §3).
  const restored = core.restoreLiveCalls(Date.now());
  if (restored > 0)
    log.warn({ calls: restored }, 'calls live at the last stop restored: parties may re-attach');
  const registry = options.registry ?? new Registry();
  registerProcessMetrics(registry);
  registerSignalingMetrics(registry, () => core.stats());
  const webRoot = options.webRoot === null ? undefined : (options.webRoot ?? defaultWebRoot());
  const maxPerIp = options.maxConnectionsPerIp ?? 32;
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;

  const metricsToken = options.metricsToken ?? process.env.PARLOIR_METRICS_TOKEN;
  const allowedOrigins = options.allowedOrigins ?? [];

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    applySecurityHeaders(res);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const s = core.stats();
      res.writeHead(dataError ? 503 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          status: dataError ? 'error' : 'ok',
          online: s.online,
          connections: s.connections,
          uptimeSec: Math.round(process.uptime()),
          data: dataError
            ? { ok: false, code: dataError.code, error: dataError.message }
            : dataCheck,
        }),
      );
      return;
    }
    if (dataError) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        `Parloir server: its data failed the start-up check (${dataError.code}); see /healthz\n`,
      );
      return;
    }
    if (path === '/metrics') {
      if (!metricsAllowed(req, metricsToken)) {
        // Without a token, a remote scraper sees no /metrics at all.
        res.writeHead(metricsToken ? 401 : 404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(metricsToken ? 'unauthorized\n' : 'not found\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => {
          log.warn({ err }, 'metrics failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (webRoot && serveStatic(webRoot, req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(
      webRoot ? 'not found\n' : 'Parloir server: the web UI is not built (npm run build:web)\n',
    );
  };
  const http = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key }, onRequest)
    : createHttpServer(onRequest);
  // Headers must arrive quickly; slowloris connections are dropped.
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 2 * MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  const sockets = new Map<number, WebSocket>();
  const perIp = new Map<string, number>();
  let nextConnId = 1;
  /** Names a login may sign (messages.ts `authSigningText`); set once listening. */
  let serverNames: string[] = [];

  // Two lanes. Answers and call events are written at once. Presence fan-out (one frame for
  // every online user per batch) and keepalive pings go to a deferred lane written in slices of
  // at most BULK_SLICE_MS per event-loop turn, so a request arriving meanwhile (an invite) is
  // served between two slices instead of behind thousands of writes. The lane is a FIFO of
  // items, each one encoded frame and the connections still owed it (a broadcast is one item,
  // not one entry per user). Before any direct frame to a connection, the frames the lane still
  // owes it are written (and crossed off): per-connection order holds.
  interface BulkItem {
    buf: Buffer;
    /** Recipients; 0 = already written (connection ids start at 1). */
    conns: number[];
    /** First recipient not yet visited by the pump. */
    next: number;
  }
  const bulkQ: BulkItem[] = [];
  const pingQueue: WebSocket[] = [];
  let pumpScheduled = false;
  // A direct string sent to several connections in one drain is encoded to UTF-8 once.
  const encoder = { text: '', buf: Buffer.alloc(0) };
  // Frames for one connection produced by one input (an answer and its events) leave in one
  // writev: its socket is corked until the drain ends.
  const netSocketOf = new WeakMap<WebSocket, Socket>();
  const corked: Socket[] = [];
  const send = (connId: number, ws: WebSocket, data: Uint8Array, direct: boolean): void => {
    if (ws.readyState !== ws.OPEN) return;
    const sock = netSocketOf.get(ws);
    if (direct && sock && sock.writableCorked === 0) {
      sock.cork();
      corked.push(sock);
    }
    if (ws.bufferedAmount > maxBuffered) {
      log.warn({ connId }, 'client too slow, dropping it');
      ws.terminate();
      return;
    }
    ws.send(data, { binary: false });
  };
  const sendDirect = (connId: number, ws: WebSocket, text: string | Uint8Array): void => {
    if (typeof text !== 'string') return send(connId, ws, text, true);
    if (text !== encoder.text) {
      encoder.text = text;
      encoder.buf = Buffer.from(text, 'utf8');
    }
    send(connId, ws, encoder.buf, true);
  };
  /** Writes what the deferred lane still owes `connId`, in lane order. */
  const catchUp = (connId: number, ws: WebSocket): void => {
    for (const item of bulkQ) {
      const i = item.conns.indexOf(connId, item.next);
      if (i < 0) continue;
      item.conns[i] = 0;
      send(connId, ws, item.buf, false);
    }
  };
  const pump = (): void => {
    pumpScheduled = false;
    const until = performance.now() + BULK_SLICE_MS;
    // Pings first, a bounded share per turn: a backlog of diffs must not starve keepalives
    // (idle clients would then miss the ping timeout).
    for (const ws of pingQueue.splice(-PINGS_PER_TURN)) if (ws.readyState === ws.OPEN) ws.ping();
    let n = 0;
    slice: while (bulkQ.length > 0) {
      const item = bulkQ[0] as BulkItem;
      const { conns } = item;
      while (item.next < conns.length) {
        const connId = conns[item.next++] as number;
        if (connId !== 0) {
          const ws = sockets.get(connId);
          if (ws) send(connId, ws, item.buf, false);
        }
        if ((++n & 31) === 0 && performance.now() >= until) break slice;
      }
      bulkQ.shift();
    }
    if (bulkQ.length > 0 || pingQueue.length > 0) schedulePump();
  };
  const schedulePump = (): void => {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(pump);
  };
  const drain = (): void => {
    for (const o of core.pollOutput()) apply(o);
    for (const sock of corked.splice(0)) sock.uncork();
    encoder.text = '';
    encoder.buf = Buffer.alloc(0);
  };
  // Chat group commit (issue 17 §4): a `durable` frame (a chat.send answer, the message it
  // delivers) waits until the store's fdatasync covering it is done, off the event loop; the
  // connection's later direct frames and its close queue behind it, so its order holds.
  const held = new Map<number, { o: CoreOutput; ready: boolean }[]>();
  const release = (connId: number): void => {
    const q = held.get(connId);
    if (!q) return;
    while (q.length > 0 && (q[0] as { ready: boolean }).ready) {
      const { o } = q.shift() as { o: CoreOutput };
      if (q.length === 0) held.delete(connId);
      deliver(o);
    }
    for (const sock of corked.splice(0)) sock.uncork();
  };
  const apply = (o: CoreOutput): void => {
    if (o.type !== 'broadcast' && !(o.type === 'send' && o.bulk)) {
      const q = held.get(o.connId);
      if (o.type === 'send' && o.durable) {
        const entry = { o, ready: false };
        if (q) q.push(entry);
        else held.set(o.connId, [entry]);
        void store.chatDurable().then(() => {
          entry.ready = true;
          release(o.connId);
        });
        return;
      }
      if (q) {
        q.push({ o, ready: true });
        return;
      }
    }
    deliver(o);
  };
  const deliver = (o: CoreOutput): void => {
    if (o.type === 'broadcast') {
      bulkQ.push({ buf: Buffer.from(o.text, 'utf8'), conns: o.connIds, next: 0 });
      schedulePump();
      return;
    }
    const ws = sockets.get(o.connId);
    if (!ws) return;
    if (o.type === 'send' && o.bulk) {
      const buf = typeof o.text === 'string' ? Buffer.from(o.text, 'utf8') : o.text;
      bulkQ.push({ buf: buf as Buffer, conns: [o.connId], next: 0 });
      schedulePump();
      return;
    }
    if (bulkQ.length > 0) catchUp(o.connId, ws);
    if (o.type === 'send') {
      sendDirect(o.connId, ws, o.text);
    } else {
      ws.close(o.code, o.reason);
      setTimeout(() => ws.terminate(), 1000).unref();
    }
  };

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    const ip = socket.remoteAddress ?? 'unknown';
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    if (dataError) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    // Cross-site WebSocket hijacking: a page of another origin may not open /ws (issue 17).
    if (!originAllowed(req, tls !== undefined, allowedOrigins)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    const count = perIp.get(ip) ?? 0;
    if (count >= maxPerIp) {
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\n');
      return;
    }
    socket.on('error', () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connId = nextConnId++;
      sockets.set(connId, ws);
      netSocketOf.set(ws, socket);
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      core.handleInput({ type: 'open', connId, address: ip, serverNames }, Date.now());
      drain();
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        const buf = Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.isBuffer(data)
            ? data
            : Buffer.from(data);
        if (buf.length > MAX_FRAME_BYTES)
          core.handleInput({ type: 'oversize', connId, bytes: buf.length }, Date.now());
        else
          core.handleInput(
            { type: 'text', connId, text: isBinary ? `\u0000binary` : buf.toString('utf8') },
            Date.now(),
          );
        drain();
      });
      ws.on('pong', () => core.handleInput({ type: 'alive', connId }, Date.now()));
      ws.on('error', (err) => log.debug({ err, connId }, 'websocket error'));
      ws.on('close', (code: number) => {
        sockets.delete(connId);
        const n = (perIp.get(ip) ?? 1) - 1;
        if (n <= 0) perIp.delete(ip);
        else perIp.set(ip, n);
        // 1000 from the client: it quit on purpose (a call of its ends at once, no grace).
        core.handleInput({ type: 'closed', connId, left: code === 1000 }, Date.now());
        drain();
      });
    });
  });

  const tickMs = Math.max(5, Math.min(25, Math.floor((options.presenceBatchMs ?? 50) / 2)));
  const ticker = setInterval(() => {
    core.handleInput({ type: 'tick', backlog: bulkQ.length > 0 }, Date.now());
    drain();
  }, tickMs);
  // Every connection is pinged once per pingEvery, one group of connections at a time (by
  // connection id modulo PING_GROUPS): 125 pings every 250 ms at 5,000 clients instead of 5,000
  // at once, whose pongs then came back in one burst.
  const pingEvery = Math.max(250, Math.floor((options.pingTimeoutMs ?? 30_000) / 3));
  let pingGroup = 0;
  const pinger = setInterval(() => {
    const group = pingGroup++ % PING_GROUPS;
    for (const [connId, ws] of sockets) if (connId % PING_GROUPS === group) pingQueue.push(ws);
    if (pingQueue.length > 0) schedulePump();
  }, pingEvery / PING_GROUPS);

  await new Promise<void>((resolvePromise, reject) => {
    const onError = (err: Error) =>
      reject(
        new ServerError(
          'SRV_ERR_LISTEN',
          `cannot listen on ${options.bind ?? '0.0.0.0'}:${options.port ?? 8443}: ${err.message}`,
          { cause: err },
        ),
      );
    http.once('error', onError);
    http.listen(options.port ?? 8443, options.bind ?? '0.0.0.0', () => {
      http.off('error', onError);
      resolvePromise();
    });
  });
  http.on('error', (err) => log.error({ err }, 'http server error'));
  const port = (http.address() as AddressInfo).port;
  const bind = options.bind ?? '0.0.0.0';
  const host =
    bind === '0.0.0.0'
      ? '127.0.0.1'
      : bind === '::'
        ? '[::1]'
        : bind.includes(':')
          ? `[${bind}]`
          : bind;
  serverNames = loginNames(tls, bind, port, options.publicOrigins ?? []);
  useCertificate = (m) => {
    if (!(http instanceof HttpsServer)) return;
    http.setSecureContext({ cert: m.cert, key: m.key });
    serverNames = loginNames(m, bind, port, options.publicOrigins ?? []);
    log.info({ fingerprint: m.fingerprint }, 'TLS certificate in use for new connections');
  };
  const httpUrl = `${tls ? 'https' : 'http'}://${host}:${port}`;
  const url = `${tls ? 'wss' : 'ws'}://${host}:${port}/ws`;
  log.info({ url, fingerprint: tls?.fingerprint, dataDir, webRoot }, 'parloir server listening');

  let closing: Promise<void> | undefined;
  const close = (graceMs = 2000): Promise<void> => {
    closing ??= (async () => {
      clearInterval(ticker);
      clearInterval(pinger);
      core.handleInput({ type: 'shutdown', reason: 'server shutting down' }, Date.now());
      drain();
      http.close();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ws of sockets.values()) ws.terminate();
      wss.close();
      http.closeAllConnections();
      store.close();
      await acme?.close();
      // The checkpointer thread closes last and still writes the database files (its close
      // checkpoints the WAL): wait for it, bounded, so that a caller may remove or reuse the
      // data directory once close() resolves.
      // The timer is not unref'd: the thread is (it must not keep a running server alive), so
      // with nothing else left on the loop an unref'd timer would let the process exit before
      // close() resolves (a script's `await server.close()` then never returned).
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        store.whenClosed(),
        new Promise((r) => (bound = setTimeout(r, CHECKPOINTER_EXIT_MS))),
      ]);
      clearTimeout(bound);
      log.info('parloir server stopped');
    })();
    return closing;
  };

  return {
    url,
    httpUrl,
    port,
    fingerprint: tls?.fingerprint,
    dataDir,
    core,
    registry,
    log,
    close,
    reloadTls: () => {
      if (!tls || !(http instanceof HttpsServer)) return undefined;
      const next = acme
        ? acme.current
        : options.cert !== undefined && options.key !== undefined
          ? loadCertificate(options.cert, options.key)
          : loadCertificate(join(dataDir, 'tls-cert.pem'), join(dataDir, 'tls-key.pem'));
      useCertificate(next);
      return next.fingerprint;
    },
    renewCertificate: async () => {
      if (!acme)
        throw new ServerError('SRV_ERR_BAD_OPTIONS', 'no ACME: the server has no --domain');
      return (await acme.renew()).fingerprint;
    },
    acmeHttpPort: acme?.httpPort,
    dataCheck,
    dataError,
  };
}

/** Error codes that mean the data directory cannot be used as it is (see {@link openData}). */
const DATA_ERRORS = new Set(['SRV_ERR_DATA_CORRUPT', 'SRV_ERR_SCHEMA_NEWER', 'SRV_ERR_MIGRATION']);

/**
 * Opens the database and runs the start-up data check (issue 22: integrity, calls left open by a
 * crash). If the data is corrupt or of a newer schema, the error is logged and returned with an
 * in-memory store that no client reaches (the server refuses them): exiting instead would have
 * a supervisor restart it in a loop, and nothing may be written over the files an operator
 * needs to recover.
 */
function openData(
  path: string,
  log: Logger,
): { store: Store; dataCheck?: DataCheckResult; dataError?: ServerError } {
  const onError = (err: unknown, what: string) => log.warn({ err }, what);
  try {
    const store = new Store({ path, onError });
    const dataCheck = store.checkData();
    if (dataCheck.migratedFrom !== undefined)
      log.info({ from: dataCheck.migratedFrom, to: dataCheck.schemaVersion }, 'database migrated');
    if (dataCheck.sweptCalls > 0)
      log.warn({ calls: dataCheck.sweptCalls }, 'closed unanswered calls left open by a crash');
    return { store, dataCheck };
  } catch (err) {
    if (!(err instanceof ServerError) || !DATA_ERRORS.has(err.code)) throw err;
    log.fatal(
      { code: err.code, err: err.message },
      'data check failed: refusing clients; /healthz reports the error',
    );
    return { store: new Store({ path: ':memory:', onError }), dataError: err };
  }
}

/**
 * The names of this server a login may sign (issue 17 §2): its TLS certificate, and the origins
 * it is reached at — its bound address (every interface address for a wildcard bind),
 * `localhost`, the host name, the certificate's subject alternative names, and configured public
 * origins. Never the request's Host header: a rogue server relaying a challenge would set it.
 */
function loginNames(
  tls: { cert: string; fingerprint: string } | undefined,
  bind: string,
  port: number,
  publicOrigins: readonly string[],
): string[] {
  // The host name as is and as mDNS publishes it on a LAN (host mode guests type `name.local`).
  const hosts = new Set<string>(['localhost', hostname(), `${hostname()}.local`]);
  if (bind === '0.0.0.0' || bind === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) hosts.add(a.address);
    }
  } else hosts.add(bind);
  const names = new Set<string>();
  // The first name is the one clients are asked to sign (hello `loginName`): the certificate
  // when this process terminates TLS, the public origin when a proxy in front of it does.
  for (const o of publicOrigins) {
    const name = serverOriginName(o);
    if (name !== undefined) names.add(name);
  }
  if (tls !== undefined) {
    names.add(serverTlsName(tls.fingerprint));
    for (const san of (new X509Certificate(tls.cert).subjectAltName ?? '').split(',')) {
      const m = /^\s*(?:DNS|IP Address):(.+)$/.exec(san);
      if (m?.[1] !== undefined) hosts.add(m[1].trim());
    }
  }
  const scheme = tls === undefined ? 'http' : 'https';
  for (const h of hosts) {
    const name = serverOriginName(`${scheme}://${h.includes(':') ? `[${h}]` : h}:${port}`);
    if (name !== undefined) names.add(name);
  }
  return [...names];
}
