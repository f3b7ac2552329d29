/**
 * `parloir backup` while clients chat, then `parloir restore` (both as child processes, as an
 * operator runs them): every message acknowledged before the backup started is in the restored
 * copy, what it holds is a gap-free prefix of what was acknowledged, identities log in again
 * (same user ids, names still bound to their keys), and the secrets come back with their modes.
 * A truncated, a corrupted and a newer-schema archive are refused, and nothing is written.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { generateIdentity, type ChatMessage } from '@parloir/protocol';
import { createBackup, readBackup, SCHEMA_VERSION } from '../src/index.ts';
import { connectUser, startTestServer, tempDir } from './helpers.ts';

const CLI = resolve(import.meta.dirname, '../../client/src/cli.ts');

function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => proc.on('exit', (code) => r({ code, out })));
}

test('backup while two clients chat, restore: every acked message is there, identities log in', async () => {
  const tmp = tempDir();
  try {
    const dataDir = join(tmp.dir, 'data');
    // The chat loop sends as fast as acks come back: lift the rate limits it is not testing.
    const fast = { burst: 100_000, perSec: 100_000 };
    const server = await startTestServer({
      dataDir,
      messageBucket: fast,
      limits: { identityMessages: fast },
    });
    writeFileSync(join(dataDir, 'turn-secret'), 'secret-kept-in-the-data-dir\n', { mode: 0o600 });
    const aliceId = await generateIdentity();
    const bobId = await generateIdentity();
    const alice = await connectUser(server, 'alice', { identity: aliceId });
    const bob = await connectUser(server, 'bob', { identity: bobId });

    const acked: ChatMessage[] = [];
    let stop = false;
    const chatting = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        acked.push(await alice.session.sendChat(bob.userId, `message ${i}`));
      }
    })();
    const deadline = Date.now() + 30_000;
    while (acked.length < 30 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const ackedBefore = acked.length;
    assert.ok(ackedBefore >= 30, 'the chat loop runs');
    const archive = join(tmp.dir, 'parloir.backup');
    const b = await cli(['backup', archive, '--data-dir', dataDir]);
    const ackedDuring = acked.length;
    stop = true;
    await chatting;
    assert.equal(b.code, 0, b.out);
    // The sidecar checksum is what an operator checks with sha256sum -c (exit 0 = OK).
    execFileSync('sha256sum', ['-c', 'parloir.backup.sha256'], { cwd: tmp.dir, stdio: 'ignore' });
    assert.match(b.out, /sha256 [0-9a-f]{64}/);
    assert.ok(ackedDuring > ackedBefore, 'the chat went on while the backup ran');
    assert.equal(statSync(archive).mode & 0o777, 0o600);
    alice.client.close();
    bob.client.close();
    await server.close(200);

    const restored = join(tmp.dir, 'restored');
    const r = await cli(['restore', archive, '--data-dir', restored]);
    assert.equal(r.code, 0, r.out);
    assert.equal(
      readFileSync(join(restored, 'turn-secret'), 'utf8'),
      'secret-kept-in-the-data-dir\n',
    );
    assert.equal(statSync(join(restored, 'turn-secret')).mode & 0o777, 0o600);

    const server2 = await startTestServer({ dataDir: restored });
    try {
      const alice2 = await connectUser(server2, 'alice', { identity: aliceId });
      const bob2 = await connectUser(server2, 'bob', { identity: bobId });
      assert.equal(alice2.userId, alice.userId);
      assert.equal(bob2.userId, bob.userId);
      const texts = new Set<string>();
      let before: number | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await alice2.session.request('chat.history', {
          with: bob.userId,
          limit: 100,
          ...(before !== undefined ? { before } : {}),
        });
        for (const m of page.messages) texts.add(m.text);
        before = page.messages.at(-1)?.msgId;
        if (!page.hasMore || before === undefined) break;
      }
      for (const m of acked.slice(0, ackedBefore))
        assert.ok(texts.has(m.text), `${m.text} restored`);
      // A consistent snapshot: the restored messages are exactly the first N acknowledged.
      assert.deepEqual(
        [...texts].sort(),
        acked
          .slice(0, texts.size)
          .map((m) => m.text)
          .sort(),
      );
      // The name stays bound to alice's key: another key cannot take it.
      await assert.rejects(connectUser(server2, 'alice'), /taken|NAME/i);
      alice2.client.close();
      bob2.client.close();
    } finally {
      await server2.cleanup();
    }

    // A non-empty data directory is refused without --force; with it, moved aside, not deleted.
    const again = await cli(['restore', archive, '--data-dir', restored]);
    assert.equal(again.code, 1);
    assert.match(again.out, /not empty.*SRV_ERR_RESTORE/s);
    const forced = await cli(['restore', archive, '--data-dir', restored, '--force']);
    assert.equal(forced.code, 0, forced.out);
    const aside = /previous data is in (\S+)/.exec(forced.out)?.[1];
    assert.ok(aside !== undefined && existsSync(join(aside, 'parloir.db')));
  } finally {
    tmp.remove();
  }
});

test('a truncated, a corrupted and a newer-schema archive are refused; nothing is written', async () => {
  const tmp = tempDir();
  try {
    const dataDir = join(tmp.dir, 'data');
    const server = await startTestServer({ dataDir });
    const a = await connectUser(server, 'carol');
    a.client.close();
    await server.close(200);
    const archive = join(tmp.dir, 'good.backup');
    await createBackup({ dataDir, out: archive });
    const good = readFileSync(archive);
    assert.equal(readBackup(good).manifest.schemaVersion, SCHEMA_VERSION);
    // OUT.sha256 is what sha256sum -c checks: the whole file.
    assert.equal(
      readFileSync(`${archive}.sha256`, 'utf8'),
      `${createHash('sha256').update(good).digest('hex')}  good.backup\n`,
    );

    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, Math.floor(good.length / 2)), /truncated/],
      ['cut-at-end', good.subarray(0, good.length - 1), /truncated/],
      ['flipped', Buffer.from(good).fill(0x5a, 600, 601), /checksum mismatch/],
      ['not-an-archive', Buffer.from('hello'), /not a Parloir backup/],
    ];
    for (const [name, bytes, why] of cases) {
      const path = join(tmp.dir, `${name}.backup`);
      writeFileSync(path, bytes);
      const target = join(tmp.dir, `restore-${name}`);
      const r = await cli(['restore', path, '--data-dir', target]);
      assert.equal(r.code, 1, `${name}: ${r.out}`);
      assert.match(r.out, why, name);
      assert.match(r.out, /\[SRV_ERR_RESTORE\]/, name);
      assert.equal(existsSync(target), false, `${name}: nothing written`);
    }

    // An archive made from a newer schema's database.
    const db = new DatabaseSync(join(dataDir, 'parloir.db'));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const newer = join(tmp.dir, 'newer.backup');
    await createBackup({ dataDir, out: newer });
    const r = await cli(['restore', newer, '--data-dir', join(tmp.dir, 'restore-newer')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /schema version \d+, newer than this server's \d+.*\[SRV_ERR_RESTORE\]/s);
    assert.equal(existsSync(join(tmp.dir, 'restore-newer')), false);
  } finally {
    tmp.remove();
  }
});
