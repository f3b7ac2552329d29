/**
 * `parloir config check FILE`: validates a server config file the way `parloir server --config`
 * reads it (with the PARLOIR_* environment on top), prints the effective configuration with
 * secrets masked, and exits 1 naming each bad key with its line.
 */
import type { Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import {
  ConfigError,
  describeConfig,
  formatIssue,
  resolveServerConfig,
} from '../signaling/server-config.ts';

export const command: Command = {
  usage: `Usage: parloir config check FILE

Checks a server config file (TOML; keys are the flags of 'parloir server' with _ for -, e.g.
data_dir = "/var/lib/parloir"). PARLOIR_* environment variables override the file, as they do
for the server. Prints the effective configuration, secrets masked, and where each value came
from; exits 1 naming each bad key and its line.`,
  options: {},
  allowPositionals: true,
  run(args) {
    const [sub, file, ...extra] = args.positionals;
    if (sub !== 'check' || file === undefined || extra.length > 0) {
      throw new UsageError('CLI_ERR_BAD_ARGS', 'usage: parloir config check FILE');
    }
    try {
      const cfg = resolveServerConfig({ flags: { config: file }, env: process.env });
      console.log(`# ${file}: OK`);
      console.log(describeConfig(cfg));
      return Promise.resolve(0);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const issue of err.issues) console.error(`parloir config: ${formatIssue(issue)}`);
      console.error(`parloir config: ${file}: ${err.issues.length} error(s) [${err.code}]`);
      return Promise.resolve(1);
    }
  },
};
