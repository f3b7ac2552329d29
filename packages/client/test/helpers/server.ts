/**
 * A real Parloir server for end-to-end tests, started in-process on 127.0.0.1 with plain HTTP
 * (`--insecure-http`), a temporary data directory and, optionally, the built-in TURN relay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startServer,
  type MediaRelay,
  type RunningServer,
  type ServerOptions,
} from '@parloir/server';
import { createTurnRelay } from '../../../server/src/turn/index.ts';

/** A running test server. */
export interface TestServer {
  /** The server. */
  server: RunningServer;
  /** `http://127.0.0.1:PORT`, as `--server` takes it. */
  serverArg: string;
  /** The relay, when started. */
  relay: Awaited<ReturnType<typeof createTurnRelay>> | undefined;
  /** Stops everything and removes the data directory. */
  close(): Promise<void>;
}

/** Starts a server (and a TURN relay with `turn: true`). */
export async function startTestServer(
  options: {
    /** Start the built-in TURN relay too. */
    turn?: boolean;
    relayOnly?: boolean;
    port?: number;
    dataDir?: string;
    /**
     * Called with the relay's UDP port once it listens; the TURN URLs handed to clients then
     * name the port it resolves to instead (a `parloir netem` in front of the relay).
     */
    relayVia?: (relayPort: number) => Promise<number>;
  } & Omit<Partial<ServerOptions>, 'relay'> = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'parloir-srv-'));
  // The relay needs the call directory, which exists only once the server has started.
  const ref: { core?: RunningServer['core'] } = {};
  const relay = options.turn
    ? await createTurnRelay({
        listenHost: '127.0.0.1',
        port: 0,
        tcp: false,
        secret: 'e2e-test-secret',
        relayOnly: options.relayOnly ?? false,
        calls: { partiesOf: (callId) => ref.core?.partiesOf(callId) },
      })
    : undefined;
  const r = relay;
  const viaPort = r !== undefined && options.relayVia ? await options.relayVia(r.port) : undefined;
  const advertised: MediaRelay | undefined =
    r === undefined || viaPort === undefined
      ? r
      : {
          relayOnly: r.relayOnly,
          callEnded: (id) => r.callEnded(id),
          iceServersFor: (callId, userId, now) =>
            r.iceServersFor(callId, userId, now).map((s) => ({
              ...s,
              urls: s.urls.map((u) => u.replace(`:${r.port}`, `:${viaPort}`)),
            })),
        };
  const server = await startServer({
    bind: '127.0.0.1',
    port: options.port ?? 0,
    dataDir,
    insecureHttp: true,
    logLevel: 'silent',
    webRoot: null,
    ...(advertised === undefined ? {} : { relay: advertised }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.publicOrigins === undefined ? {} : { publicOrigins: options.publicOrigins }),
  });
  ref.core = server.core;
  return {
    server,
    serverArg: `http://127.0.0.1:${server.port}`,
    relay,
    async close() {
      await server.close(500);
      await relay?.close();
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
