/**
 * Shared pieces of `parloir server` and `parloir host`: the flags, turning them into
 * `ServerOptions`, the parseable start line, and graceful shutdown on SIGTERM/SIGINT.
 */
import { execFile } from 'node:child_process';
import type { ParseArgsOptionsConfig } from 'node:util';
import pino from 'pino';
import {
  createTurnRelay,
  defaultDataDir,
  normalizeOrigin,
  Registry,
  startServer,
  TURN_CLI_OPTIONS,
  TurnError,
  turnOptionsFromFlags,
  type RunningServer,
  type ServerOptions,
  type TurnRelay,
} from '@parloir/server';
import type { ParsedArgs } from '../command.ts';
import { UsageError } from '../errors.ts';
import { ConfigError, formatIssue, resolveServerConfig, scrubSecretEnv } from './server-config.ts';

/**
 * The TURN flags without their parseArgs defaults: a flag's value must mean it was given, so
 * that it overrides the config file and the environment (server-config.ts).
 */
const TURN_FLAGS: ParseArgsOptionsConfig = Object.fromEntries(
  Object.entries(TURN_CLI_OPTIONS).map(([k, v]) => {
    const { default: _unused, ...rest } = v as { default?: unknown; type: 'string' | 'boolean' };
    return [k, rest];
  }),
);

/** Flags of `parloir server` (and `parloir host`). TURN flags are added next to these. */
export const SERVER_CLI_OPTIONS: ParseArgsOptionsConfig = {
  config: { type: 'string' },
  bind: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  // Refused with a hint (server-config.ts): ps would show it.
  password: { type: 'string' },
  'password-file': { type: 'string' },
  'turn-secret-file': { type: 'string' },
  'max-users': { type: 'string' },
  'log-level': { type: 'string' },
  'ping-timeout-ms': { type: 'string' },
  'ring-timeout-ms': { type: 'string' },
  'call-grace-ms': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'web-root': { type: 'string' },
  'no-web': { type: 'boolean' },
  'no-turn': { type: 'boolean' },
  'allowed-origin': { type: 'string', multiple: true },
  domain: { type: 'string' },
  'acme-directory': { type: 'string' },
  'acme-email': { type: 'string' },
  'acme-http-port': { type: 'string' },
  ...TURN_FLAGS,
};

/** Usage lines for {@link SERVER_CLI_OPTIONS}. */
export const SERVER_CLI_USAGE = `  --config FILE               TOML config file (also PARLOIR_CONFIG); every flag below has a key,
                              --data-dir is data_dir; env PARLOIR_DATA_DIR overrides the file,
                              flags override both (docs/deploy.md)
  --bind ADDR                 listen address (default 0.0.0.0)
  --port N                    HTTPS + WebSocket port (default 8443; 0 = any free port)
  --data-dir DIR              database and generated certificate (default $XDG_DATA_HOME/parloir)
  --cert FILE --key FILE      TLS certificate and key (PEM); default: self-signed, persisted
  --insecure-http             plain HTTP/WS, for localhost development only
  --password-file FILE        clients must send the password this file holds (or set
                              PARLOIR_PASSWORD; never on the command line, where ps shows it)
  --max-users N               maximum users online at once
  --log-level L               fatal|error|warn|info|debug|trace|silent (default info)
  --ping-timeout-ms N         drop clients silent this long (default 30000)
  --ring-timeout-ms N         unanswered calls end after this long (default 30000)
  --call-grace-ms N           a call waits this long for a dropped party (default 30000)
  --max-connections-per-ip N  (default 32)
  --web-root DIR | --no-web   web UI directory to serve (default packages/web/dist if built)
  --domain NAME               public DNS name: get the certificate by ACME (HTTP-01) and renew it
  --acme-directory URL        ACME CA (default Let's Encrypt); --acme-email ADDR for its notices
  --acme-http-port N          HTTP-01 challenge port (default 80; the CA always asks on 80, so
                              forward 80 here when N is not 80); kill -USR2 renews at once
  --allowed-origin URL        another origin whose pages may open /ws, e.g. a reverse proxy's
                              https://talk.example.org (repeatable; default: only its own)
                              /metrics answers only this machine unless PARLOIR_METRICS_TOKEN is
                              set; then it wants "Authorization: Bearer <token>" (docs/security.md)

Media relay (built-in TURN server, RFC 8656; it forwards SRTP it cannot decrypt):
  --no-turn                   do not start the built-in relay (calls are direct only)
  --turn-port N               TURN/STUN port, UDP and TCP (default 3478)
  --turn-relay-ports A-B      relay port range (default: ephemeral ports)
  --turn-secret-file FILE     shared secret from a file, or PARLOIR_TURN_SECRET (default:
                              random, kept in the data dir)
  --turn-listen ADDR          relay listen address (default: --bind)
  --turn-relay-address ADDR   address relay sockets bind and advertise
  --turn-public-host HOST     host name put in the turn: URLs handed to clients
  --relay-only                every call goes through the relay (relayed candidates only)
  --turn-external URL         hand out this external TURN server instead (repeatable; same secret)
  --turn-bench                interop tests and benchmarks only: any unexpired REST credential,
                              loopback peers allowed; refused unless listening on loopback`;

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

/**
 * The flags merged with the config file and the environment (file < env < flag), secrets read
 * from their files and put in `password` / `turn-secret`, ready for {@link serverOptionsFromArgs}
 * and {@link relayFromArgs}. The secret variables are removed from `process.env` once read.
 * Throws a ConfigError naming every bad key.
 */
export function configuredArgs(args: ParsedArgs): ParsedArgs {
  const cfg = resolveServerConfig({ flags: args.values, env: process.env });
  scrubSecretEnv(process.env);
  if (cfg.sources['turn-secret']?.source === 'flag') {
    console.error(
      'parloir: warning: --turn-secret is visible in ps to every local user; use --turn-secret-file or PARLOIR_TURN_SECRET',
    );
  }
  const values: ParsedArgs['values'] = { ...cfg.values };
  if (cfg.password !== undefined) values.password = cfg.password;
  if (cfg.turnSecret !== undefined) values['turn-secret'] = cfg.turnSecret;
  return { values, positionals: args.positionals };
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
  set('callGraceMs', intFlag(args, 'call-grace-ms', 0, 3_600_000));
  set('maxConnectionsPerIp', intFlag(args, 'max-connections-per-ip', 1, 10_000_000));
  const origins = args.values['allowed-origin'];
  if (Array.isArray(origins)) {
    opts.allowedOrigins = origins.map((o) => {
      const n = typeof o === 'string' ? normalizeOrigin(o) : undefined;
      if (n === undefined)
        throw new UsageError(
          'CLI_ERR_BAD_ARGS',
          `--allowed-origin: ${String(o)} is not an http(s) origin`,
        );
      return n;
    });
  }
  const domain = strFlag(args, 'domain');
  if (domain !== undefined) {
    if (insecure || cert !== undefined) {
      throw new UsageError(
        'CLI_ERR_BAD_ARGS',
        '--domain (ACME) excludes --cert/--key and --insecure-http',
      );
    }
    const directoryUrl = strFlag(args, 'acme-directory');
    const email = strFlag(args, 'acme-email');
    const httpPort = intFlag(args, 'acme-http-port', 0, 65535);
    opts.acme = {
      domain,
      ...(directoryUrl !== undefined ? { directoryUrl } : {}),
      ...(email !== undefined ? { email } : {}),
      ...(httpPort !== undefined ? { httpPort } : {}),
    };
  }
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
  console.log(`Web UI: ${server.httpUrl}`);
  if (server.dataError) {
    console.error(
      `parloir: DATA CHECK FAILED [${server.dataError.code}]: ${server.dataError.message}\n` +
        'parloir: the server stays up refusing clients, /healthz answers 503; the data directory is left as it was',
    );
  }
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

/** The built-in relay started from the flags, before the server it serves. */
export interface RelayFromArgs {
  /** The server options, with the relay, a shared logger and a shared metrics registry. */
  serverOptions: ServerOptions;
  /** The relay, or undefined with `--no-turn`. */
  relay: TurnRelay | undefined;
  /** Gives the relay the server's live-call directory, once the server runs. */
  attach(server: RunningServer): void;
  /** Stops the relay. */
  close(): Promise<void>;
}

/**
 * Starts the built-in TURN relay from the flags (unless `--no-turn`). The relay needs the
 * server's call directory and the server needs the relay, so the directory is attached after
 * the server starts; until then no call is live, so every credential is refused.
 */
export async function relayFromArgs(args: ParsedArgs, base: ServerOptions): Promise<RelayFromArgs> {
  const logger = base.logger ?? pino({ level: base.logLevel ?? 'info' }, pino.destination(2));
  const registry = base.registry ?? new Registry();
  const serverOptions: ServerOptions = { ...base, logger, registry };
  if (args.values['no-turn'] === true) {
    return { serverOptions, relay: undefined, attach: () => undefined, close: async () => {} };
  }
  const ref: { server?: RunningServer } = {};
  let relay: TurnRelay;
  try {
    const opts = turnOptionsFromFlags(args.values, {
      dataDir: base.dataDir ?? defaultDataDir(),
      calls: { partiesOf: (callId) => ref.server?.core.partiesOf(callId) },
      logger,
      registry,
    });
    if (args.values['turn-listen'] === undefined && base.bind !== undefined) {
      opts.listenHost = base.bind;
    }
    relay = await createTurnRelay(opts);
  } catch (err) {
    if (err instanceof TurnError) {
      throw new UsageError('CLI_ERR_BAD_ARGS', `TURN relay: ${err.message} [${err.code}]`, {
        cause: err,
      });
    }
    throw err;
  }
  serverOptions.relay = relay;
  return {
    serverOptions,
    relay,
    attach: (server) => {
      ref.server = server;
    },
    close: () => relay.close(),
  };
}

/** Starts a server and its relay from flags (used by `parloir server`). */
export async function runServerCommand(flags: ParsedArgs): Promise<number> {
  const args = configuredArgs(flags);
  // Kept for SIGHUP: the secret variables are gone from process.env by then.
  const env = { ...process.env, ...secretEnvOf(args) };
  const turn = await relayFromArgs(args, serverOptionsFromArgs(args));
  let server: RunningServer;
  try {
    server = await startServer(turn.serverOptions);
  } catch (err) {
    await turn.close();
    throw err;
  }
  turn.attach(server);
  announce(server);
  if (turn.relay) {
    const mode = turn.relay.relayOnly ? ', relay-only' : '';
    console.log(`TURN relay on port ${turn.relay.port} (UDP and TCP${mode})`);
  }
  notifySystemd(['--ready', `--status=listening on ${server.url}`]);
  const onHup = () => reloadOnHup(server, flags, env, args);
  process.on('SIGHUP', onHup);
  // SIGUSR2 renews an ACME certificate at once (SIGUSR1 is Node's debugger).
  const onUsr2 = () => {
    server.renewCertificate().then(
      (fp) => console.log(`parloir: SIGUSR2: certificate renewed (TLS fingerprint ${fp})`),
      (err: unknown) =>
        console.error(`parloir: SIGUSR2: renewal failed: ${(err as Error).message}`),
    );
  };
  if (server.acmeHttpPort !== undefined) process.on('SIGUSR2', onUsr2);
  return untilSignal(async () => {
    process.off('SIGHUP', onHup);
    process.off('SIGUSR2', onUsr2);
    await server.close(2500);
    await turn.close();
  });
}

/** The secrets as the variables that carry them, so a reload sees the same values. */
function secretEnvOf(args: ParsedArgs): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof args.values.password === 'string' && args.values['password-file'] === undefined)
    out.PARLOIR_PASSWORD = args.values.password;
  if (
    typeof args.values['turn-secret'] === 'string' &&
    args.values['turn-secret-file'] === undefined
  )
    out.PARLOIR_TURN_SECRET = args.values['turn-secret'];
  return out;
}

/**
 * Under systemd (`Type=notify`, `NotifyAccess=all`, $NOTIFY_SOCKET set) tells it the server is
 * ready. Node cannot send on a unix datagram socket, so this runs systemd-notify(1), whose
 * message systemd accepts from any process of the unit with NotifyAccess=all.
 */
function notifySystemd(args: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', args, (err) => {
    if (err) console.error(`parloir: systemd-notify failed: ${err.message}`);
  });
}

/** Keys whose new value needs a restart (read once at start). */
const RESTART_KEYS = (a: ParsedArgs, b: ParsedArgs): string[] =>
  Object.keys({ ...a.values, ...b.values }).filter(
    (k) => k !== 'log-level' && JSON.stringify(a.values[k]) !== JSON.stringify(b.values[k]),
  );

/**
 * SIGHUP (`systemctl reload parloir`): re-reads the configuration and the TLS certificate. The
 * log level and the certificate (for new connections; live calls and WebSockets keep theirs)
 * take effect at once; any other key that changed is named as needing a restart. A bad file is
 * reported and the running configuration kept.
 */
function reloadOnHup(
  server: RunningServer,
  flags: ParsedArgs,
  env: Record<string, string | undefined>,
  running: ParsedArgs,
): void {
  let next: ParsedArgs;
  try {
    const cfg = resolveServerConfig({ flags: flags.values, env });
    next = { values: { ...cfg.values }, positionals: [] };
    if (cfg.password !== undefined) next.values.password = cfg.password;
    if (cfg.turnSecret !== undefined) next.values['turn-secret'] = cfg.turnSecret;
  } catch (err) {
    const why = err instanceof ConfigError ? err.issues.map(formatIssue).join('; ') : String(err);
    console.error(`parloir: SIGHUP: configuration not reloaded: ${why}`);
    return;
  }
  const level = next.values['log-level'];
  server.log.level = typeof level === 'string' ? level : 'info';
  try {
    const fp = server.reloadTls();
    console.log(`parloir: SIGHUP: reloaded${fp !== undefined ? ` (TLS fingerprint ${fp})` : ''}`);
  } catch (err) {
    console.error(`parloir: SIGHUP: TLS certificate not reloaded: ${(err as Error).message}`);
  }
  const stale = RESTART_KEYS(running, next);
  if (stale.length > 0)
    console.log(`parloir: SIGHUP: changed, takes effect after a restart: ${stale.join(', ')}`);
}
