/**
 * Issue 17 "at rest and on the web", each defence tested by mounting its attack on a real server
 * on 127.0.0.1: files written under umask 0 (and files left world-readable by an older version)
 * end up 0700/0600; every response carries the CSP and Referrer-Policy; a page of another origin
 * cannot open /ws (cross-site WebSocket hijacking); /metrics is closed to remote scrapers and,
 * with a token, to requests without it.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { WebSocket } from 'ws';
import { securePrivateDatabase } from './file-modes.ts';
import { CONTENT_SECURITY_POLICY, metricsAllowed, originAllowed } from './http-security.ts';
import { startServer } from './server.ts';

const silent = pino({ level: 'silent' });
const modeOf = (p: string): number => statSync(p).mode & 0o777;

test('data directory 0700, database (+ -wal, -shm) and TLS key 0600 under umask 0, and repaired at restart', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-modes-'));
  const dataDir = join(root, 'data');
  const old = process.umask(0);
  try {
    let server = await startServer({
      bind: '127.0.0.1',
      port: 0,
      dataDir,
      logger: silent,
      webRoot: null,
    });
    const db = join(dataDir, 'parloir.db');
    const files = [db, `${db}-wal`, `${db}-shm`, join(dataDir, 'tls-key.pem')];
    const check = (): void => {
      assert.equal(modeOf(dataDir).toString(8), '700', 'data directory');
      for (const f of files) {
        assert.ok(existsSync(f), `${f} exists`);
        assert.equal(modeOf(f).toString(8), '600', f);
      }
    };
    check();
    await server.close();
    // What an older version (or a careless copy) left behind: world-readable everything.
    chmodSync(dataDir, 0o755);
    for (const f of files) if (existsSync(f)) chmodSync(f, 0o644);
    server = await startServer({
      bind: '127.0.0.1',
      port: 0,
      dataDir,
      logger: silent,
      webRoot: null,
    });
    check();
    await server.close();
  } finally {
    process.umask(old);
    rmSync(root, { recursive: true, force: true });
  }
});

test('securePrivateDatabase creates a missing database file 0600 even under umask 0', () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-modes-'));
  const old = process.umask(0);
  try {
    const db = join(root, 'x.db');
    securePrivateDatabase(db);
    assert.equal(modeOf(db).toString(8), '600');
    securePrivateDatabase(':memory:');
  } finally {
    process.umask(old);
    rmSync(root, { recursive: true, force: true });
  }
});

/** A WebSocket upgrade to `url` with `origin`: 'open' or the HTTP status it was refused with. */
function tryWs(url: string, origin: string | undefined): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

test('CSP, Referrer-Policy and framing headers on every response; /ws refuses foreign origins; /metrics closed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-web-'));
  const webRoot = join(root, 'web');
  mkdirSync(webRoot);
  writeFileSync(
    join(webRoot, 'index.html'),
    '<!doctype html><script type="module" src="./a.js"></script>',
  );
  const server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    dataDir: join(root, 'data'),
    logger: silent,
    insecureHttp: true,
    webRoot,
    allowedOrigins: ['https://parloir.example'],
    metricsToken: 's3cret-token',
  });
  try {
    for (const path of ['/', '/index.html', '/no/such/route', '/healthz', '/metrics', '/nope.js']) {
      const res = await fetch(`${server.httpUrl}${path}`);
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.equal(csp, CONTENT_SECURITY_POLICY, path);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }

    // Cross-site WebSocket hijacking: the attack is a page elsewhere opening our /ws.
    const own = server.httpUrl; // http://127.0.0.1:PORT
    assert.equal(await tryWs(server.url, 'https://evil.example'), 403);
    assert.equal(await tryWs(server.url, 'null'), 403);
    assert.equal(await tryWs(server.url, `http://localhost:${server.port}`), 403);
    assert.equal(await tryWs(server.url, own), 'open');
    assert.equal(await tryWs(server.url, 'https://parloir.example'), 'open');
    assert.equal(await tryWs(server.url, 'https://PARLOIR.example:443'), 'open');
    assert.equal(await tryWs(server.url, undefined), 'open'); // native clients send no Origin

    // /metrics with a token: refused without it or with a wrong one, even from loopback.
    assert.equal((await fetch(`${own}/metrics`)).status, 401);
    const wrong = await fetch(`${own}/metrics`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${own}/metrics`, { headers: { authorization: 'Bearer s3cret-token' } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /parloir_/);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

/** A fake request for the pure checks. */
function fakeReq(headers: Record<string, string>, remoteAddress: string): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

test('metricsAllowed: without a token only this machine; originAllowed: own origin by Host and scheme', () => {
  assert.equal(metricsAllowed(fakeReq({}, '127.0.0.1'), undefined), true);
  assert.equal(metricsAllowed(fakeReq({}, '::1'), undefined), true);
  assert.equal(metricsAllowed(fakeReq({}, '::ffff:127.0.0.1'), undefined), true);
  assert.equal(metricsAllowed(fakeReq({}, '203.0.113.7'), undefined), false);
  assert.equal(metricsAllowed(fakeReq({}, '::ffff:10.0.0.2'), undefined), false);
  assert.equal(metricsAllowed(fakeReq({ authorization: 'Bearer t' }, '203.0.113.7'), 't'), true);
  assert.equal(metricsAllowed(fakeReq({ authorization: 'Bearer tt' }, '127.0.0.1'), 't'), false);
  const host = { host: 'voice.example:8443' };
  assert.equal(
    originAllowed(fakeReq({ ...host, origin: 'https://voice.example:8443' }, ''), true),
    true,
  );
  // The same host over plain HTTP is another origin.
  assert.equal(
    originAllowed(fakeReq({ ...host, origin: 'http://voice.example:8443' }, ''), true),
    false,
  );
  assert.equal(
    originAllowed(fakeReq({ ...host, origin: 'chrome-extension://abc' }, ''), true),
    false,
  );
  assert.equal(originAllowed(fakeReq({ ...host, origin: 'not a url' }, ''), true), false);
});
