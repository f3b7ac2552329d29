/**
 * Host mode (approve, refuse, pending sees nothing), bad input and limits (typed errors with
 * the connection kept, repeated violations, oversize frames, auth timeout, per-IP limit,
 * password, max users), HTTP endpoints (healthz, metrics, static files, no traversal).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateIdentity, userIdOf, type SignalingError } from '@parloir/protocol';
import { connectUser, next, rawClient, startTestServer, tempDir, until } from './helpers.ts';

test('host mode: requests reach the host; approve lets in, refuse closes; pending sees nothing', async () => {
  const hostId = await generateIdentity();
  const server = await startTestServer({
    host: { name: 'hostess', userId: await userIdOf(hostId.publicKey) },
  });
  try {
    const host = await connectUser(server, 'hostess', { identity: hostId });
    const reqP = next(host.session, 'joinRequest');
    const guest = await connectUser(server, 'guest', { untilReady: false });
    assert.equal(guest.session.connection.kind, 'pending-approval');
    const req = await reqP;
    assert.equal(req.name, 'guest');
    assert.equal(req.fingerprint, guest.userId);
    assert.equal(req.address, '127.0.0.1');
    // Until accepted the requester sees nothing and can do nothing.
    assert.equal(guest.session.online.size, 0);
    await assert.rejects(
      guest.session.invite(host.userId),
      (e: SignalingError) => e.code === 'SIG_ERR_PENDING_APPROVAL',
    );
    assert.equal(host.session.online.has(guest.userId), false);
    const ready = next(guest.session, 'ready');
    await host.session.decideJoin(req.requestId, true);
    await ready;
    assert.ok(guest.session.online.has(host.userId));
    await until(() => host.session.online.has(guest.userId), 2000, 'host sees guest');
    // A non-host cannot decide.
    await assert.rejects(
      guest.session.decideJoin('x', true),
      (e: SignalingError) => e.code === 'SIG_ERR_FORBIDDEN',
    );

    const req2P = next(host.session, 'joinRequest');
    const intruderP = connectUser(server, 'intruder');
    const req2 = await req2P;
    await host.session.decideJoin(req2.requestId, false);
    await assert.rejects(intruderP, (e: SignalingError) => e.code === 'SIG_ERR_REFUSED');
    assert.equal(host.session.online.has(req2.fingerprint), false);
    // The host's name is the host's.
    await assert.rejects(
      connectUser(server, 'hostess'),
      (e: SignalingError) => e.code === 'SIG_ERR_NAME_TAKEN',
    );
    host.client.close();
    guest.client.close();
  } finally {
    await server.cleanup();
  }
});

test('host mode --accept-all lets everyone in', async () => {
  const server = await startTestServer({ host: { name: 'h', acceptAll: true } });
  try {
    const g = await connectUser(server, 'g');
    assert.equal(g.session.connection.kind, 'ready');
    g.client.close();
  } finally {
    await server.cleanup();
  }
});

test('bad input: typed errors, connection kept; repeated violations close it; others unaffected', async () => {
  const server = await startTestServer({ maxViolations: 5 });
  try {
    const good = await connectUser(server);
    const raw = await rawClient(server.url);
    raw.ws.send('{not json');
    raw.ws.send(JSON.stringify({ type: 'call.invite', id: 2, to: 42 }));
    raw.ws.send(JSON.stringify({ type: 'nope', id: 3 }));
    raw.ws.send(JSON.stringify({ type: 'ping', id: 4 }));
    assert.equal(
      (await raw.frame((f) => f.type === 'error' && f.id === undefined)).code,
      'SIG_ERR_BAD_JSON',
    );
    assert.equal((await raw.frame((f) => f.id === 2)).code, 'SIG_ERR_SCHEMA');
    assert.equal((await raw.frame((f) => f.id === 3)).code, 'SIG_ERR_UNKNOWN_TYPE');
    assert.equal((await raw.frame((f) => f.id === 4)).type, 'result', 'connection kept');
    raw.ws.send(JSON.stringify({ type: 'ping', id: 5, pad: 'x'.repeat(70_000) }));
    await raw.frame((f) => f.code === 'SIG_ERR_MESSAGE_TOO_LARGE');
    raw.ws.send(JSON.stringify({ type: 'block.list', id: 6 }));
    assert.equal((await raw.frame((f) => f.id === 6)).code, 'SIG_ERR_NOT_AUTHENTICATED');
    const closed = await raw.closed;
    assert.equal(closed.code, 4008);
    assert.match(closed.reason, /violations/);
    await good.session.request('ping', {});
    good.client.close();
  } finally {
    await server.cleanup();
  }
});

test('limits: auth timeout, per-IP connections, password, max users', async () => {
  const server = await startTestServer({
    authTimeoutMs: 300,
    maxConnectionsPerIp: 3,
    password: 's3cret',
    maxUsers: 1,
  });
  try {
    const idle = await rawClient(server.url);
    const t0 = Date.now();
    assert.equal((await idle.closed).code, 4010);
    assert.ok(Date.now() - t0 < 1500);
    const a = await rawClient(server.url);
    const b = await rawClient(server.url);
    const c = await rawClient(server.url);
    await assert.rejects(rawClient(server.url), /429/);
    for (const r of [a, b, c]) r.ws.terminate();
    // The per-IP count drops in the same close handler that tells the core.
    await until(() => server.core.stats().connections === 0, 3000, 'server saw the closes');
    await assert.rejects(
      connectUser(server, 'nopass'),
      (e: SignalingError) => e.code === 'SIG_ERR_BAD_PASSWORD',
    );
    const ok = await connectUser(server, 'withpass', { password: 's3cret' });
    await assert.rejects(
      connectUser(server, 'second', { password: 's3cret' }),
      (e: SignalingError) => e.code === 'SIG_ERR_SERVER_FULL',
    );
    ok.client.close();
  } finally {
    await server.cleanup();
  }
});

test('HTTP: /healthz, /metrics, static web UI with fallback and no traversal', async () => {
  const web = tempDir();
  mkdirSync(join(web.dir, 'assets'));
  writeFileSync(join(web.dir, 'index.html'), '<!doctype html><title>Parloir</title>');
  writeFileSync(join(web.dir, 'assets', 'app.js'), 'console.log(1)');
  const server = await startTestServer({ webRoot: web.dir });
  try {
    const u = await connectUser(server);
    const h = (await (await fetch(`${server.httpUrl}/healthz`)).json()) as {
      status: string;
      online: number;
    };
    assert.deepEqual([h.status, h.online], ['ok', 1]);
    const m = await (await fetch(`${server.httpUrl}/metrics`)).text();
    assert.match(m, /parloir_clients_online 1/);
    assert.match(m, /parloir_calls\{state="accepted"\} 0/);
    const js = await fetch(`${server.httpUrl}/assets/app.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const route = await fetch(`${server.httpUrl}/call/someone`);
    assert.match(await route.text(), /<title>Parloir/);
    assert.equal((await fetch(`${server.httpUrl}/assets/missing.js`)).status, 404);
    const trav = await fetch(`${server.httpUrl}/assets%2F..%2F..%2F..%2Fetc%2Fpasswd`);
    assert.equal(trav.status, 403);
    u.client.close();
  } finally {
    await server.cleanup();
    web.remove();
  }
});
