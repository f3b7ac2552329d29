/**
 * Live calls across `kill -9` of the server process (issue 21 §3, the signalling side): the
 * server (`parloir server`, a child process, real SQLite, built-in TURN on a fixed port) is
 * killed during two accepted calls and restarted on the same ports and data directory.
 * - Alice and Bob reconnect by themselves, their logins name the call, they re-attach: the call
 *   is the same, the relay of the new process accepts the TURN credential the old one issued
 *   (Allocate succeeds), and after the hang-up the record has its end time and reason.
 * - Carol and Dave never come back: the call ends when the grace does (`disconnected`), with an
 *   end time, and the relay refuses its credential from then on.
 * - Then an upgrade's restart (SIGTERM, start again): a new call of Alice and Bob is kept open
 *   through it the same way and ends normally after it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import type { IceServer } from '@parloir/protocol';
import { TurnTestClient } from '../src/turn/client.ts';
import { UdpTurn } from '../src/turn/relay-test-kit.ts';
import { connectUser, next, tempDir, until, type TestClient } from './helpers.ts';

const CLI = resolve(import.meta.dirname, '../../client/src/cli.ts');
const GRACE_MS = 8_000;

interface Child {
  proc: ChildProcess;
  url: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `parloir server` with its relay on `turnPort`; resolves once it listens. */
async function spawnServer(dataDir: string, port: number, turnPort: number): Promise<Child> {
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
      '--turn-port',
      String(turnPort),
      '--turn-listen',
      '127.0.0.1',
      '--turn-relay-address',
      '127.0.0.1',
      '--call-grace-ms',
      String(GRACE_MS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  let out = '';
  const m = await new Promise<RegExpExecArray>((resolveLine, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 60_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const found = /parloir server listening url=(\S+) port=(\d+)/.exec(out);
      if (found) {
        clearTimeout(timer);
        resolveLine(found);
      }
    });
    proc.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return { proc, url: m[1] as string, port: Number(m[2]), exited };
}

/**
 * A port free for TCP and UDP on loopback, outside the ephemeral range (32768-60999 here): the
 * server restarts on it, and an ephemeral port may be taken by another socket meanwhile.
 */
async function freeFixedPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const tcp = createServer();
    const tcpOk = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => r(true));
    });
    if (!tcpOk) continue;
    const udp = createSocket('udp4');
    const udpOk = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    if (udpOk) {
      await new Promise<void>((r) => udp.close(() => r()));
      return port;
    }
  }
  throw new Error('no port free for TCP and UDP in 20000-31999');
}

/** `a` calls `b`, `b` answers; resolves with the call id and `a`'s TURN credential. */
async function call(a: TestClient, b: TestClient): Promise<{ callId: string; turn: IceServer }> {
  const incoming = next(b.session, 'incomingCall');
  const accepted = next(a.session, 'callAccepted');
  const callId = await a.session.invite(b.userId);
  await incoming;
  await b.session.accept();
  const active = await accepted;
  const turn = active.iceServers.find((s) => s.username !== undefined);
  assert.ok(turn?.username && turn.credential, 'TURN credential handed out');
  return { callId, turn };
}

/** One Allocate with `turn`'s credential against the relay on `port`: its error code (0: ok). */
async function allocate(port: number, turn: IceServer): Promise<number> {
  const tc = new TurnTestClient({ username: turn.username ?? '', password: turn.credential ?? '' });
  const client = new UdpTurn(port, tc);
  await client.open();
  try {
    return (await client.allocate()).errorCode;
  } finally {
    client.close();
  }
}

/** The stored record of `callId`, read from the database file (WAL: a second reader is fine). */
function record(dbPath: string, callId: string) {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare('SELECT * FROM calls WHERE call_id = ?').get(callId) as
      | { answered_at: number | null; ended_at: number | null; end_reason: string | null }
      | undefined;
  } finally {
    db.close();
  }
}

test('kill -9 during two calls: the parties who come back keep theirs, the other ends with the grace', async (t) => {
  const data = tempDir();
  const dbPath = resolve(data.dir, 'parloir.db');
  const turnPort = await freeFixedPort();
  let child = await spawnServer(data.dir, await freeFixedPort(), turnPort);
  const clients: TestClient[] = [];
  try {
    const backoff = { baseMs: 200, maxMs: 1_000 };
    const alice = await connectUser(child, 'alice', { reconnect: true, backoff });
    const bob = await connectUser(child, 'bob', { reconnect: true, backoff });
    const carol = await connectUser(child, 'carol');
    const dave = await connectUser(child, 'dave');
    clients.push(alice, bob, carol, dave);
    const kept = await call(alice, bob);
    const lost = await call(carol, dave);
    assert.equal(await allocate(turnPort, kept.turn), 0, 'allocate before the kill');
    // The answer times are committed by the store's writer thread within a tick or two.
    await until(() => record(dbPath, lost.callId)?.answered_at != null, 3_000, 'answer recorded');

    child.proc.kill('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL');
    carol.client.close();
    dave.client.close();
    // Whoever re-attaches second is announced to the first: at least one of these.
    const backAgain: string[] = [];
    for (const c of [alice, bob])
      c.session.on('peerReconnected', (p) => void backAgain.push(`${c.name}:${p.callId}`));
    const t0 = Date.now();
    child = await spawnServer(data.dir, child.port, turnPort);
    const restartedAt = Date.now();

    // Both reconnect with backoff, their logins name the call and they re-attach.
    await until(
      () =>
        alice.session.connection.kind === 'ready' &&
        bob.session.connection.kind === 'ready' &&
        backAgain.length > 0,
      20_000,
      'both ready and re-attached',
    );
    assert.ok(
      backAgain.every((x) => x.endsWith(`:${kept.callId}`)),
      backAgain.join(),
    );
    const reattached = Date.now();
    t.diagnostic(
      `restart took ${restartedAt - t0} ms; both re-attached ${reattached - restartedAt} ms after`,
    );
    assert.equal(alice.session.call.phase, 'active');
    assert.equal(bob.session.call.phase, 'active');
    const aliceCall = alice.session.call;
    assert.equal(aliceCall.phase === 'active' ? aliceCall.callId : '', kept.callId);
    // The new process's relay accepts the credential the old one issued for the kept call.
    assert.equal(await allocate(turnPort, kept.turn), 0, 'allocate after the restart');
    // Signals flow again between the re-attached parties.
    const signal = next(bob.session, 'signal');
    await alice.session.sendSignal({ kind: 'end-of-candidates' });
    assert.equal((await signal).callId, kept.callId);

    // Carol and Dave never came back: their call ends when the grace does, with an end time.
    await until(
      () => record(dbPath, lost.callId)?.ended_at != null,
      GRACE_MS + 5_000,
      'the abandoned call ended',
    );
    const ended = record(dbPath, lost.callId);
    assert.equal(ended?.end_reason, 'disconnected');
    assert.ok((ended?.ended_at ?? 0) >= restartedAt + GRACE_MS - 1_000, 'ended at the grace');
    const refused = await allocate(turnPort, lost.turn);
    assert.equal(refused, 401, "the ended call's credential is refused");
    assert.equal(alice.session.call.phase, 'active', 'the kept call outlived the grace');

    // The kept call ends normally: the record spans the restart and has its end time.
    const aliceEnded = next(alice.session, 'callEnded');
    await bob.session.hangup();
    assert.equal((await aliceEnded).reason, 'hangup');
    await until(() => record(dbPath, kept.callId)?.ended_at != null, 3_000, 'end recorded');
    const rec = record(dbPath, kept.callId);
    assert.equal(rec?.end_reason, 'hangup');
    assert.ok((rec?.answered_at ?? Infinity) < t0, 'answered before the kill');
    assert.ok((rec?.ended_at ?? 0) > restartedAt, 'ended after the restart');

    // An upgrade's restart (SIGTERM, then start again): the accepted call is kept the same way.
    const upgraded = await call(alice, bob);
    const told = next(alice.session, 'shutdown');
    child.proc.kill('SIGTERM');
    assert.equal((await told).reason, 'server shutting down');
    assert.equal((await child.exited).code, 0);
    assert.equal(record(dbPath, upgraded.callId)?.ended_at, null, 'left open for the next start');
    backAgain.length = 0;
    const t1 = Date.now();
    child = await spawnServer(data.dir, child.port, turnPort);
    await until(
      () =>
        alice.session.connection.kind === 'ready' &&
        bob.session.connection.kind === 'ready' &&
        backAgain.length > 0,
      20_000,
      'both re-attached after the upgrade',
    );
    t.diagnostic(`upgrade: both re-attached ${Date.now() - t1} ms after the kill`);
    assert.equal(await allocate(turnPort, upgraded.turn), 0, 'allocate after the upgrade');
    const endedAgain = next(bob.session, 'callEnded');
    await alice.session.hangup();
    assert.equal((await endedAgain).reason, 'hangup');
    await until(() => record(dbPath, upgraded.callId)?.ended_at != null, 3_000, 'end recorded');
    assert.equal(record(dbPath, upgraded.callId)?.end_reason, 'hangup');
  } finally {
    for (const c of clients) c.client.close();
    child.proc.kill('SIGKILL');
    await child.exited;
    data.remove();
  }
});
