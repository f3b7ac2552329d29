/**
 * Shared pieces of `parloir server` and `parloir host`: the flags, turning them into
 * `ServerOptions`, the parseable start line, and graceful shutdown on SIGTERM/SIGINT.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { startServer, type RunningServer, type ServerOptions } from '@parloir/server';
import type { ParsedArgs } from '../command.ts';
import { UsageError } from '../errors.ts';

/** Flags of `parloir server` (and `parloir host`). TURN flags are added next to these. */
export const SERVER_CLI_OPTIONS: ParseArgsOptionsConfig = {
  bind: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  password: { type: 'string' },
  'max-users': { type: 'string' },
  'log-level': { type: 'string' },
  'ping-timeout-ms': { type: 'string' },
  'ring-timeout-ms': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'web-root': { type: 'string' },
  'no-web': { type: 'boolean' },
};

/** Usage lines for {@link SERVER_CLI_OPTIONS}. */
export const SERVER_CLI_USAGE = `  --bind ADDR                 listen address (default 0.0.0.0)
  --port N                    HTTPS + WebSocket port (default 8443; 0 = any free port)
  --data-dir DIR              database and generated certificate (default $XDG_DATA_HOME/parloir)
  --cert FILE --key FILE      TLS certificate and key (PEM); default: self-signed, persisted
  --insecure-http             plain HTTP/WS, for localhost development only
  --password P                clients must send this password
  --max-users N               maximum users online at once
  --log-level L               fatal|error|warn|info|debug|trace|silent (default info)
  --ping-timeout-ms N         drop clients silent this long (default 30000)
  --ring-timeout-ms N         unanswered calls end after this long (default 30000)
  --max-connections-per-ip N  (default 32)
  --web-root DIR | --no-web   web UI directory to serve (default packages/web/dist if built)`;

function intFlag(args: ParsedArgs, key: string, min: number, max: number): number | undefined {
  const v = args.values[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError('CLI_ERR_BAD_ARGS', `--${key} must be an integer in ${min}..${max}`);
  }
  return n;
}

function strFlag(args: ParsedArgs, key: string): string | undefined {
  const v = args.values[key];
  return typeof v === 'string' ? v : undefined;
}

/** Turns parsed flags into {@link ServerOptions}; bad values are a UsageError. */
export function serverOptionsFromArgs(args: ParsedArgs): ServerOptions {
  const cert = strFlag(args, 'cert');
  const key = strFlag(args, 'key');
  const insecure = args.values['insecure-http'] === true;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('CLI_ERR_BAD_ARGS', '--cert and --key go together');
  }
  if (insecure && cert !== undefined) {
    throw new UsageError('CLI_ERR_BAD_ARGS', '--insecure-http and --cert/--key exclude each other');
  }
  const opts: ServerOptions = { insecureHttp: insecure };
  const set = <K extends keyof ServerOptions>(k: K, v: ServerOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('bind', strFlag(args, 'bind'));
  set('port', intFlag(args, 'port', 0, 65535));
  set('dataDir', strFlag(args, 'data-dir'));
  set('cert', cert);
  set('key', key);
  set('password', strFlag(args, 'password'));
  set('maxUsers', intFlag(args, 'max-users', 1, 10_000_000));
  set('logLevel', strFlag(args, 'log-level'));
  set('pingTimeoutMs', intFlag(args, 'ping-timeout-ms', 100, 3_600_000));
  set('ringTimeoutMs', intFlag(args, 'ring-timeout-ms', 100, 3_600_000));
  set('maxConnectionsPerIp', intFlag(args, 'max-connections-per-ip', 1, 10_000_000));
  if (args.values['no-web'] === true) opts.webRoot = null;
  else set('webRoot', strFlag(args, 'web-root'));
  const level = opts.logLevel;
  if (
    level !== undefined &&
    !['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)
  ) {
    throw new UsageError('CLI_ERR_BAD_ARGS', `--log-level: unknown level ${level}`);
  }
  return opts;
}

/**
 * Prints the start line tests and scripts parse:
 * `parloir server listening url=wss://127.0.0.1:8443/ws port=8443 fingerprint=AB:CD:…`.
 */
export function announce(server: RunningServer, what = 'server'): void {
  const fp = server.fingerprint ? ` fingerprint=${server.fingerprint}` : ' fingerprint=none';
  console.log(`parloir ${what} listening url=${server.url} port=${server.port}${fp}`);
  if (server.fingerprint) {
    console.log(`TLS certificate SHA-256 fingerprint: ${server.fingerprint}`);
  } else {
    console.log('WARNING: plain HTTP (--insecure-http): use only on localhost for development');
  }
}

/**
 * Resolves to exit status 0 after SIGTERM/SIGINT once the server is closed; a hard timer makes
 * sure the process exits within 5 s even if a socket hangs.
 */
export function untilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      console.log(`parloir: ${sig}, shutting down`);
      setTimeout(() => process.exit(0), 4500).unref();
      close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** Starts a server from flags (used by `parloir server`). */
export async function runServerCommand(args: ParsedArgs): Promise<number> {
  const server = await startServer(serverOptionsFromArgs(args));
  announce(server);
  return untilSignal(() => server.close(2500));
}
