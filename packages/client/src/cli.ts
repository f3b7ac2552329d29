#!/usr/bin/env node
/**
 * `parloir`: the one binary. Every user-facing command is a subcommand, loaded lazily so that
 * `parloir --help` starts fast and a command only loads what it uses.
 */
import { readFileSync } from 'node:fs';
import type { Command } from './command.ts';
import { parseCommandArgs } from './command.ts';
import { ClientError, UsageError } from './errors.ts';

interface Entry {
  /** One-line summary for `parloir --help`. */
  summary: string;
  /** Loads the command module. */
  load: () => Promise<{ command: Command }>;
}

/** The subcommands, in the order `parloir --help` lists them. */
export const COMMANDS: Record<string, Entry> = {
  app: {
    summary: 'the app window: connect to a server, or host a call on this machine',
    load: () => import('./commands/app.ts'),
  },
  server: {
    summary: 'run a Parloir server (signalling, presence, chat, TURN relay, web UI)',
    load: () => import('./commands/server.ts'),
  },
  backup: {
    summary: "copy a server's data directory (database, keys, secrets) while it runs",
    load: () => import('./commands/backup.ts'),
  },
  restore: {
    summary: "restore a server's data directory from a backup, after checking it",
    load: () => import('./commands/restore.ts'),
  },
  config: {
    summary: 'check a server config file and print the effective configuration',
    load: () => import('./commands/config.ts'),
  },
  host: {
    summary: 'run a server that also talks: approve who connects, then call',
    load: () => import('./commands/host.ts'),
  },
  call: {
    summary: 'call someone through a server, talk, hang up, print QoS',
    load: () => import('./commands/call.ts'),
  },
  answer: {
    summary: 'wait for a call and accept it',
    load: () => import('./commands/answer.ts'),
  },
  connect: {
    summary: 'interactive client: online list, calls, chat, settings',
    load: () => import('./commands/connect.ts'),
  },
  audio: {
    summary: 'audio devices: devices, record, play, loopback; process (echo cancellation on files)',
    load: () => import('./commands/audio.ts'),
  },
  netem: {
    summary: 'UDP proxy that impairs traffic (loss, jitter, reordering) for tests',
    load: () => import('./commands/netem.ts'),
  },
  report: {
    summary: 'turn a call QoS log (JSON lines) into an HTML report',
    load: () => import('./commands/report.ts'),
  },
};

/** Top-level usage text. */
export function mainUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([n, e]) => `  ${n.padEnd(width)}  ${e.summary}`);
  return [
    'Parloir: self-hosted, end-to-end encrypted voice calling.',
    '',
    'Usage: parloir <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'parloir <command> --help' for a command's options.",
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // `parloir` alone on a desktop opens the app; without a display it prints the usage.
  if (argv.length === 0 && ((env.DISPLAY ?? '') !== '' || (env.WAYLAND_DISPLAY ?? '') !== '')) {
    return main(['app'], env);
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainUsage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    // The version is the package's, and the runtime is named so a wrong `node` shows at once.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    console.log(`parloir ${pkg.version} (node ${process.version})`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) {
    throw new UsageError(
      'CLI_ERR_UNKNOWN_COMMAND',
      `parloir: unknown command '${name}' (see 'parloir --help')`,
    );
  }
  const { command } = await entry.load();
  const args = parseCommandArgs(name, command, rest);
  if (args.values.help === true) {
    console.log(command.usage);
    return 0;
  }
  return command.run(args);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(err.message);
        process.exitCode = 2;
      } else if (err instanceof ClientError) {
        console.error(`parloir: ${err.message} [${err.code}]`);
        // 78 (EX_CONFIG) for a bad configuration: the systemd unit does not restart on it.
        process.exitCode = err.code.startsWith('CFG_ERR') ? 78 : 1;
      } else {
        console.error(err);
        process.exitCode = 1;
      }
    },
  );
}
