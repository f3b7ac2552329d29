/**
 * The control API on a real loopback socket, driving a real ClientSession (not connected to a
 * server here: the e2e tests do that) and CallMedia.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClientSession, generateIdentity } from '@parloir/protocol';
import WebSocket from 'ws';
import { CallMedia } from '../engine/call-media.ts';
import { fixedApp } from './testing-app.ts';
import { ControlServer, readControlInfo } from './control-server.ts';

async function setup(): Promise<{
  dir: string;
  server: ControlServer;
  session: ClientSession;
  media: CallMedia;
  url: string;
  token: string;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-control-'));
  const session = new ClientSession({ identity: await generateIdentity(), name: 'alice' });
  const media = new CallMedia({ session, input: 'null', output: 'null' });
  const server = new ControlServer({ app: fixedApp(session, media), profileDir: dir });
  const info = await server.listen();
  return { dir, server, session, media, url: info.url, token: info.token };
}

test('HTTP: token, host check, state, commands and typed errors', async () => {
  const { dir, server, url, token } = await setup();
  try {
    const info = readControlInfo(dir);
    assert.equal(info.token, token);
    assert.equal(statSync(join(dir, 'control.json')).mode & 0o777, 0o600);
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await fetch(`${url}/api/state`)).status, 401);
    assert.equal(
      (await fetch(`${url}/api/state`, { headers: { authorization: 'Bearer nope' } })).status,
      401,
    );
    const st = (await (await fetch(`${url}/api/state`, { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    assert.equal(st.name, 'alice');
    assert.deepEqual(st.call, { phase: 'idle' });
    assert.deepEqual(st.connection, { kind: 'disconnected', fatal: false });

    const post = async (
      body: unknown,
    ): Promise<{ status: number; json: Record<string, unknown> }> => {
      const r = await fetch(`${url}/api/command`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const set = await post({ command: 'set', args: { name: 'bitrate', value: '24k' } });
    assert.equal(set.status, 200);
    assert.equal((set.json.result as { bitrateBps: number }).bitrateBps, 24000);
    const mute = await post({ command: 'set', args: { name: 'mute', value: 'on' } });
    assert.equal((mute.json.result as { muted: boolean }).muted, true);
    // A value of the wrong type fails the command's schema, with the path that failed.
    const typed = await post({ command: 'set', args: { name: 'mute', value: true } });
    assert.equal(typed.status, 400);
    assert.equal(typed.json.code, 'CONTROL_ERR_BAD_REQUEST');
    assert.match(String(typed.json.message), /\$\.args\.value/);
    const bad = await post({ command: 'set', args: { name: 'frame', value: '15' } });
    assert.equal(bad.status, 409);
    assert.equal(bad.json.code, 'ENGINE_ERR_BAD_SETTING');
    const unknown = await post({ command: 'selfDestruct' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.code, 'CONTROL_ERR_UNKNOWN_COMMAND');
    const noArg = await post({ command: 'invite', args: {} });
    assert.equal(noArg.json.code, 'CONTROL_ERR_BAD_REQUEST');
    const offline = await post({ command: 'invite', args: { peerId: '0'.repeat(32) } });
    assert.equal(offline.json.code, 'SIG_ERR_DISCONNECTED');
    const notJson = await fetch(`${url}/api/command`, { method: 'POST', headers: auth, body: '{' });
    assert.equal(((await notJson.json()) as { code: string }).code, 'CONTROL_ERR_BAD_REQUEST');
    // DNS rebinding: a foreign Host header is refused even with the token.
    const port = new URL(url).port;
    const rebind = await new Promise<number>((resolve) => {
      void import('node:http').then(({ request }) => {
        const r = request(
          {
            host: '127.0.0.1',
            port,
            path: '/api/state',
            headers: { ...auth, host: `evil.example:${port}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.end();
      });
    });
    assert.equal(rebind, 403);
    // No UI directory given: / is a typed 404.
    assert.equal((await fetch(`${url}/`)).status, 404);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WebSocket: state first, session events relayed, commands with ids', async () => {
  const { dir, server, session, url, token } = await setup();
  try {
    const refused = new WebSocket(`${url.replace('http', 'ws')}/api/ws`);
    const code = await new Promise<string>((resolve) => {
      refused.on('error', (e) => resolve(e.message));
    });
    assert.match(code, /401/);

    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws?token=${token}`);
    const msgs: Record<string, unknown>[] = [];
    ws.on('message', (d: Buffer) =>
      msgs.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>),
    );
    await new Promise((r) => ws.once('open', r));
    const wait = async (
      pred: (m: Record<string, unknown>) => boolean,
    ): Promise<Record<string, unknown>> => {
      for (let i = 0; i < 200; i++) {
        const m = msgs.find(pred);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('timeout');
    };
    const first = await wait(() => true);
    assert.equal(first.type, 'state');
    // A session event (the connection opening) reaches the control client as is.
    session.handleOpen({ send() {}, close() {} });
    const ev = await wait((m) => m.type === 'event');
    assert.deepEqual(ev, {
      type: 'event',
      event: 'connection',
      payload: { kind: 'awaiting-hello' },
    });
    ws.send(JSON.stringify({ id: 7, command: 'set', args: { name: 'jb-min', value: '60' } }));
    const r = await wait((m) => m.id === 7);
    assert.equal(r.type, 'result');
    assert.equal((r.result as { jbMinMs: number }).jbMinMs, 60);
    ws.send('not json');
    const e = await wait((m) => m.type === 'error');
    assert.equal(e.code, 'CONTROL_ERR_BAD_REQUEST');
    // The id comes back with a schema error, so the caller's request fails at once.
    ws.send(JSON.stringify({ id: 9, command: 'invite', args: { peerId: 'nope' } }));
    const e9 = await wait((m) => m.id === 9);
    assert.equal(e9.type, 'error');
    assert.equal(e9.code, 'CONTROL_ERR_BAD_REQUEST');
    ws.send(JSON.stringify({ id: 8, command: 'stats' }));
    const s = await wait((m) => m.id === 8);
    assert.deepEqual(s.result, { media: { phase: 'idle' }, qos: null });
    ws.close();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
