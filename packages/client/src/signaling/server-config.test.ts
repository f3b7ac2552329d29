/**
 * The server config: every key from the file, the environment and flags; precedence file < env <
 * flag; secrets from files and the environment, never from the file itself or the command line;
 * typed errors naming the key and its line; secrets masked in the printed configuration.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVER_CLI_OPTIONS } from './run-server.ts';
import {
  CONFIG_KEYS,
  ConfigError,
  describeConfig,
  parseConfigText,
  resolveServerConfig,
  type FlagValue,
} from './server-config.ts';

/** A valid file value for each key, and the flag-form value it becomes. */
const SAMPLE: Record<string, [toml: string, flag: FlagValue]> = {
  bind: ['"127.0.0.1"', '127.0.0.1'],
  port: ['8443', '8443'],
  'data-dir': ['"/var/lib/parloir"', '/var/lib/parloir'],
  cert: ['"/etc/parloir/cert.pem"', '/etc/parloir/cert.pem'],
  key: ['"/etc/parloir/key.pem"', '/etc/parloir/key.pem'],
  'insecure-http': ['false', false],
  'password-file': ['"/run/secrets/pw"', '/run/secrets/pw'],
  'max-users': ['100', '100'],
  'log-level': ['"warn"', 'warn'],
  'ping-timeout-ms': ['20000', '20000'],
  'ring-timeout-ms': ['45000', '45000'],
  'call-grace-ms': ['10000', '10000'],
  'max-connections-per-ip': ['16', '16'],
  'web-root': ['"/srv/parloir/web"', '/srv/parloir/web'],
  'no-web': ['false', false],
  'no-turn': ['false', false],
  'turn-port': ['3479', '3479'],
  'turn-relay-ports': ['"49152-49999"', '49152-49999'],
  'turn-secret-file': ['"/run/secrets/turn"', '/run/secrets/turn'],
  'turn-bench': ['false', false],
  'relay-only': ['true', true],
  'turn-external': [
    '["turn:turn.example.org:3478?transport=udp"]',
    ['turn:turn.example.org:3478?transport=udp'],
  ],
  'turn-listen': ['"0.0.0.0"', '0.0.0.0'],
  'turn-relay-address': ['"203.0.113.7"', '203.0.113.7'],
  'turn-public-host': ['"talk.example.org"', 'talk.example.org'],
  'turn-dgram': ['true', true],
  'turn-private-peers': ['"deny"', 'deny'],
  'turn-allow-loopback-peers': ['false', false],
  domain: ['"talk.example.org"', 'talk.example.org'],
  'acme-directory': [
    '"https://acme-staging-v02.api.letsencrypt.org/directory"',
    'https://acme-staging-v02.api.letsencrypt.org/directory',
  ],
  'acme-email': ['"ops@example.org"', 'ops@example.org'],
  'acme-http-port': ['8080', '8080'],
  'allowed-origin': ['["https://talk.example.org"]', ['https://talk.example.org']],
};

const SECRETS: Record<string, string> = {
  '/run/secrets/pw': 'correct horse battery\n',
  '/run/secrets/turn': 'turn-secret-from-file',
};

function files(map: Record<string, string>): (p: string) => string {
  return (p) => {
    if (!Object.hasOwn(map, p)) throw new Error(`ENOENT: no such file, open '${p}'`);
    return map[p] as string;
  };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('every key except the secret values has a sample, and every sample is a key', () => {
  const keys = Object.keys(CONFIG_KEYS).filter((k) => !CONFIG_KEYS[k]?.notInFile);
  assert.deepEqual(Object.keys(SAMPLE).sort(), keys.sort());
});

test('every flag of parloir server has a key', () => {
  const flags = Object.keys(SERVER_CLI_OPTIONS).filter((f) => f !== 'config');
  assert.deepEqual(
    flags.filter((f) => !Object.hasOwn(CONFIG_KEYS, f)),
    [],
  );
});

test('every key read from the file, then from the environment, then from a flag', () => {
  for (const [flag, [toml, want]] of Object.entries(SAMPLE)) {
    const fileKey = flag.replaceAll('-', '_');
    // Alone in a file (cert/key need each other, so each is checked with its twin present).
    const twin = flag === 'cert' ? 'key = "/k.pem"\n' : flag === 'key' ? 'cert = "/c.pem"\n' : '';
    const text = `# comment line\n${twin}${fileKey} = ${toml}\n`;
    const fromFile = resolveServerConfig({
      flags: { config: '/etc/parloir.toml' },
      env: {},
      readFile: files({ '/etc/parloir.toml': text, ...SECRETS }),
    });
    assert.deepEqual(fromFile.values[flag], want, `file key ${fileKey}`);
    assert.equal(fromFile.sources[flag]?.source, 'file');

    const envText = Array.isArray(want) ? want.join(',') : String(want);
    const env: Record<string, string> = {
      [`PARLOIR_${fileKey.toUpperCase()}`]: envText,
    };
    if (flag === 'cert') env.PARLOIR_KEY = '/k.pem';
    if (flag === 'key') env.PARLOIR_CERT = '/c.pem';
    const fromEnv = resolveServerConfig({ flags: {}, env, readFile: files(SECRETS) });
    assert.deepEqual(fromEnv.values[flag], want, `env PARLOIR_${fileKey.toUpperCase()}`);
    assert.equal(fromEnv.sources[flag]?.source, 'env');

    const flags: Record<string, FlagValue> = { [flag]: want };
    if (flag === 'cert') flags.key = '/k.pem';
    if (flag === 'key') flags.cert = '/c.pem';
    const fromFlag = resolveServerConfig({ flags, env: {}, readFile: files(SECRETS) });
    assert.deepEqual(fromFlag.values[flag], want, `--${flag}`);
    assert.equal(fromFlag.sources[flag]?.source, 'flag');
  }
});

test('a file with every key at once: secrets read from their files, not passed as paths', () => {
  const text = Object.entries(SAMPLE)
    .map(([flag, [toml]]) => `${flag.replaceAll('-', '_')} = ${toml}`)
    .join('\n');
  const cfg = resolveServerConfig({
    flags: { config: '/p.toml' },
    env: {},
    readFile: files({ '/p.toml': text, ...SECRETS }),
  });
  assert.equal(cfg.password, 'correct horse battery');
  assert.equal(cfg.turnSecret, 'turn-secret-from-file');
  assert.equal(cfg.values.password, undefined);
  assert.equal(cfg.values['turn-secret'], undefined);
  assert.equal(Object.keys(cfg.values).length, Object.keys(SAMPLE).length);
});

test('precedence: file < env < flag, key by key', () => {
  const readFile = files({ '/p.toml': 'port = 1000\nlog_level = "info"\nmax_users = 5\n' });
  const cfg = resolveServerConfig({
    flags: { config: '/p.toml', port: '3000' },
    env: { PARLOIR_PORT: '2000', PARLOIR_LOG_LEVEL: 'debug' },
    readFile,
  });
  assert.equal(cfg.values.port, '3000');
  assert.equal(cfg.sources.port?.source, 'flag');
  assert.equal(cfg.values['log-level'], 'debug');
  assert.equal(cfg.sources['log-level']?.source, 'env');
  assert.equal(cfg.values['max-users'], '5');
  assert.equal(cfg.sources['max-users']?.source, 'file');
  // PARLOIR_CONFIG names the file when --config does not.
  const viaEnv = resolveServerConfig({ flags: {}, env: { PARLOIR_CONFIG: '/p.toml' }, readFile });
  assert.equal(viaEnv.values.port, '1000');
});

test('secret precedence: PARLOIR_PASSWORD beats password_file in the file; a flag file beats the env', () => {
  const readFile = files({
    '/p.toml': 'password_file = "/pw"\n',
    '/pw': 'from-file\n',
    '/pw2': 'from-flag-file',
  });
  const env = resolveServerConfig({
    flags: { config: '/p.toml' },
    env: { PARLOIR_PASSWORD: 'from-env' },
    readFile,
  });
  assert.equal(env.password, 'from-env');
  const flag = resolveServerConfig({
    flags: { config: '/p.toml', 'password-file': '/pw2' },
    env: { PARLOIR_PASSWORD: 'from-env' },
    readFile,
  });
  assert.equal(flag.password, 'from-flag-file');
  const both = configError(() =>
    resolveServerConfig({
      flags: {},
      env: { PARLOIR_PASSWORD: 'a', PARLOIR_PASSWORD_FILE: '/pw' },
      readFile,
    }),
  );
  assert.match(both.message, /PARLOIR_PASSWORD.*PARLOIR_PASSWORD_FILE/);
});

test('typed errors name every bad key with its line', () => {
  const text = [
    'port = 8443',
    'prot = 1', // line 2: unknown
    'max_users = -3', // line 3: out of range
    'log_level = "loud"', // line 4: unknown level
    'relay_only = "yes"', // line 5: not a boolean
    'password = "hunter2"', // line 6: secret in the file
    'turn_relay_ports = "10-20"', // line 7: below 1024
    'turn_external = "turn:x"', // line 8: not a list
    '[tls]', // line 9: a table
    'x = 1',
  ].join('\n');
  const err = configError(() =>
    resolveServerConfig({
      flags: { config: '/bad.toml' },
      env: {},
      readFile: files({ '/bad.toml': text }),
    }),
  );
  assert.equal(err.code, 'CFG_ERR_INVALID');
  const got = err.issues.map((i) => [i.key, i.line]);
  assert.deepEqual(got, [
    ['prot', 2],
    ['max_users', 3],
    ['log_level', 4],
    ['relay_only', 5],
    ['password', 6],
    ['turn_relay_ports', 7],
    ['turn_external', 8],
    ['tls', 9],
  ]);
  assert.match(err.message, /\/bad\.toml:2: prot: unknown key/);
  assert.match(err.message, /\/bad\.toml:6: password: secrets are not accepted/);
  assert.doesNotMatch(err.message, /hunter2/);
});

test('a syntax error names its line; an unreadable file and secret file are typed errors', () => {
  const syntax = parseConfigText('port = 1\nbind = "unterminated\n', '/s.toml');
  assert.equal(syntax.issues.length, 1);
  assert.equal(syntax.issues[0]?.line, 2);
  const missing = configError(() =>
    resolveServerConfig({ flags: { config: '/nope.toml' }, env: {}, readFile: files({}) }),
  );
  assert.equal(missing.code, 'CFG_ERR_READ');
  const noSecret = configError(() =>
    resolveServerConfig({
      flags: { config: '/p.toml' },
      env: {},
      readFile: files({ '/p.toml': '\n\npassword_file = "/missing"\n' }),
    }),
  );
  assert.equal(noSecret.issues[0]?.key, 'password_file');
  assert.equal(noSecret.issues[0]?.line, 3);
  const empty = configError(() =>
    resolveServerConfig({
      flags: { 'password-file': '/e' },
      env: {},
      readFile: files({ '/e': '\n' }),
    }),
  );
  assert.match(empty.message, /--password-file.*empty/);
});

test('bad environment values and flags are named; --password is refused with a hint', () => {
  const err = configError(() =>
    resolveServerConfig({
      flags: { password: 'hunter2', port: 'eighty' },
      env: { PARLOIR_MAX_USERS: 'lots', PARLOIR_NO_TURN: 'perhaps' },
      readFile: files({}),
    }),
  );
  const keys = err.issues.map((i) => i.key);
  assert.deepEqual(keys, ['PARLOIR_MAX_USERS', 'PARLOIR_NO_TURN', '--password', '--port']);
  assert.match(err.message, /password_file|PARLOIR_PASSWORD/);
  assert.doesNotMatch(err.message, /hunter2/);
});

test('the printed configuration masks secrets and says where each value came from', () => {
  const cfg = resolveServerConfig({
    flags: { config: '/p.toml' },
    env: { PARLOIR_TURN_SECRET: 's3cr3t-turn', PARLOIR_PORT: '9443' },
    readFile: files({ '/p.toml': 'password_file = "/pw"\nbind = "::"\n', '/pw': 'pa55word' }),
  });
  const text = describeConfig(cfg);
  assert.doesNotMatch(text, /pa55word|s3cr3t-turn/);
  assert.match(text, /^password = "\*+" {2}# file \/pw$/m);
  assert.match(text, /^turn_secret = "\*+" {2}# env PARLOIR_TURN_SECRET$/m);
  assert.match(text, /^port = 9443 {2}# env PARLOIR_PORT$/m);
  assert.match(text, /^bind = "::" {2}# file \/p\.toml$/m);
  assert.match(text, /^password_file = "\/pw"/m);
});
