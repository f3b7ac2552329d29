/**
 * File modes of data at rest (issue 17): the data directory is 0700, and the database (with its
 * `-wal`/`-shm`/`-journal` files) and key files are 0600, whatever the umask. `mkdir`'s and
 * `open`'s modes are masked by the umask and leave existing files alone, so every path is
 * `chmod`ed explicitly, including files made by older versions.
 * @module
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { ServerError } from './errors.ts';

/** Mode of the data directory (and the client profile directory). */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of the database, key and secret files. */
export const PRIVATE_FILE_MODE = 0o600;

function chmodOrThrow(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    throw new ServerError(
      'SRV_ERR_STORE',
      `cannot make ${path} private (mode ${mode.toString(8)}): ${String(err)}`,
      { cause: err },
    );
  }
}

/** Creates `dir` (and parents) if needed and makes it 0700. */
export function securePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (err) {
    throw new ServerError('SRV_ERR_STORE', `cannot create ${dir}: ${String(err)}`, { cause: err });
  }
  chmodOrThrow(dir, PRIVATE_DIR_MODE);
}

/** Makes an existing file 0600; does nothing if it does not exist. */
export function securePrivateFile(path: string): void {
  if (existsSync(path)) chmodOrThrow(path, PRIVATE_FILE_MODE);
}

/**
 * Prepares an SQLite database path before it is opened: creates the file empty with mode 0600
 * if it does not exist (SQLite creates its `-wal` and `-shm` files with the database file's
 * mode), and makes the database and any `-wal`, `-shm` or `-journal` left from an earlier run
 * 0600.
 */
export function securePrivateDatabase(path: string): void {
  if (path === ':memory:') return;
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
    } catch (err) {
      throw new ServerError('SRV_ERR_STORE', `cannot create ${path}: ${String(err)}`, {
        cause: err,
      });
    }
  }
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) securePrivateFile(p);
}
