/**
 * packaging/parloir.service and packaging/parloir.toml (issue 23 §3):
 * - the unit passes `systemd-analyze verify` with no warning (its paths pointed at this
 *   checkout; skipped where systemd-analyze is absent);
 * - the server started as the unit's ExecStart and Environment say, with the shipped config
 *   file, tells systemd it is ready through $NOTIFY_SOCKET (a unix datagram socket played by a
 *   small Python listener, as Node cannot bind one), reloads its TLS certificate on SIGHUP (a
 *   new connection gets the new one; a connection made before keeps working) and stops on
 *   SIGTERM with status 0.
 * The unit's sandboxing (DynamicUser, ProtectSystem…) needs systemd as PID 1 and is not run here.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { generateSelfSigned } from '../src/index.ts';
import { tempDir } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const UNIT = join(ROOT, 'packaging/parloir.service');
const CONF = join(ROOT, 'packaging/parloir.toml');

const haveAnalyze = (() => {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The unit with /opt/parloir pointed at this checkout. */
function localUnit(): string {
  return readFileSync(UNIT, 'utf8').replaceAll('/opt/parloir', ROOT);
}

test(
  'the unit passes systemd-analyze verify',
  {
    skip: haveAnalyze
      ? false
      : 'systemd-analyze is not installed (Debian: apt-get install systemd)',
  },
  () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'parloir.service');
      writeFileSync(path, localUnit());
      const r = spawnSyncText('systemd-analyze', ['verify', path]);
      assert.equal(r.status, 0, r.output);
      assert.equal(r.output.trim(), '', 'no warning');
    } finally {
      tmp.remove();
    }
  },
);

function spawnSyncText(cmd: string, args: string[]): { status: number; output: string } {
  try {
    const out = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    return { status: 0, output: out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** ExecStart's argv and the unit's Environment= assignments. */
function execStartOf(unit: string): { argv: string[]; env: Record<string, string> } {
  const line = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  assert.ok(line !== undefined, 'the unit has an ExecStart');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm))
    env[m[1] as string] = m[2] as string;
  return { argv: line.trim().split(/\s+/), env };
}

function peerFingerprint(port: number): Promise<{ fp: string; socket: TLSSocket }> {
  return new Promise((res, rej) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () =>
      res({ fp: socket.getPeerX509Certificate()?.fingerprint256 ?? '', socket }),
    );
    socket.once('error', rej);
  });
}

function healthOver(socket: TLSSocket): Promise<string> {
  return new Promise((res, rej) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(text)) {
        socket.off('data', onData);
        res(text.split('\r\n')[0] ?? '');
      }
    };
    socket.on('data', onData);
    socket.once('error', rej);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

test('started as ExecStart would: sd_notify READY=1, SIGHUP reloads the certificate, SIGTERM stops it', async () => {
  const tmp = tempDir();
  const data = join(tmp.dir, 'state');
  const conf = join(tmp.dir, 'parloir.toml');
  copyFileSync(CONF, conf);
  const notifySock = join(tmp.dir, 'notify.sock');
  const listener = spawn(
    'python3',
    [
      '-c',
      `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind(sys.argv[1]); print('bound',flush=True)
while True: print(s.recv(4096).decode().replace('\\n',' '),flush=True)`,
      notifySock,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let notes = '';
  listener.stdout.on('data', (d: Buffer) => (notes += d.toString()));
  const { argv, env } = execStartOf(localUnit());
  const [exe, ...args] = argv.map((a) => (a === '/etc/parloir/parloir.toml' ? conf : a));
  assert.ok(exe !== undefined && existsSync(exe), `ExecStart's program exists: ${exe}`);
  let server: ReturnType<typeof spawn> | undefined;
  try {
    await until(() => notes.includes('bound'), 30_000, 'the notify listener');
    server = spawn(exe, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...env,
        // What the unit's StateDirectory= and the test's loopback need; env overrides the file.
        PARLOIR_DATA_DIR: data,
        PARLOIR_BIND: '127.0.0.1',
        PARLOIR_PORT: '0',
        PARLOIR_TURN_PORT: '0',
        NOTIFY_SOCKET: notifySock,
      },
    });
    let out = '';
    server.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => server?.on('exit', (code) => r(code)));
    await until(() => /listening url=\S+ port=\d+/.test(out), 60_000, `start: ${out}`);
    const port = Number(/port=(\d+)/.exec(out)?.[1]);
    await until(() => notes.includes('READY=1'), 30_000, `READY=1 (got ${notes})`);
    assert.match(notes, /STATUS=listening on wss:\/\/127\.0\.0\.1/);

    const before = await peerFingerprint(port);
    assert.equal(before.fp, /fingerprint=(\S+)/.exec(out)?.[1]);
    const next = await generateSelfSigned();
    writeFileSync(join(data, 'tls-key.pem'), next.key, { mode: 0o600 });
    writeFileSync(join(data, 'tls-cert.pem'), next.cert);
    server.kill('SIGHUP');
    await until(() => out.includes('SIGHUP: reloaded'), 30_000, `reload: ${out}`);
    assert.ok(out.includes(`TLS fingerprint ${next.fingerprint}`), out);
    const after = await peerFingerprint(port);
    assert.equal(after.fp, next.fingerprint, 'a new connection gets the new certificate');
    assert.match(
      await healthOver(before.socket),
      /^HTTP\/1\.1 200/,
      'the old connection still works',
    );
    before.socket.destroy();
    after.socket.destroy();

    server.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    server?.kill('SIGKILL');
    listener.kill('SIGKILL');
    tmp.remove();
  }
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
