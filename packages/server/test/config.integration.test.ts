/**
 * `parloir server --config FILE` as a child process: the password comes from `password_file`
 * (and the TURN secret from PARLOIR_TURN_SECRET), and neither shows in the process's command
 * line (what `ps` prints) nor in anything it writes; clients need that password. `parloir config
 * check` exits 1 naming each bad key with its line, and 0 printing the effective configuration
 * with secrets masked.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SignalingClient } from '../../client/src/signaling/index.ts';
import { generateIdentity } from '@parloir/protocol';
import { connectUser, tempDir } from './helpers.ts';

const CLI = resolve(import.meta.dirname, '../../client/src/cli.ts');
const PASSWORD = 'pw-7f3a9c-never-in-ps';
const TURN_SECRET = 'turn-2b8e41-never-in-ps';

function run(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const out = { text: '' };
  proc.stdout.on('data', (d: Buffer) => (out.text += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out, exited };
}

test('secrets from a file and the environment: never in ps output or the logs; clients need the password', async () => {
  const tmp = tempDir();
  try {
    const pwFile = join(tmp.dir, 'password');
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    const conf = join(tmp.dir, 'parloir.toml');
    writeFileSync(
      conf,
      [
        '# test server',
        'bind = "127.0.0.1"',
        'port = 0',
        `data_dir = "${join(tmp.dir, 'data')}"`,
        'insecure_http = true',
        `password_file = "${pwFile}"`,
        'log_level = "debug"',
        'no_web = true',
        'turn_port = 0',
        'turn_listen = "127.0.0.1"',
        'turn_relay_address = "127.0.0.1"',
      ].join('\n'),
    );
    const server = run(['server', '--config', conf], { PARLOIR_TURN_SECRET: TURN_SECRET });
    try {
      const url = await new Promise<string>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no start: ${server.out.text}`)), 60_000);
        server.proc.stdout.on('data', () => {
          const m = /listening url=(\S+)/.exec(server.out.text);
          if (m) {
            clearTimeout(timer);
            res(m[1] as string);
          }
        });
        void server.exited.then(() => rej(new Error(`exited: ${server.out.text}`)));
      });
      const pid = server.proc.pid as number;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      assert.match(cmdline, /--config/);
      assert.doesNotMatch(cmdline, new RegExp(PASSWORD));
      assert.doesNotMatch(cmdline, new RegExp(TURN_SECRET));
      const ok = await connectUser({ url }, 'alice', { password: PASSWORD });
      assert.ok(ok.userId.length > 0, 'logged in with the password from password_file');
      const bad = new SignalingClient({
        url,
        identity: await generateIdentity(),
        name: 'mallory',
        reconnect: false,
        password: 'wrong',
      });
      await assert.rejects(bad.connect({ untilReady: true }), /password/i);
      bad.close();
      ok.client.close();
      server.proc.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.doesNotMatch(server.out.text, new RegExp(PASSWORD));
      assert.doesNotMatch(server.out.text, new RegExp(TURN_SECRET));
      assert.match(server.out.text, /TURN relay on port/);
    } finally {
      server.proc.kill('SIGKILL');
    }
  } finally {
    tmp.remove();
  }
});

test('parloir config check: bad keys named with their lines (exit 1); a good file printed masked (exit 0)', async () => {
  const tmp = tempDir();
  try {
    const bad = join(tmp.dir, 'bad.toml');
    writeFileSync(bad, 'port = 8443\nprot = 1\nmax_users = 0\npassword = "hunter2"\n');
    const b = run(['config', 'check', bad]);
    assert.equal(await b.exited, 1);
    assert.match(b.out.text, /bad\.toml:2: prot: unknown key/);
    assert.match(b.out.text, /bad\.toml:3: max_users: expected an integer/);
    assert.match(b.out.text, /bad\.toml:4: password: secrets are not accepted/);
    assert.match(b.out.text, /3 error\(s\) \[CFG_ERR_INVALID\]/);
    assert.doesNotMatch(b.out.text, /hunter2/);

    const pw = join(tmp.dir, 'pw');
    writeFileSync(pw, 'sekrit-value\n', { mode: 0o600 });
    const good = join(tmp.dir, 'good.toml');
    writeFileSync(good, `port = 8443\npassword_file = "${pw}"\n`);
    const g = run(['config', 'check', good], { PARLOIR_PORT: '9443' });
    assert.equal(await g.exited, 0, g.out.text);
    assert.match(g.out.text, /^port = 9443 {2}# env PARLOIR_PORT$/m);
    assert.match(g.out.text, /^password = "\*+"/m);
    assert.doesNotMatch(g.out.text, /sekrit-value/);
  } finally {
    tmp.remove();
  }
});
