/**
 * Issue 17 on the native client's side: the control server (which also serves the web UI with
 * `--ui`) sends the server's CSP and Referrer-Policy, and its WebSocket refuses pages of other
 * origins even with the token; the profile directory and identity key are 0700/0600 whatever
 * the umask, and are repaired when an older version left them readable.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClientSession, generateIdentity } from '@parloir/protocol';
import { CONTENT_SECURITY_POLICY } from '@parloir/server';
import WebSocket from 'ws';
import { CallMedia } from '../engine/call-media.ts';
import { loadOrCreateProfile } from '../signaling/profile.ts';
import { fixedApp } from './testing-app.ts';
import { ControlServer } from './control-server.ts';

function tryWs(url: string, origin: string | undefined): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

test('control server: CSP and Referrer-Policy on UI and API responses; /api/ws refuses other origins', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-control-sec-'));
  const uiDir = join(dir, 'ui');
  mkdirSync(uiDir);
  writeFileSync(
    join(uiDir, 'index.html'),
    '<!doctype html><html><head></head><body></body></html>',
  );
  const session = new ClientSession({ identity: await generateIdentity(), name: 'alice' });
  const media = new CallMedia({ session, input: 'null', output: 'null' });
  const server = new ControlServer({ app: fixedApp(session, media), profileDir: dir, uiDir });
  const info = await server.listen();
  try {
    for (const path of ['/', '/index.html', '/api/state']) {
      const res = await fetch(`${info.url}${path}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
    }
    const ws = `${info.url.replace('http', 'ws')}/api/ws?token=${info.token}`;
    assert.equal(await tryWs(ws, 'https://evil.example'), 403);
    assert.equal(await tryWs(ws, info.url), 'open');
    assert.equal(await tryWs(ws, undefined), 'open');
  } finally {
    await server.close();
    await media.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('profile directory 0700 and identity.json 0600 under umask 0, repaired on load', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-profile-'));
  const dir = join(root, 'profile');
  const old = process.umask(0);
  try {
    await loadOrCreateProfile(dir);
    const id = join(dir, 'identity.json');
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    assert.equal((statSync(id).mode & 0o777).toString(8), '600');
    chmodSync(dir, 0o755);
    chmodSync(id, 0o644);
    await loadOrCreateProfile(dir);
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    assert.equal((statSync(id).mode & 0o777).toString(8), '600');
  } finally {
    process.umask(old);
    rmSync(root, { recursive: true, force: true });
  }
});
