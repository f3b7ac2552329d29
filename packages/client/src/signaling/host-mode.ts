/**
 * `parloir host`: a server in host mode plus the host's own signalling client, connected over
 * loopback with the server's exact certificate fingerprint. The host approves or refuses each
 * join request. The engine adds the host's audio on top of {@link HostHandle.client}.
 */
import { createInterface } from 'node:readline';
import { startServer, type RunningServer, type ServerOptions } from '@parloir/server';
import { sanitizeForTerminal, type JoinRequest } from '@parloir/protocol';
import { SignalingClient } from './signaling-client.ts';
import { loadOrCreateProfile } from './profile.ts';

/** Options of {@link startHost}. */
export interface HostOptions {
  /** The host's display name. */
  user: string;
  /** Accept everyone without asking. */
  acceptAll?: boolean;
  /** Profile directory holding the host's identity (default the user profile). */
  profileDir?: string;
  /** Server options (port, TLS, data dir…). */
  server?: ServerOptions;
}

/** A running host. */
export interface HostHandle {
  /** The server. */
  server: RunningServer;
  /** The host's own signalling client (already ready). */
  client: SignalingClient;
  /** Stops the client and the server. */
  close(): Promise<void>;
}

/** Starts the server in host mode and connects the host to it. */
export async function startHost(options: HostOptions): Promise<HostHandle> {
  const profile = await loadOrCreateProfile(options.profileDir);
  const server = await startServer({
    ...options.server,
    host: { name: options.user, userId: profile.userId, acceptAll: options.acceptAll === true },
  });
  const client = new SignalingClient({
    url: server.url,
    identity: profile.signer,
    name: options.user,
    ...(server.fingerprint ? { fingerprint: server.fingerprint } : {}),
    ...(options.server?.password !== undefined ? { password: options.server.password } : {}),
  });
  try {
    await client.connect();
  } catch (err) {
    await server.close(500);
    throw err;
  }
  return {
    server,
    client,
    close: async () => {
      client.close();
      await server.close(2000);
    },
  };
}

/** One line describing a join request, for the terminal. */
export function describeJoinRequest(r: JoinRequest): string {
  // Everything here came from the network: no escape sequences or bidi overrides (issue 17).
  const t = (s: string): string => sanitizeForTerminal(s);
  return `join request ${t(r.requestId)}: "${t(r.name)}" key ${t(r.fingerprint)} from ${t(r.address)}`;
}

/**
 * Terminal approval loop: prints each request and reads `a [ID]` / `r [ID]` (or y/n) from
 * `input`; without an ID the oldest pending request is meant. Returns a stop function.
 */
export function approveFromTerminal(
  client: SignalingClient,
  input: NodeJS.ReadableStream = process.stdin,
  print: (line: string) => void = (l) => console.log(l),
): () => void {
  const session = client.session;
  const offReq = session.on('joinRequest', (r) => {
    print(describeJoinRequest(r));
    print(`  accept: a ${r.requestId}   refuse: r ${r.requestId}`);
  });
  const offRes = session.on('joinResolved', (r) =>
    print(`join request ${r.requestId}: ${r.outcome}`),
  );
  const rl = createInterface({ input, terminal: false });
  rl.on('line', (line) => {
    const [verb = '', id] = line.trim().split(/\s+/);
    const accept = /^(a|accept|y|yes)$/i.test(verb);
    const refuse = /^(r|refuse|n|no)$/i.test(verb);
    if (!accept && !refuse) {
      if (verb) print(`unknown answer "${verb}": use a [ID] or r [ID]`);
      return;
    }
    const requestId = id ?? session.joinRequests.keys().next().value;
    if (requestId === undefined) {
      print('no pending join request');
      return;
    }
    session.decideJoin(requestId, accept).catch((err: unknown) => {
      print(`cannot decide ${requestId}: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  return () => {
    offReq();
    offRes();
    rl.close();
  };
}
