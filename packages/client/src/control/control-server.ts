/**
 * The local control API: lets the web UI (native mode) or a script drive this client. HTTP and
 * WebSocket on 127.0.0.1 only, authenticated by a random token stored in the profile directory
 * (`control.json`, mode 0600). The messages mirror the shared protocol core: events are the
 * `ClientSession` events verbatim (so the web UI's `SessionBinding` consumes them unchanged),
 * commands are its method names with their arguments, plus the media commands `set` and `stats`.
 * See docs/control-api.md.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { ClientSession, ClientSessionEvents } from '@parloir/protocol';
import { applySecurityHeaders, originAllowed } from '@parloir/server';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CallMedia } from '../engine/call-media.ts';
import { EngineError } from '../engine/errors.ts';

/** Version of the control API messages. */
export const CONTROL_API_VERSION = 1;

/** Session events relayed to control clients (every `ClientSessionEvents` key). */
const SESSION_EVENTS = [
  'connection',
  'ready',
  'presence',
  'call',
  'incomingCall',
  'callAccepted',
  'callEnded',
  'callMissed',
  'signal',
  'chat',
  'unread',
  'joinRequest',
  'joinResolved',
  'shutdown',
  'error',
] as const satisfies readonly (keyof ClientSessionEvents)[];

/** Commands and the session/media method each maps to. */
export const COMMANDS = [
  'invite',
  'accept',
  'reject',
  'cancel',
  'hangup',
  'sendChat',
  'loadHistory',
  'markRead',
  'setStatus',
  'block',
  'unblock',
  'blocked',
  'decideJoin',
  'set',
  'stats',
  'state',
] as const;
/** A command name. */
export type ControlCommand = (typeof COMMANDS)[number];

/** What the control server drives. */
export interface ControlTarget {
  /** The signalling session. */
  session: ClientSession;
  /** The call media. */
  media: CallMedia;
}

/** Options of {@link ControlServer}. */
export interface ControlServerOptions extends ControlTarget {
  /** Profile directory: the token goes to `<dir>/control.json`. */
  profileDir: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Directory of the built web UI to serve at `/` (`--ui`), or undefined. */
  uiDir?: string | undefined;
}

/** What `control.json` holds. */
export interface ControlInfo {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Bearer token. */
  token: string;
  /** Process id of the client. */
  pid: number;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};

/** Converts an event payload to JSON-safe data (the presence Map becomes an array). */
function toWire(event: string, payload: unknown): unknown {
  if (event === 'presence' && typeof payload === 'object' && payload !== null) {
    const p = payload as { online: ReadonlyMap<string, unknown> };
    return { ...p, online: [...p.online.values()] };
  }
  if (payload instanceof Error) {
    const code = (payload as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'ERR', message: payload.message };
  }
  return payload;
}

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string') {
    throw new EngineError('CONTROL_ERR_BAD_REQUEST', `argument '${key}' must be a string`);
  }
  return v;
}

/** The local control API server. */
export class ControlServer {
  #o: ControlServerOptions;
  #token = randomBytes(24).toString('hex');
  #http: Server;
  #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  #sse = new Set<ServerResponse>();
  #offs: (() => void)[] = [];
  #url = '';

  constructor(options: ControlServerOptions) {
    this.#o = options;
    this.#http = createServer((req, res) => {
      // The same CSP, Referrer-Policy and framing rules as the server's (issue 17).
      applySecurityHeaders(res);
      this.#handleHttp(req, res).catch((err: unknown) => this.#sendError(res, err));
    });
    this.#http.on('upgrade', (req, socket, head) => {
      if (!this.#hostOk(req) || !this.#authorized(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      // Only the page this server served may open the socket (its origin is its Host).
      if (!originAllowed(req, false)) {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
    });
    const { session, media } = options;
    for (const ev of SESSION_EVENTS) {
      this.#offs.push(
        session.on(ev, (p: unknown) =>
          this.#broadcast({ type: 'event', event: ev, payload: toWire(ev, p) }),
        ),
      );
    }
    this.#offs.push(
      media.on('state', (s) => this.#broadcast({ type: 'media', state: s })),
      media.on('qos', (q) => this.#broadcast({ type: 'qos', snapshot: q })),
      media.on('ended', (e) => this.#broadcast({ type: 'mediaEnded', ...e })),
    );
  }

  /** The token (also in control.json). */
  get token(): string {
    return this.#token;
  }

  /** `http://127.0.0.1:PORT` once listening. */
  get url(): string {
    return this.#url;
  }

  /** Listens on 127.0.0.1 and writes `<profile>/control.json`. */
  async listen(): Promise<ControlInfo> {
    await new Promise<void>((res, rej) => {
      this.#http.once('error', rej);
      this.#http.listen(this.#o.port ?? 0, '127.0.0.1', () => res());
    });
    const port = (this.#http.address() as AddressInfo).port;
    this.#url = `http://127.0.0.1:${port}`;
    const info: ControlInfo = { url: this.#url, token: this.#token, pid: process.pid };
    mkdirSync(this.#o.profileDir, { recursive: true });
    const file = join(this.#o.profileDir, 'control.json');
    writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
    chmodSync(file, 0o600);
    return info;
  }

  /** Closes every client and the listener. */
  async close(): Promise<void> {
    for (const off of this.#offs) off();
    this.#offs = [];
    for (const ws of this.#wss.clients) ws.close(1001, 'client exiting');
    for (const r of this.#sse) r.end();
    this.#sse.clear();
    this.#http.closeAllConnections();
    await new Promise<void>((res) => this.#http.close(() => res()));
  }

  /** Current state: what a new UI needs to render before events arrive. */
  state(): Record<string, unknown> {
    const s = this.#o.session;
    return {
      version: CONTROL_API_VERSION,
      connection: s.connection,
      userId: s.userId,
      name: s.name,
      status: s.status,
      online: [...s.online.values()],
      call: s.call,
      conversations: Object.fromEntries(s.conversations),
      joinRequests: [...s.joinRequests.values()],
      media: this.#o.media.state,
    };
  }

  /** Runs one command; resolves with its JSON result or rejects with a typed error. */
  async run(command: string, args: Record<string, unknown>): Promise<unknown> {
    const s = this.#o.session;
    const m = this.#o.media;
    switch (command as ControlCommand) {
      case 'invite':
        return { callId: await s.invite(str(args, 'peerId')) };
      case 'accept':
        await s.accept();
        return {};
      case 'reject':
        await s.reject();
        return {};
      case 'cancel':
        await s.cancel();
        return {};
      case 'hangup':
        await s.hangup();
        return {};
      case 'sendChat':
        return s.sendChat(str(args, 'to'), str(args, 'text'));
      case 'loadHistory':
        return s.loadHistory(str(args, 'peerId'));
      case 'markRead':
        s.markRead(str(args, 'peerId'));
        return {};
      case 'setStatus': {
        const st = str(args, 'status');
        if (st !== 'available' && st !== 'dnd' && st !== 'away') {
          throw new EngineError('CONTROL_ERR_BAD_REQUEST', `status must be available, dnd or away`);
        }
        await s.setStatus(st);
        return {};
      }
      case 'block':
        await s.block(str(args, 'userId'));
        return {};
      case 'unblock':
        await s.unblock(str(args, 'userId'));
        return {};
      case 'blocked':
        return s.blocked();
      case 'decideJoin': {
        const accept = args.accept;
        if (typeof accept !== 'boolean') {
          throw new EngineError('CONTROL_ERR_BAD_REQUEST', `argument 'accept' must be a boolean`);
        }
        await s.decideJoin(str(args, 'requestId'), accept);
        return {};
      }
      case 'set': {
        const v = args.value;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw new EngineError('CONTROL_ERR_BAD_REQUEST', `argument 'value' must be a scalar`);
        }
        return m.set(str(args, 'name'), typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v));
      }
      case 'stats':
        return {
          media: m.state,
          qos: m.engine === undefined ? null : await m.engine.snapshotNow(),
        };
      case 'state':
        return this.state();
      default:
        throw new EngineError(
          'CONTROL_ERR_UNKNOWN_COMMAND',
          `unknown command '${command}' (one of ${COMMANDS.join(', ')})`,
        );
    }
  }

  #broadcast(msg: unknown): void {
    const text = JSON.stringify(msg);
    for (const ws of this.#wss.clients) if (ws.readyState === ws.OPEN) ws.send(text);
    for (const r of this.#sse) r.write(`data: ${text}\n\n`);
  }

  #onSocket(ws: WebSocket): void {
    ws.send(JSON.stringify({ type: 'state', state: this.state() }));
    ws.on('message', (data, isBinary) => {
      let id: unknown;
      void (async () => {
        try {
          if (isBinary) throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'text frames only');
          const text = Buffer.isBuffer(data)
            ? data.toString('utf8')
            : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8');
          let msg: unknown;
          try {
            msg = JSON.parse(text);
          } catch (err) {
            throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'not JSON', { cause: err });
          }
          if (typeof msg !== 'object' || msg === null) {
            throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'expected an object');
          }
          const req = msg as { id?: unknown; command?: unknown; args?: unknown };
          id = req.id;
          if (typeof req.command !== 'string') {
            throw new EngineError('CONTROL_ERR_BAD_REQUEST', "missing 'command'");
          }
          const args = typeof req.args === 'object' && req.args !== null ? req.args : {};
          const result = await this.run(req.command, args as Record<string, unknown>);
          ws.send(JSON.stringify({ type: 'result', id, result: result ?? {} }));
        } catch (err) {
          ws.send(JSON.stringify({ type: 'error', id, ...errorBody(err) }));
        }
      })();
    });
  }

  #hostOk(req: IncomingMessage): boolean {
    // DNS-rebinding defence: only our own loopback origin may talk to us.
    const host = req.headers.host ?? '';
    const port = (this.#http.address() as AddressInfo | null)?.port;
    return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  }

  #authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    let given: string | undefined;
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) given = auth.slice(7);
    else {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      given = url.searchParams.get('token') ?? undefined;
    }
    if (given === undefined) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.#token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async #handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#hostOk(req)) {
      res.writeHead(403).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!url.pathname.startsWith('/api/')) {
      this.#serveUi(url.pathname, res);
      return;
    }
    if (!this.#authorized(req)) {
      this.#json(res, 401, { code: 'CONTROL_ERR_UNAUTHORIZED', message: 'missing or bad token' });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/state') {
      this.#json(res, 200, this.state());
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`data: ${JSON.stringify({ type: 'state', state: this.state() })}\n\n`);
      this.#sse.add(res);
      req.on('close', () => this.#sse.delete(res));
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/command') {
      const body = await readBody(req, 64 * 1024);
      let msg: unknown;
      try {
        msg = JSON.parse(body);
      } catch (err) {
        throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'body is not JSON', { cause: err });
      }
      const r = msg as { command?: unknown; args?: unknown } | null;
      if (r === null || typeof r !== 'object' || typeof r.command !== 'string') {
        throw new EngineError('CONTROL_ERR_BAD_REQUEST', "body needs 'command'");
      }
      const args = typeof r.args === 'object' && r.args !== null ? r.args : {};
      const result = await this.run(r.command, args as Record<string, unknown>);
      this.#json(res, 200, { result: result ?? {} });
      return;
    }
    this.#json(res, 404, { code: 'CONTROL_ERR_BAD_REQUEST', message: 'no such endpoint' });
  }

  #serveUi(pathname: string, res: ServerResponse): void {
    const dir = this.#o.uiDir;
    if (dir === undefined) {
      this.#json(res, 404, { code: 'CONTROL_ERR_BAD_REQUEST', message: 'UI not served (--ui)' });
      return;
    }
    const root = resolve(dir);
    let file = normalize(join(root, decodeURIComponent(pathname)));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    let body: Buffer | string = readFileSync(file);
    if (file.endsWith('index.html')) {
      // The page learns it runs in native mode, and its token, from a meta tag; other origins
      // cannot read this response (no CORS) and the Host check stops DNS rebinding.
      body = body
        .toString('utf8')
        .replace(
          '<head>',
          `<head><meta name="parloir-control" content="${this.#token}" data-mode="native">`,
        );
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(body);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  }

  #sendError(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = errorBody(err);
    const status =
      body.code === 'CONTROL_ERR_UNKNOWN_COMMAND' || body.code.startsWith('CONTROL_ERR_BAD')
        ? 400
        : 409;
    this.#json(res, status, body);
  }
}

/** `{code, message}` of any error; unknown errors get `CONTROL_ERR_BAD_REQUEST`-free generic code. */
function errorBody(err: unknown): { code: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'CONTROL_ERR_INTERNAL', message: err.message };
  }
  return { code: 'CONTROL_ERR_INTERNAL', message: String(err) };
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        rej(new EngineError('CONTROL_ERR_BAD_REQUEST', `body over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => res(Buffer.concat(chunks).toString('utf8')));
    req.on('error', rej);
  });
}

/** Reads `<profile>/control.json` (for scripts and `parloir connect` helpers). */
export function readControlInfo(profileDir: string): ControlInfo {
  try {
    return JSON.parse(readFileSync(join(profileDir, 'control.json'), 'utf8')) as ControlInfo;
  } catch (err) {
    throw new EngineError('CONTROL_ERR_UNAUTHORIZED', `no control.json in ${profileDir}`, {
      cause: err,
    });
  }
}
