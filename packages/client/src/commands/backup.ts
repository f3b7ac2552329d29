/**
 * `parloir backup OUT --data-dir DIR`: an online, consistent copy of a server's data directory
 * (database by SQLite's backup API, keys and secrets) in one checksummed archive. The logic is in
 * @parloir/server's backup.ts.
 */
import { createBackup, defaultDataDir, ServerError } from '@parloir/server';
import type { Command } from '../command.ts';
import { ClientError, UsageError } from '../errors.ts';

export const command: Command = {
  usage: `Usage: parloir backup OUT [--data-dir DIR]

Writes an archive of the server's data directory to OUT (mode 0600: it holds the identities'
name bindings, chat, the TURN secret and the TLS key) and its checksum to OUT.sha256. Safe while
the server runs: the database is copied with SQLite's online backup API.

Options:
  --data-dir DIR   the server's data directory (default $XDG_DATA_HOME/parloir)`,
  options: { 'data-dir': { type: 'string' } },
  allowPositionals: true,
  async run(args) {
    const [out, ...extra] = args.positionals;
    if (out === undefined || extra.length > 0) {
      throw new UsageError('CLI_ERR_BAD_ARGS', 'usage: parloir backup OUT [--data-dir DIR]');
    }
    const dataDir =
      typeof args.values['data-dir'] === 'string' ? args.values['data-dir'] : defaultDataDir();
    try {
      const r = await createBackup({ dataDir, out });
      console.log(
        `parloir backup: ${out}: ${r.manifest.files.length} files, ${r.bytes} bytes, schema ${r.manifest.schemaVersion}, sha256 ${r.sha256}`,
      );
      return 0;
    } catch (err) {
      if (err instanceof ServerError) throw new ClientError(err.code, err.message, { cause: err });
      throw err;
    }
  },
};
