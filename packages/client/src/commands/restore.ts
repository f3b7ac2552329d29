/**
 * `parloir restore IN --data-dir DIR`: restores an archive made by `parloir backup`, after
 * checking it in full; a corrupt, truncated or newer-schema archive is refused and nothing is
 * written. The logic is in @parloir/server's backup.ts.
 */
import { defaultDataDir, restoreBackup, ServerError } from '@parloir/server';
import type { Command } from '../command.ts';
import { ClientError, UsageError } from '../errors.ts';

export const command: Command = {
  usage: `Usage: parloir restore IN [--data-dir DIR] [--force]

Restores the archive IN (made by 'parloir backup') into the data directory. Stop the server
first. The archive is checked in full (checksums, database integrity, schema version) before
anything is written; a refused archive changes nothing.

Options:
  --data-dir DIR   the server's data directory (default $XDG_DATA_HOME/parloir)
  --force          the directory is not empty: move it aside to DIR.before-restore-<time>`,
  options: { 'data-dir': { type: 'string' }, force: { type: 'boolean' } },
  allowPositionals: true,
  run(args) {
    const [archive, ...extra] = args.positionals;
    if (archive === undefined || extra.length > 0) {
      throw new UsageError(
        'CLI_ERR_BAD_ARGS',
        'usage: parloir restore IN [--data-dir DIR] [--force]',
      );
    }
    const dataDir =
      typeof args.values['data-dir'] === 'string' ? args.values['data-dir'] : defaultDataDir();
    try {
      const r = restoreBackup({ archive, dataDir, force: args.values.force === true });
      console.log(
        `parloir restore: ${dataDir}: ${r.manifest.files.length} files, schema ${r.manifest.schemaVersion}, made ${new Date(r.manifest.createdAt).toISOString()}`,
      );
      if (r.movedAside !== undefined)
        console.log(`parloir restore: the previous data is in ${r.movedAside}`);
      return Promise.resolve(0);
    } catch (err) {
      if (err instanceof ServerError) throw new ClientError(err.code, err.message, { cause: err });
      throw err;
    }
  },
};
