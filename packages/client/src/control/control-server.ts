/**
 * The local control API's sockets: lets the web UI (native mode) or a script drive this client.
 * HTTP and WebSocket on 127.0.0.1 only, authenticated by a random token stored in the profile
 * directory (`control.json`, mode 0600). Every message is a schema of `@parloir/protocol`'s
 * control-api.ts, validated on the way in (bad commands get typed errors); what commands do is in
 * control-commands.ts, the app they act on in native-app.ts. See docs/control-api.md.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import {
  ControlApiError,
  MAX_CONTROL_FRAME_BYTES,
  parseControlRequest,
  type ControlPush,
  type ControlState,
} from '@parloir/protocol';
import { applySecurityHeaders, originAllowed } from '@parloir/server';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  controlState,
  relaySessionEvents,
  runCommand,
  toControlMedia,
  type ControlApp,
} from './control-commands.ts';

export { CONTROL_API_VERSION } from '@parloir/protocol';

/** Options of {@link ControlServer}. */
export interface ControlServerOptions {
  /** The app the commands act on. */
  app: ControlApp;
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

/** The local control API server. */
export class ControlServer {
  #o: ControlServerOptions;
  #token = randomBytes(24).toString('hex');
  #http: Server;
  #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CONTROL_FRAME_BYTES });
  #sse = new Set<ServerResponse>();
  /** Subscriptions to the current target's session and media. */
  #offs: (() => void)[] = [];
  #offApp: () => void;
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
    this.#follow();
    // A new connection (or none): follow its events, and give every client the new state.
    this.#offApp = options.app.onChanged(() => {
      this.#follow();
      this.#broadcast({ type: 'state', state: this.state() });
    });
  }

  #follow(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
    const t = this.#o.app.target;
    if (t === undefined) return;
    this.#offs.push(
      relaySessionEvents(t.session, (e) => this.#broadcast({ type: 'event', ...e })),
      t.media.on('state', (m) => this.#broadcast({ type: 'media', state: toControlMedia(m) })),
      t.media.on('qos', (snapshot) => this.#broadcast({ type: 'qos', snapshot })),
      t.media.on('ended', (e) =>
        this.#broadcast({
          type: 'mediaEnded',
          callId: e.callId,
          reason: e.reason,
          durationMs: e.durationMs,
          ...(e.logPath === undefined ? {} : { logPath: e.logPath }),
        }),
      ),
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
    this.#offApp();
    for (const ws of this.#wss.clients) ws.close(1001, 'client exiting');
    for (const r of this.#sse) r.end();
    this.#sse.clear();
    this.#http.closeAllConnections();
    await new Promise<void>((res) => this.#http.close(() => res()));
  }

  /** Current state: what a new UI needs to render before events arrive. */
  state(): ControlState {
    return controlState(this.#o.app);
  }

  /**
   * Runs one request (parsed JSON or text): validated against the command's schema, then run.
   * Resolves with the result, or rejects with a typed error (`CONTROL_ERR_*` or the code of what
   * failed inside, e.g. `SIG_ERR_DISCONNECTED`, `ENGINE_ERR_BAD_SETTING`).
   */
  async run(request: unknown): Promise<object> {
    const parsed = parseControlRequest(request);
    if (!parsed.ok) throw parsed.error;
    return runCommand(this.#o.app, parsed.value);
  }

  #broadcast(msg: ControlPush): void {
    const text = JSON.stringify(msg);
    for (const ws of this.#wss.clients) if (ws.readyState === ws.OPEN) ws.send(text);
    for (const r of this.#sse) r.write(`data: ${text}\n\n`);
  }

  #onSocket(ws: WebSocket): void {
    this.#send(ws, { type: 'state', state: this.state() });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? undefined : rawText(data);
      const parsed = parseControlRequest(text ?? null);
      const id = parsed.ok ? parsed.value.id : parsed.id;
      void (async () => {
        try {
          if (text === undefined) {
            throw new ControlApiError('CONTROL_ERR_BAD_REQUEST', 'text frames only');
          }
          if (!parsed.ok) throw parsed.error;
          const result = await runCommand(this.#o.app, parsed.value);
          this.#send(ws, { type: 'result', id: id ?? 0, result });
        } catch (err) {
          this.#send(ws, { type: 'error', ...(id === undefined ? {} : { id }), ...errorBody(err) });
        }
      })();
    });
  }

  #send(ws: WebSocket, msg: ControlPush): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
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
      const body = await readBody(req, MAX_CONTROL_FRAME_BYTES);
      const result = await this.run(body);
      this.#json(res, 200, { result });
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

/** `{code, message}` of any error; errors without a code get `CONTROL_ERR_INTERNAL`. */
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
        rej(new ControlApiError('CONTROL_ERR_BAD_REQUEST', `body over ${limit} bytes`));
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
    throw new ControlApiError('CONTROL_ERR_UNAUTHORIZED', `no control.json in ${profileDir}`, {
      cause: err,
    });
  }
}

/** The UTF-8 text of a WebSocket message. */
function rawText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8');
}
