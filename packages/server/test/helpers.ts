/**
 * Test helpers: a real server on 127.0.0.1 with a temporary data directory, and real clients
 * (SignalingClient over `ws`) with fresh Ed25519 identities.
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
