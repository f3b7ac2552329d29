/**
 * Login bound to the server (issue 17 §2) over TLS: a native client that reaches a TLS server
 * through an address the server does not know as its own (here a TCP port forward, as NAT or a
 * DNS name would be) signs the server's certificate fingerprint, which the server's `hello`
 * asks for, and logs in. The same login signed for the URL's origin would be refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '@parloir/server';
import { loadOrCreateProfile } from './profile.ts';
import { SignalingClient } from './signaling-client.ts';

test('over TLS through a port forward, the login signs the certificate and passes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-login-tls-'));
  const server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    dataDir: join(root, 'srv'),
    logLevel: 'silent',
    webRoot: null,
  });
  const sockets = new Set<Socket>();
  const forward = createServer((inbound) => {
    const outbound = connect(server.port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => forward.listen(0, '127.0.0.1', () => r()));
  const port = (forward.address() as AddressInfo).port;
  try {
    const profile = await loadOrCreateProfile(join(root, 'profile'));
    const frames: string[] = [];
    const client = new SignalingClient({
      url: `wss://127.0.0.1:${port}/ws`,
      identity: profile.signer,
      name: 'forwarded',
      profileDir: profile.dir,
      reconnect: false,
    });
    client.session.on('connection', (c) => frames.push(c.kind));
    try {
      await client.connect();
      assert.equal(client.session.connection.kind, 'ready');
    } finally {
      client.close();
    }
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => forward.close(() => r()));
    await server.close(500);
    rmSync(root, { recursive: true, force: true });
  }
});
