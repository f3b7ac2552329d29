/**
 * Schema upgrades and the start-up data check (issue 23 §5, issue 22 §6):
 * - a data directory made by schema version 1 (test/fixtures/schema-v1, written by that build)
 *   is migrated at start, keeps its users, chat and calls; the answered call a crash left open
 *   is restored into the grace period (issue 21 §3) and, nobody coming back to it, ends when the
 *   grace does;
 * - a database of a newer schema is refused with SRV_ERR_SCHEMA_NEWER, and a corrupted one with
 *   SRV_ERR_DATA_CORRUPT: the server stays up, /healthz answers 503 naming the error, clients are
 *   refused, and the database file is left byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { SCHEMA_VERSION, Store } from '../src/index.ts';
import { rawClient, startTestServer, tempDir, until } from './helpers.ts';

const FIXTURE_V1 = resolve(import.meta.dirname, 'fixtures/schema-v1');
const ALICE = 'a1'.padEnd(32, '0');
const BOB = 'b2'.padEnd(32, '0');

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Health {
  status: string;
  data: {
    ok: boolean;
    code?: string;
    error?: string;
    sweptCalls?: number;
    liveCalls?: number;
    schemaVersion?: number;
    migratedFrom?: number;
  };
}

async function health(httpUrl: string): Promise<{ code: number; body: Health }> {
  const r = await fetch(`${httpUrl}/healthz`);
  return { code: r.status, body: (await r.json()) as Health };
}

test('a schema-1 data directory is migrated at start; the call a crash left open is restored, then ended at its grace', async () => {
  const tmp = tempDir();
  try {
    cpSync(FIXTURE_V1, tmp.dir, { recursive: true });
    const server = await startTestServer({ dataDir: tmp.dir, callGraceMs: 300 });
    const h = await health(server.httpUrl);
    assert.equal(h.code, 200);
    assert.equal(h.body.status, 'ok');
    assert.equal(h.body.data.ok, true);
    assert.equal(h.body.data.migratedFrom, 1);
    assert.equal(h.body.data.schemaVersion, SCHEMA_VERSION);
    assert.equal(h.body.data.sweptCalls, 0, 'no unanswered call was left open');
    assert.equal(h.body.data.liveCalls, 1, 'the answered one is restored, not swept');
    const startedAt = Date.now();
    // Nobody comes back to it: it ends when the grace (300 ms here) does.
    await until(() => server.core.stats().calls.accepted === 0, 5_000, 'grace over');
    await server.close(200);

    const store = new Store({ path: join(tmp.dir, 'parloir.db') });
    try {
      assert.equal(store.schemaVersion, SCHEMA_VERSION);
      assert.equal(store.userByName('alice')?.userId, ALICE);
      assert.equal(store.userByName('BOB')?.userId, BOB);
      const chat = store.history(ALICE, BOB, undefined, 10).messages.map((m) => m.text);
      assert.deepEqual(chat, ['hi alice', 'hello bob']);
      assert.deepEqual(
        store.undelivered(ALICE).map((m) => m.text),
        ['hi alice'],
      );
      const calls = store.callsOf(ALICE);
      const open = calls.find((c) => c.callId === 'call-open');
      assert.equal(open?.endReason, 'disconnected');
      assert.ok((open?.endedAt ?? 0) >= startedAt, 'ended at the grace');
      assert.equal(calls.find((c) => c.callId === 'call-ended')?.endReason, 'hangup');
      // The second start has nothing left to migrate or sweep.
      const again = store.checkData();
      assert.equal(again.sweptCalls, 0);
      assert.equal(again.liveCalls, 0);
      assert.equal(again.migratedFrom, undefined);
    } finally {
      store.close();
      await store.whenClosed();
    }
  } finally {
    tmp.remove();
  }
});

/** Starts a server on `dir` and checks it refuses clients with 503 and this error code. */
async function assertRefused(dir: string, code: string): Promise<void> {
  const db = join(dir, 'parloir.db');
  const before = sha(db);
  const server = await startTestServer({ dataDir: dir });
  try {
    assert.equal(server.dataError?.code, code);
    const h = await health(server.httpUrl);
    assert.equal(h.code, 503);
    assert.equal(h.body.status, 'error');
    assert.equal(h.body.data.ok, false);
    assert.equal(h.body.data.code, code);
    assert.match(h.body.data.error ?? '', /parloir\.db/);
    await assert.rejects(rawClient(server.url), /503/);
  } finally {
    await server.close(200);
  }
  assert.equal(sha(db), before, 'the database file is left as it was');
}

test('a database of a newer schema is refused: 503 on /healthz, no client let in, file untouched', async () => {
  const tmp = tempDir();
  try {
    cpSync(FIXTURE_V1, tmp.dir, { recursive: true });
    const db = new DatabaseSync(join(tmp.dir, 'parloir.db'));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await assertRefused(tmp.dir, 'SRV_ERR_SCHEMA_NEWER');
    assert.throws(
      () => new Store({ path: join(tmp.dir, 'parloir.db') }),
      (err: Error & { code?: string }) =>
        err.code === 'SRV_ERR_SCHEMA_NEWER' && /newer than this server/.test(err.message),
    );
  } finally {
    tmp.remove();
  }
});

test('a corrupted database file: a clear error at start, 503 on /healthz, never rewritten', async () => {
  const tmp = tempDir();
  try {
    cpSync(FIXTURE_V1, tmp.dir, { recursive: true });
    const path = join(tmp.dir, 'parloir.db');
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    // Garbage over every page after the first (the schema page stays readable, so the file
    // opens and only the integrity check can tell).
    for (let i = pageSize; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
    writeFileSync(path, bytes);
    await assertRefused(tmp.dir, 'SRV_ERR_DATA_CORRUPT');

    // A file that is not a database at all (its header overwritten) is refused the same way.
    const header = readFileSync(path);
    header.fill(0x41, 0, 100);
    writeFileSync(path, header);
    await assertRefused(tmp.dir, 'SRV_ERR_DATA_CORRUPT');
  } finally {
    tmp.remove();
  }
});
