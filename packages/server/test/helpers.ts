/**
 * Test helpers: a real server on 127.0.0.1 with a temporary data directory, and real clients
 * (SignalingClient over `ws`) with fresh Ed25519 identities.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { WebSocket } from 'ws';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, type ClientSession, type ClientSessionEvents } from '@parloir/protocol';
import { startServer, type RunningServer, type ServerOptions } from '../src/index.ts';
import { SignalingClient, type SignalingClientOptions } from '../../client/src/signaling/index.ts';

/** A temporary directory removed by the returned function. */
export function tempDir(prefix = 'parloir-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts a plain-HTTP server on an ephemeral loopback port with a temp data dir. */
export async function startTestServer(
  options: ServerOptions = {},
): Promise<RunningServer & { cleanup: () => Promise<void> }> {
  const tmp = options.dataDir ? undefined : tempDir();
  const server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    insecureHttp: true,
    logLevel: 'silent',
    webRoot: null,
    presenceBatchMs: 10,
    ...options,
    ...(tmp ? { dataDir: tmp.dir } : {}),
  });
  return {
    ...server,
    cleanup: async () => {
      await server.close(500);
      tmp?.remove();
    },
  };
}

/** A connected test client. */
export interface TestClient {
  client: SignalingClient;
  session: ClientSession;
  userId: string;
  name: string;
}

let counter = 0;

/** Connects a new user (fresh key) and waits until ready (or pending, with untilReady false). */
export async function connectUser(
  server: { url: string },
  name = `user${++counter}`,
  extra: Partial<SignalingClientOptions> & { untilReady?: boolean } = {},
): Promise<TestClient> {
  const identity = extra.identity ?? (await generateIdentity());
  const client = new SignalingClient({
    url: server.url,
    identity,
    name,
    reconnect: false,
    ...extra,
  });
  await client.connect({ untilReady: extra.untilReady ?? true });
  return { client, session: client.session, userId: client.session.userId ?? '', name };
}

/** Resolves with the next matching event, or rejects after `ms`. */
export function next<K extends keyof ClientSessionEvents>(
  session: ClientSession,
  event: K,
  predicate: (p: ClientSessionEvents[K]) => boolean = () => true,
  ms = 3000,
): Promise<ClientSessionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timeout waiting for ${event}`));
    }, ms);
    const off = session.on(event, (p) => {
      if (predicate(p)) {
        clearTimeout(timer);
        off();
        resolve(p);
      }
    });
  });
}

/** Waits until `cond()` holds, polling every 5 ms, or rejects after `ms`. */
export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw WebSocket client that records every frame (for bad-input tests). */
export interface RawClient {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first recorded frame (past or future) matching `pred`. */
  frame(
    pred: (f: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
}

/** Opens a raw WebSocket to `url`; resolves once open. */
export async function rawClient(
  url: string,
  opts: { autoPong?: boolean } = {},
): Promise<RawClient> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url, { autoPong: opts.autoPong ?? true });
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d: Buffer) => {
    try {
      frames.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>);
    } catch {
      frames.push({ unparsable: d.toString('utf8') });
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closed,
    frame: async (pred, ms = 3000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const f = frames.find(pred);
        if (f) return f;
        if (Date.now() > deadline)
          throw new Error(`no matching frame in ${JSON.stringify(frames).slice(0, 300)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}
