/**
 * The shape of one `parloir` subcommand, and the argument parsing every command shares.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './errors.ts';

/** A subcommand module: `packages/client/src/commands/<name>.ts` exports one as `command`. */
export interface Command {
  /** Usage text printed by `parloir <name> --help`. */
  usage: string;
  /** Options accepted, in `node:util` parseArgs form. `--help` is added for every command. */
  options: ParseArgsOptionsConfig;
  /** Whether positional arguments are accepted. */
  allowPositionals: boolean;
  /**
   * Runs the command. Resolves to the process exit status. Long-running commands resolve when
   * they are done (e.g. on SIGINT).
   */
  run(args: ParsedArgs): Promise<number>;
}

/** What parseArgs produced for one command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Parses `argv` for `command`; unknown flags become a {@link UsageError}. */
export function parseCommandArgs(name: string, command: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.allowPositionals,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError('CLI_ERR_BAD_ARGS', `parloir ${name}: ${msg}`, { cause: err });
  }
}

/** Reads a string option, or throws a {@link UsageError} naming it if it is required and absent. */
export function stringOpt(args: ParsedArgs, key: string, required: true): string;
export function stringOpt(args: ParsedArgs, key: string, required?: false): string | undefined;
export function stringOpt(args: ParsedArgs, key: string, required = false): string | undefined {
  const v = args.values[key];
  if (typeof v === 'string') return v;
  if (required) throw new UsageError('CLI_ERR_MISSING_ARG', `missing required option --${key}`);
  return undefined;
}
