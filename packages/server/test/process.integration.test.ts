/**
 * The server as a child process (`parloir server`): a chat message acked just before `kill -9`
 * is delivered after restart, and of ten in flight during `kill -9` every acked one survives in
 * order; SIGTERM tells clients and exits within 5 s.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { generateIdentity } from '@parloir/protocol';
import { connectUser, next, tempDir, until } from './helpers.ts';

const CLI = resolve(import.meta.dirname, '../../client/src/cli.ts');

interface Child {
  proc: ChildProcess;
  url: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function spawnServer(dataDir: string, port = 0): Promise<Child> {
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'server',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      '--insecure-http',
      '--log-level',
      'warn',
      '--no-web',
      '--no-turn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  let out = '';
  const line = await new Promise<string>((resolveLine, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 60_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /parloir server listening url=(\S+) port=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveLine(m[0]);
      }
    });
    proc.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  const m = /url=(\S+) port=(\d+)/.exec(line) as RegExpExecArray;
  return { proc, url: m[1] as string, port: Number(m[2]), exited };
}

test('kill -9 right after an acked message: delivered after restart', async () => {
  const data = tempDir();
  let child = await spawnServer(data.dir);
  try {
    const alice = await connectUser(child, 'alice');
    const bobId = await generateIdentity();
    const bob = await connectUser(child, 'bob', { identity: bobId });
    bob.client.close();
    await until(() => !alice.session.online.has(bob.userId), 3000, 'bob offline');
    const ack = await alice.session.sendChat(bob.userId, 'survives kill -9');
    child.proc.kill('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL');
    alice.client.close();

    child = await spawnServer(data.dir, child.port);
    const bob2 = await connectUser(child, 'bob', { identity: bobId });
    // Messages may arrive with the snapshot, before connect() resolves: check the conversation.
    await until(
      () =>
        bob2.session.conversations
          .get(alice.userId)
          ?.messages.some((m) => m.msgId === ack.msgId) === true,
      3000,
      'stored message delivered after kill -9',
    );
    assert.equal(
      bob2.session.conversations.get(alice.userId)?.messages[0]?.text,
      'survives kill -9',
    );
    bob2.client.close();
  } finally {
    child.proc.kill('SIGKILL');
    data.remove();
  }
});

test('kill -9 with ten messages in flight: every acknowledged one survives, in order', async (t) => {
  const data = tempDir();
  let child = await spawnServer(data.dir);
  try {
    const alice = await connectUser(child, 'alice10');
    const bobId = await generateIdentity();
    const bob = await connectUser(child, 'bob10', { identity: bobId });
    bob.client.close();
    await until(() => !alice.session.online.has(bob.userId), 3000, 'bob offline');
    const acked = new Map<number, number>(); // send index -> msgId
    const send = (i: number): Promise<void> =>
      alice.session.sendChat(bob.userId, `in flight ${i}`).then(
        (m) => void acked.set(i, m.msgId),
        () => undefined, // not acknowledged: the server died first
      );
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) sends.push(send(i));
    // Once the first is acknowledged, five more are written and the server is killed at once:
    // messages 1-9 are in flight (sent, read or not, committed or not, acked or not).
    await sends[0];
    for (let i = 5; i < 10; i++) sends.push(send(i));
    child.proc.kill('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL');
    await Promise.all(sends);
    alice.client.close();
    assert.ok(acked.has(0), 'the first message was acknowledged before the kill');

    child = await spawnServer(data.dir, child.port);
    const bob2 = await connectUser(child, 'bob10', { identity: bobId });
    // Stored messages are sent right after the snapshot, so before this request's answer.
    await bob2.session.request('chat.history', { with: alice.userId, limit: 1 });
    const got = bob2.session.conversations.get(alice.userId)?.messages ?? [];
    const indices = got.map((m) => Number(/^in flight (\d+)$/.exec(m.text)?.[1]));
    t.diagnostic(`acknowledged ${acked.size} of 10, stored ${got.length}: [${indices.join(', ')}]`);
    // In msgId order the survivors are the first k messages sent, in the order sent: the server
    // commits one connection's requests in order, so nothing later survives a lost earlier one.
    assert.deepEqual(
      indices,
      Array.from({ length: got.length }, (_, i) => i),
      'stored messages are a prefix of what was sent, in order',
    );
    for (const [i, msgId] of acked) {
      assert.equal(got[i]?.msgId, msgId, `acknowledged message ${i} survived with its msgId`);
    }
    bob2.client.close();
  } finally {
    child.proc.kill('SIGKILL');
    data.remove();
  }
});

test('SIGTERM: clients are told, the process exits within 5 s', async () => {
  const data = tempDir();
  const child = await spawnServer(data.dir);
  try {
    const u = await connectUser(child, 'carol');
    const shutdown = next(u.session, 'shutdown');
    const t0 = Date.now();
    child.proc.kill('SIGTERM');
    assert.match((await shutdown).reason, /shutting down/);
    const exit = await child.exited;
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - t0 < 5000, `exited in ${Date.now() - t0} ms`);
    await until(() => u.session.connection.kind === 'disconnected', 2000, 'closed');
    const c = u.session.connection;
    assert.equal(c.kind === 'disconnected' ? c.closeCode : 0, 1001);
  } finally {
    child.proc.kill('SIGKILL');
    data.remove();
  }
});

test('close() resolves in a script with nothing else on the event loop (the store thread does not hold it)', async () => {
  const tmp = tempDir();
  const dir = tmp.dir;
  // An embedding script: start, close, then print; before the fix the process exited first.
  const script = [
    `import { startServer } from ${JSON.stringify(resolve(import.meta.dirname, '../src/index.ts'))};`,
    `const s = await startServer({ bind: '127.0.0.1', port: 0, dataDir: ${JSON.stringify(dir)}, insecureHttp: true, logLevel: 'warn' });`,
    `await s.close();`,
    `console.log('closed');`,
  ].join('\n');
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  tmp.remove();
  assert.equal(code, 0, err);
  assert.match(out, /closed/, err);
});
