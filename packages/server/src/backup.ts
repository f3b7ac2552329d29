/**
 * `parloir backup` / `parloir restore`: one archive file holding a consistent copy of the
 * database, made with SQLite's online backup API while the server runs (node:sqlite `backup()`,
 * read through its own connection, so the server keeps writing meanwhile), and every other file
 * of the data directory: the TURN secret, the TLS certificate and key, and anything else there.
 *
 * Archive layout (all checksums SHA-256, hex):
 * ```
 * PARLOIR-BACKUP 1\n
 * {"format":1,"createdAt":…,"schemaVersion":…,"files":[{"name","size","mode","sha256"}…]}\n
 * <the bytes of each file, in manifest order>
 * \nSHA256 <checksum of everything above>\n
 * ```
 * A sidecar `OUT.sha256` holds the SHA-256 of the whole file in `sha256sum -c` form. Restore checks the
 * magic, the trailer (a truncated archive has none, or a wrong one), every file's checksum,
 * that the database is sound (integrity check), and that its schema is not newer than this build
 * knows; any failure is a {@link ServerError} `SRV_ERR_RESTORE` and nothing is written.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
import { ServerError } from './errors.ts';
import { SCHEMA_VERSION } from './store.ts';

const MAGIC = 'PARLOIR-BACKUP 1\n';
const DB_NAME = 'parloir.db';
/** Files of a live SQLite database that the backup API's copy replaces. */
const SKIPPED = new Set([DB_NAME, `${DB_NAME}-wal`, `${DB_NAME}-shm`, `${DB_NAME}-journal`]);
/** Length of the trailer `\nSHA256 <64 hex>\n`, bytes. */
const TRAILER_BYTES = 1 + 7 + 64 + 1;

/** One file in an archive. */
export interface BackupFile {
  /** Path relative to the data directory, `/`-separated. */
  name: string;
  /** Bytes. */
  size: number;
  /** Permission bits (e.g. 0o600 for secrets). */
  mode: number;
  /** SHA-256 of the content, hex. */
  sha256: string;
}

/** The archive's manifest. */
export interface BackupManifest {
  format: 1;
  /** When the backup was made, Unix ms. */
  createdAt: number;
  /** Schema version of the database copy. */
  schemaVersion: number;
  files: BackupFile[];
}

/** What {@link createBackup} wrote. */
export interface BackupResult {
  manifest: BackupManifest;
  /** SHA-256 of the whole archive file, hex (as in `OUT.sha256`, for `sha256sum -c`). */
  sha256: string;
  /** Archive size, bytes. */
  bytes: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function listFiles(dir: string, root = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, root));
    else if (e.isFile() && !(dir === root && SKIPPED.has(e.name))) out.push(p);
  }
  return out.sort();
}

/**
 * Writes an archive of `dataDir` to `out` (mode 0600: it holds the keys and secrets), atomically
 * (a partial file is never left under `out`). Safe while the server runs.
 */
export async function createBackup(options: {
  dataDir: string;
  out: string;
}): Promise<BackupResult> {
  const { dataDir, out } = options;
  const dbPath = join(dataDir, DB_NAME);
  if (!existsSync(dbPath)) {
    throw new ServerError('SRV_ERR_BACKUP', `no database in ${dataDir} (expected ${dbPath})`);
  }
  const tmpDb = join(dirname(out), `.${basename(out)}.${randomBytes(4).toString('hex')}.db`);
  let dbBytes: Buffer;
  let schemaVersion: number;
  try {
    const src = new DatabaseSync(dbPath);
    try {
      src.exec('PRAGMA busy_timeout = 5000');
      // Steps of 256 pages: the server's writes go on between steps; a write during the copy
      // restarts it from that connection's view, so the copy is one consistent snapshot.
      await backup(src, tmpDb, { rate: 256 });
    } finally {
      src.close();
    }
    const copy = new DatabaseSync(tmpDb);
    try {
      copy.exec('PRAGMA journal_mode = DELETE');
      const check = copy.prepare('PRAGMA integrity_check(5)').all();
      const verdict = check.map((r) => String(Object.values(r)[0])).join('; ');
      if (verdict !== 'ok') {
        throw new ServerError(
          'SRV_ERR_BACKUP',
          `the database copy failed the integrity check: ${verdict}`,
        );
      }
      schemaVersion = Number(
        (copy.prepare('PRAGMA user_version').get() as { user_version: number }).user_version,
      );
    } finally {
      copy.close();
    }
    dbBytes = readFileSync(tmpDb);
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw new ServerError('SRV_ERR_BACKUP', `cannot copy ${dbPath}: ${String(err)}`, {
      cause: err,
    });
  } finally {
    rmSync(tmpDb, { force: true });
  }

  const parts: { file: BackupFile; data: Buffer }[] = [
    {
      file: { name: DB_NAME, size: dbBytes.length, mode: 0o600, sha256: sha256(dbBytes) },
      data: dbBytes,
    },
  ];
  for (const p of listFiles(dataDir)) {
    const data = readFileSync(p);
    const name = relative(dataDir, p).split(sep).join('/');
    parts.push({
      file: { name, size: data.length, mode: lstatSync(p).mode & 0o777, sha256: sha256(data) },
      data,
    });
  }
  const manifest: BackupManifest = {
    format: 1,
    createdAt: Date.now(),
    schemaVersion,
    files: parts.map((p) => p.file),
  };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(manifest)}\n`, 'utf8');
  const hash = createHash('sha256').update(head);
  for (const p of parts) hash.update(p.data);
  const trailer = Buffer.from(`\nSHA256 ${hash.digest('hex')}\n`, 'ascii');

  const partial = `${out}.partial`;
  const whole = createHash('sha256');
  const fd = openSync(partial, 'w', 0o600);
  try {
    for (const b of [head, ...parts.map((p) => p.data), trailer]) {
      writeSync(fd, b);
      whole.update(b);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, out);
  const digest = whole.digest('hex');
  writeFileSync(`${out}.sha256`, `${digest}  ${basename(out)}\n`);
  const bytes = head.length + parts.reduce((n, p) => n + p.data.length, 0) + trailer.length;
  return { manifest, sha256: digest, bytes };
}

function refuse(message: string): never {
  throw new ServerError('SRV_ERR_RESTORE', message);
}

/**
 * Checks an archive and returns its manifest and file contents; throws `SRV_ERR_RESTORE` if it
 * is not an archive, is truncated or corrupt, or holds a newer schema than this build's.
 */
export function readBackup(archive: Buffer): {
  manifest: BackupManifest;
  files: Map<string, Buffer>;
} {
  if (!archive.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) {
    refuse('not a Parloir backup (bad magic)');
  }
  const trailer = archive.subarray(archive.length - TRAILER_BYTES).toString('latin1');
  const m = /^\nSHA256 ([0-9a-f]{64})\n$/.exec(trailer);
  if (archive.length < MAGIC.length + TRAILER_BYTES || !m) {
    refuse('truncated archive: its closing checksum is missing');
  }
  const body = archive.subarray(0, archive.length - TRAILER_BYTES);
  if (sha256(body) !== m[1]) refuse('corrupt or truncated archive: checksum mismatch');
  const nl = body.indexOf(0x0a, MAGIC.length);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(body.subarray(MAGIC.length, nl).toString('utf8')) as BackupManifest;
  } catch {
    refuse('corrupt archive: unreadable manifest');
  }
  if (manifest.format !== 1 || !Array.isArray(manifest.files)) refuse('unknown archive format');
  if (!Number.isSafeInteger(manifest.schemaVersion) || manifest.schemaVersion > SCHEMA_VERSION) {
    refuse(
      `the archive's database has schema version ${String(manifest.schemaVersion)}, newer than ` +
        `this server's ${SCHEMA_VERSION}: restore it with the Parloir version that made it`,
    );
  }
  const files = new Map<string, Buffer>();
  let at = nl + 1;
  for (const f of manifest.files) {
    const name = String(f.name);
    if (
      name.startsWith('/') ||
      name.split('/').some((s) => s === '..' || s === '') ||
      files.has(name)
    ) {
      refuse(`corrupt archive: bad file name ${JSON.stringify(name)}`);
    }
    if (!Number.isSafeInteger(f.size) || f.size < 0 || at + f.size > body.length) {
      refuse(`truncated archive: ${name} is cut short`);
    }
    const data = body.subarray(at, at + f.size);
    if (sha256(data) !== f.sha256) refuse(`corrupt archive: ${name} checksum mismatch`);
    files.set(name, data);
    at += f.size;
  }
  if (at !== body.length) refuse('corrupt archive: bytes after the last file');
  if (!files.has(DB_NAME)) refuse(`corrupt archive: no ${DB_NAME}`);
  return { manifest, files };
}

/**
 * Restores an archive into `dataDir`. The directory must not exist or be empty, unless `force`,
 * which moves the old one aside to `DIR.before-restore-<time>` (never deleted). The archive is
 * checked in full ({@link readBackup}) and unpacked next to `dataDir` before it takes its place,
 * so a refused archive writes nothing. Stop the server first.
 */
export function restoreBackup(options: { archive: string; dataDir: string; force?: boolean }): {
  manifest: BackupManifest;
  movedAside?: string;
} {
  const { dataDir } = options;
  let raw: Buffer;
  try {
    raw = readFileSync(options.archive);
  } catch (err) {
    throw new ServerError('SRV_ERR_RESTORE', `cannot read ${options.archive}: ${String(err)}`, {
      cause: err,
    });
  }
  const { manifest, files } = readBackup(raw);
  const occupied = existsSync(dataDir) && readdirSync(dataDir).length > 0;
  if (occupied && !options.force) {
    refuse(
      `${dataDir} is not empty: stop the server, then restore with --force (the current data is moved aside, not deleted)`,
    );
  }
  const staging = `${dataDir}.restoring-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    for (const [name, data] of files) {
      const f = manifest.files.find((x) => x.name === name) as BackupFile;
      const p = join(staging, ...name.split('/'));
      mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
      writeFileSync(p, data, { mode: f.mode & 0o777 });
    }
    const db = new DatabaseSync(join(staging, DB_NAME));
    try {
      const verdict = db
        .prepare('PRAGMA integrity_check(5)')
        .all()
        .map((r) => String(Object.values(r)[0]))
        .join('; ');
      if (verdict !== 'ok') refuse(`the archive's database failed the integrity check: ${verdict}`);
    } finally {
      db.close();
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof ServerError) throw err;
    throw new ServerError('SRV_ERR_RESTORE', `cannot unpack into ${staging}: ${String(err)}`, {
      cause: err,
    });
  }
  let movedAside: string | undefined;
  if (existsSync(dataDir)) {
    if (occupied) {
      movedAside = `${dataDir}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(dataDir, movedAside);
    } else rmSync(dataDir, { recursive: true });
  }
  mkdirSync(dirname(dataDir), { recursive: true });
  renameSync(staging, dataDir);
  return movedAside !== undefined ? { manifest, movedAside } : { manifest };
}
