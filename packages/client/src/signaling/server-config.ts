/**
 * The server's configuration from three layers: a TOML file (`--config FILE` or
 * `PARLOIR_CONFIG`), environment variables (`PARLOIR_<KEY>`), and flags. Every flag of
 * `parloir server` has a key: the flag name with `-` turned into `_` (`--data-dir` →
 * `data_dir`, env `PARLOIR_DATA_DIR`). The environment overrides the file, and flags override
 * both.
 *
 * Secrets never travel on the command line, where `ps` shows them to every local user: the server
 * password comes from `password_file` or `PARLOIR_PASSWORD`, the TURN secret from
 * `turn_secret_file` or `PARLOIR_TURN_SECRET` (the legacy `--turn-secret` flag still works and
 * warns). The file may not hold secrets itself (config files end up world-readable and in
 * config management): `password` / `turn_secret` keys in it are refused with a hint.
 *
 * TOML rather than JSON: operators write it by hand in /etc, and it has comments. smol-toml is
 * the parser (small, no dependencies, TOML 1.0 compliant; pinned).
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ClientError } from '../errors.ts';

/** Where a value came from, lowest precedence first. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

/** Kinds of value a key takes. */
type KeyKind = 'string' | 'path' | 'int' | 'bool' | 'list' | 'level' | 'port-range';

interface KeySpec {
  kind: KeyKind;
  /** Inclusive bounds of an `int`. */
  min?: number;
  max?: number;
  /** A secret: masked when printed, never accepted in the file. */
  secret?: boolean;
  /** Not accepted in the file (nor as a flag, for `password`). */
  notInFile?: string;
}

/**
 * Every key, by its flag name. `password` and `turn-secret` are values (env only, or the legacy
 * flag); their `-file` twins name a file holding them.
 */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  bind: { kind: 'string' },
  port: { kind: 'int', min: 0, max: 65535 },
  'data-dir': { kind: 'path' },
  cert: { kind: 'path' },
  key: { kind: 'path' },
  'insecure-http': { kind: 'bool' },
  password: {
    kind: 'string',
    secret: true,
    notInFile: 'put the password in a file named by password_file, or in PARLOIR_PASSWORD',
  },
  'password-file': { kind: 'path' },
  'max-users': { kind: 'int', min: 1, max: 10_000_000 },
  'log-level': { kind: 'level' },
  'ping-timeout-ms': { kind: 'int', min: 100, max: 3_600_000 },
  'ring-timeout-ms': { kind: 'int', min: 100, max: 3_600_000 },
  'call-grace-ms': { kind: 'int', min: 0, max: 3_600_000 },
  'max-connections-per-ip': { kind: 'int', min: 1, max: 10_000_000 },
  'web-root': { kind: 'path' },
  'no-web': { kind: 'bool' },
  'no-turn': { kind: 'bool' },
  'turn-port': { kind: 'int', min: 0, max: 65535 },
  'turn-relay-ports': { kind: 'port-range' },
  'turn-secret': {
    kind: 'string',
    secret: true,
    notInFile: 'put the secret in a file named by turn_secret_file, or in PARLOIR_TURN_SECRET',
  },
  'turn-secret-file': { kind: 'path' },
  'turn-bench': { kind: 'bool' },
  'relay-only': { kind: 'bool' },
  'turn-external': { kind: 'list' },
  'turn-listen': { kind: 'string' },
  'turn-relay-address': { kind: 'string' },
  'turn-public-host': { kind: 'string' },
  'turn-dgram': { kind: 'bool' },
  'turn-private-peers': { kind: 'string' },
  'turn-allow-loopback-peers': { kind: 'bool' },
  domain: { kind: 'string' },
  'acme-directory': { kind: 'string' },
  'acme-email': { kind: 'string' },
  'acme-http-port': { kind: 'int', min: 0, max: 65535 },
  'allowed-origin': { kind: 'list' },
};

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** One bad key: where it is and what is wrong. */
export interface ConfigIssue {
  /** The key as written where it was found (`data_dir`, `PARLOIR_PORT`, `--port`). */
  key: string;
  /** Where: the file path, `environment` or `command line`. */
  where: string;
  /** 1-based line in the file, when it came from one. */
  line?: number;
  message: string;
}

/** A bad configuration: every bad key is in {@link issues}, and named in the message. */
export class ConfigError extends ClientError {
  /** Each bad key, in the order found. */
  readonly issues: readonly ConfigIssue[];
  constructor(
    code: 'CFG_ERR_INVALID' | 'CFG_ERR_READ',
    issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(code, issues.map(formatIssue).join('\n'), options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `FILE:LINE: key: message`, or `environment: KEY: message`. */
export function formatIssue(i: ConfigIssue): string {
  return `${i.where}${i.line !== undefined ? `:${i.line}` : ''}: ${i.key}: ${i.message}`;
}

/** A flag-form value, as `node:util` parseArgs gives it. */
export type FlagValue = string | boolean | string[];

/** The effective configuration. */
export interface ResolvedConfig {
  /** Flag-form values (`'data-dir'` → string), secrets excluded; feed to serverOptionsFromArgs. */
  values: Record<string, FlagValue>;
  /** Where each value (and each secret) came from. */
  sources: Record<string, { source: ConfigSource; detail?: string }>;
  /** The server password, if one is set. */
  password?: string;
  /** The TURN shared secret, if one is set (otherwise the relay keeps its own in the data dir). */
  turnSecret?: string;
  /** The config file read, if any. */
  configPath?: string;
}

const fileKey = (flag: string): string => flag.replaceAll('-', '_');
const envKey = (flag: string): string => `PARLOIR_${flag.replaceAll('-', '_').toUpperCase()}`;

/** Checks one raw value against its spec; returns the flag-form value or an error message. */
function checkValue(
  spec: KeySpec,
  raw: unknown,
  fromText: boolean,
): { ok: FlagValue } | { err: string } {
  switch (spec.kind) {
    case 'bool': {
      if (typeof raw === 'boolean') return { ok: raw };
      if (fromText && typeof raw === 'string') {
        if (/^(1|true|yes|on)$/i.test(raw)) return { ok: true };
        if (/^(0|false|no|off)$/i.test(raw)) return { ok: false };
      }
      return { err: `expected true or false, got ${describe(raw)}` };
    }
    case 'int': {
      const n =
        typeof raw === 'number' || typeof raw === 'bigint'
          ? Number(raw)
          : typeof raw === 'string' && /^\d+$/.test(raw)
            ? Number(raw)
            : NaN;
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(n) || n < min || n > max)
        return { err: `expected an integer in ${min}..${max}, got ${describe(raw)}` };
      return { ok: String(n) };
    }
    case 'list': {
      if (fromText && typeof raw === 'string')
        return {
          ok: raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
        };
      if (Array.isArray(raw) && raw.every((s) => typeof s === 'string' && s.length > 0))
        return { ok: raw as string[] };
      return { err: `expected a list of strings, got ${describe(raw)}` };
    }
    case 'level':
      if (typeof raw === 'string' && LEVELS.includes(raw)) return { ok: raw };
      return { err: `expected one of ${LEVELS.join('|')}, got ${describe(raw)}` };
    case 'port-range': {
      const m = typeof raw === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(raw) : null;
      const a = Number(m?.[1]);
      const b = Number(m?.[2]);
      if (!m || a < 1024 || a > b || b > 65535)
        return { err: `expected a port range A-B within 1024..65535, got ${describe(raw)}` };
      return { ok: raw as string };
    }
    case 'string':
    case 'path':
      if (typeof raw === 'string' && raw.length > 0 && !raw.includes('\0')) return { ok: raw };
      return { err: `expected a non-empty string, got ${describe(raw)}` };
  }
}

function describe(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw.length > 40 ? raw.slice(0, 40) : raw);
  if (Array.isArray(raw)) return 'a list';
  if (raw instanceof Date) return 'a date';
  if (raw !== null && typeof raw === 'object') return 'a table';
  return String(raw);
}

/** 1-based line of `key = …` (or of a `[key]` table) in a TOML text (first match), if found. */
function lineOf(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  const k = key.replace(/[^A-Za-z0-9_-]/g, '\\$&');
  const re = new RegExp(`^\\s*(?:\\[+\\s*)?(?:${k}|"${k}"|'${k}')\\s*(?:=|[.\\]])`);
  const i = lines.findIndex((l) => re.test(l));
  return i < 0 ? undefined : i + 1;
}

/**
 * Parses a config file's text. Returns the flag-form values it sets and every issue found
 * (syntax error, unknown key, bad value, secret in the file), each with its line.
 */
export function parseConfigText(
  text: string,
  where: string,
): { values: Record<string, FlagValue>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const values: Record<string, FlagValue> = {};
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    const line = err instanceof TomlError ? err.line : undefined;
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    issues.push({
      key: '(syntax)',
      where,
      ...(line !== undefined ? { line } : {}),
      message: `not valid TOML: ${message ?? ''}`,
    });
    return { values, issues };
  }
  for (const [k, raw] of Object.entries(doc)) {
    const flag = k.replaceAll('_', '-');
    const spec = k.includes('-') ? undefined : CONFIG_KEYS[flag];
    const line = lineOf(text, k);
    const at = { key: k, where, ...(line !== undefined ? { line } : {}) };
    if (!spec || !Object.hasOwn(CONFIG_KEYS, flag)) {
      issues.push({ ...at, message: 'unknown key' });
      continue;
    }
    if (spec.notInFile) {
      issues.push({
        ...at,
        message: `secrets are not accepted in the config file: ${spec.notInFile}`,
      });
      continue;
    }
    const r = checkValue(spec, raw, false);
    if ('err' in r) issues.push({ ...at, message: r.err });
    else values[flag] = r.ok;
  }
  return { values, issues };
}

/** Reads a secret file: its content without the trailing newline; empty is an error. */
function readSecretFile(path: string, readFile: (p: string) => string): string {
  const s = readFile(path).replace(/\r?\n$/, '');
  if (s.length === 0) throw new Error('the file is empty');
  return s;
}

/** What {@link resolveServerConfig} reads. */
export interface ConfigInputs {
  /** Parsed flags (only those given: no defaults). */
  flags: Record<string, FlagValue | boolean[] | undefined>;
  /** The environment (PARLOIR_* variables are read). */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads a file as UTF-8 (injected for tests). Default: readFileSync. */
  readFile?: (path: string) => string;
}

/**
 * Merges file < env < flags, reads the secret files, and checks every value. Throws a
 * {@link ConfigError} listing every bad key (with file and line where it came from a file).
 */
export function resolveServerConfig(inputs: ConfigInputs): ResolvedConfig {
  const readFile = inputs.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const issues: ConfigIssue[] = [];
  const values: Record<string, FlagValue> = {};
  const sources: ResolvedConfig['sources'] = {};
  const configFlag = inputs.flags.config;
  const configPath =
    typeof configFlag === 'string' ? configFlag : inputs.env.PARLOIR_CONFIG || undefined;

  if (configPath !== undefined) {
    let text: string;
    try {
      text = readFile(configPath);
    } catch (err) {
      throw new ConfigError(
        'CFG_ERR_READ',
        [{ key: 'config', where: configPath, message: `cannot read: ${(err as Error).message}` }],
        { cause: err },
      );
    }
    const parsed = parseConfigText(text, configPath);
    issues.push(...parsed.issues);
    for (const [k, v] of Object.entries(parsed.values)) {
      values[k] = v;
      sources[k] = { source: 'file', detail: configPath };
    }
  }
  for (const [flag, spec] of Object.entries(CONFIG_KEYS)) {
    const name = envKey(flag);
    const raw = inputs.env[name];
    if (raw === undefined || raw === '') continue;
    const r = checkValue(spec, raw, true);
    if ('err' in r) issues.push({ key: name, where: 'environment', message: r.err });
    else {
      values[flag] = r.ok;
      sources[flag] = { source: 'env', detail: name };
    }
  }
  for (const [flag, raw] of Object.entries(inputs.flags)) {
    if (raw === undefined || flag === 'config' || flag === 'help') continue;
    const spec = Object.hasOwn(CONFIG_KEYS, flag) ? CONFIG_KEYS[flag] : undefined;
    if (!spec) {
      // A flag without a key yet: passed on as given (the command's parser checked it).
      values[flag] = Array.isArray(raw) ? raw.map(String) : raw;
      sources[flag] = { source: 'flag' };
      continue;
    }
    if (flag === 'password') {
      issues.push({
        key: '--password',
        where: 'command line',
        message: `the password is not taken on the command line (ps shows it): ${spec.notInFile}`,
      });
      continue;
    }
    const r = checkValue(spec, Array.isArray(raw) ? raw.map(String) : raw, true);
    if ('err' in r) issues.push({ key: `--${flag}`, where: 'command line', message: r.err });
    else {
      values[flag] = r.ok;
      sources[flag] = { source: 'flag' };
    }
  }

  const out: ResolvedConfig = { values, sources };
  if (configPath !== undefined) out.configPath = configPath;
  // A secret is its value or its file, whichever was set at the higher level; the value keys
  // (password, turn-secret) are never passed on as flag values.
  for (const [secretKey, prop] of [
    ['password', 'password'],
    ['turn-secret', 'turnSecret'],
  ] as const) {
    const fileFlag = `${secretKey}-file`;
    const rank = (k: string) =>
      ({ default: 0, file: 1, env: 2, flag: 3 })[sources[k]?.source ?? 'default'];
    const direct = values[secretKey];
    const path = values[fileFlag];
    delete values[secretKey];
    if (
      typeof direct === 'string' &&
      (typeof path !== 'string' || rank(secretKey) >= rank(fileFlag))
    ) {
      out[prop] = direct;
      delete values[fileFlag];
      if (rank(secretKey) === rank(fileFlag) && typeof path === 'string')
        issues.push({
          key: envKey(secretKey),
          where: 'environment',
          message: `both ${envKey(secretKey)} and ${envKey(fileFlag)} are set; set one`,
        });
    } else if (typeof path === 'string') {
      try {
        out[prop] = readSecretFile(path, readFile);
        sources[secretKey] = { source: sources[fileFlag]?.source ?? 'file', detail: path };
      } catch (err) {
        const src = sources[fileFlag];
        const line =
          src?.source === 'file' && configPath !== undefined
            ? lineOf(readFile(configPath), fileKey(fileFlag))
            : undefined;
        issues.push({
          key:
            src?.source === 'file'
              ? fileKey(fileFlag)
              : src?.source === 'env'
                ? envKey(fileFlag)
                : `--${fileFlag}`,
          where:
            src?.source === 'file'
              ? (configPath ?? 'file')
              : src?.source === 'env'
                ? 'environment'
                : 'command line',
          ...(line !== undefined ? { line } : {}),
          message: `cannot read the ${secretKey} from ${path}: ${(err as Error).message}`,
        });
      }
    }
  }
  if (values.cert !== undefined && values.key === undefined)
    issues.push({ key: 'key', where: 'configuration', message: 'cert is set without key' });
  if (values.key !== undefined && values.cert === undefined)
    issues.push({ key: 'cert', where: 'configuration', message: 'key is set without cert' });
  if (values['insecure-http'] === true && values.cert !== undefined)
    issues.push({
      key: 'insecure_http',
      where: 'configuration',
      message: 'insecure_http and cert/key exclude each other',
    });
  if (issues.length > 0) throw new ConfigError('CFG_ERR_INVALID', issues);
  return out;
}

/**
 * The effective configuration as TOML-like lines for `parloir config check`: every key set, with
 * where it came from; secrets masked (their length is not shown either).
 */
export function describeConfig(cfg: ResolvedConfig): string {
  const lines: string[] = [];
  const src = (k: string) => {
    const s = cfg.sources[k];
    return s ? `  # ${s.source}${s.detail !== undefined ? ` ${s.detail}` : ''}` : '';
  };
  for (const flag of Object.keys(CONFIG_KEYS)) {
    const v = cfg.values[flag];
    if (v === undefined || CONFIG_KEYS[flag]?.secret) continue;
    const shown =
      typeof v === 'string' && /^\d+$/.test(v) && CONFIG_KEYS[flag]?.kind === 'int'
        ? v
        : JSON.stringify(v);
    lines.push(`${fileKey(flag)} = ${shown}${src(flag)}`);
  }
  if (cfg.password !== undefined) lines.push(`password = "********"${src('password')}`);
  if (cfg.turnSecret !== undefined) lines.push(`turn_secret = "********"${src('turn-secret')}`);
  return lines.join('\n');
}

/** Removes the secret variables from `env` once read, so child processes do not inherit them. */
export function scrubSecretEnv(env: Record<string, string | undefined>): void {
  delete env.PARLOIR_PASSWORD;
  delete env.PARLOIR_TURN_SECRET;
}
