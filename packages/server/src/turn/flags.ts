/**
 * The `parloir server` flags of the TURN relay, as a `node:util` parseArgs options object, and the
 * mapping from their parsed values to {@link TurnRelayOptions}. Wiring is then:
 *
 *   const { values } = parseArgs({ options: { ...TURN_CLI_OPTIONS, ...others } });
 *   const relay = await createTurnRelay(turnOptionsFromFlags(values, { dataDir, calls, logger, registry }));
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { CallDirectory } from '../relay-types.ts';
import type { TurnLogger } from './turn-core.ts';
import { TurnError } from './errors.ts';
import type { TurnRelayOptions } from './relay.ts';

/** parseArgs options for the TURN flags. */
export const TURN_CLI_OPTIONS = {
  /** UDP/TCP listening port (default 3478). */
  'turn-port': { type: 'string' },
  /** Relay port range `A-B`. */
  'turn-relay-ports': { type: 'string' },
  /** Shared secret (default: random, persisted in the data dir as `turn-secret`). */
  'turn-secret': { type: 'string' },
  /** Bench mode: see {@link TurnRelayOptions.bench}. */
  'turn-bench': { type: 'boolean', default: false },
  /** Every call through the relay. */
  'relay-only': { type: 'boolean', default: false },
  /** External TURN URL(s) to hand out instead of the built-in relay (repeatable). */
  'turn-external': { type: 'string', multiple: true },
  /** Listen address of the relay (default 0.0.0.0). */
  'turn-listen': { type: 'string' },
  /** Address relay sockets bind and advertise (default: listen address; for 0.0.0.0 the first non-internal IPv4). */
  'turn-relay-address': { type: 'string' },
  /** Host put in the `turn:` URLs handed to clients (default: relay address). */
  'turn-public-host': { type: 'string' },
  /** Forward UDP with Node dgram sockets instead of the native forwarding thread. */
  'turn-dgram': { type: 'boolean', default: false },
  /** Private-range peers: `allow` (default, LAN calls) or `deny`. */
  'turn-private-peers': { type: 'string' },
  /** Development on one machine only: loopback peers on any port, the server's own included. */
  'turn-allow-loopback-peers': { type: 'boolean', default: false },
} as const;

/** Parsed values of {@link TURN_CLI_OPTIONS}. */
export interface TurnFlagValues {
  'turn-port'?: string;
  'turn-relay-ports'?: string;
  'turn-secret'?: string;
  'turn-bench'?: boolean;
  'relay-only'?: boolean;
  'turn-external'?: string[];
  'turn-listen'?: string;
  'turn-relay-address'?: string;
  'turn-public-host'?: string;
  'turn-dgram'?: boolean;
  'turn-private-peers'?: string;
  'turn-allow-loopback-peers'?: boolean;
}

/** What the flags cannot say. */
export interface TurnFlagContext {
  /** Data directory, where a generated secret is persisted. */
  dataDir: string;
  /** Live calls. */
  calls: CallDirectory;
  /** Logger. */
  logger?: TurnLogger;
  /** Metrics registry. */
  registry?: Registry;
}

function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new TurnError('TURN_ERR_BAD_OPTION', `${what}: not a port number: ${text}`);
  }
  return Number(text);
}

/** Reads `<dataDir>/turn-secret`, creating it (mode 0600) with 32 random bytes if absent. */
export function loadOrCreateTurnSecret(dataDir: string): string {
  const path = join(dataDir, 'turn-secret');
  try {
    const s = readFileSync(path, 'utf8').trim();
    if (s.length > 0) return s;
  } catch {
    // absent: create below
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Maps parsed flags to relay options. Throws a {@link TurnError} (`TURN_ERR_BAD_OPTION`) on a bad
 * port or range, so the CLI can print it and exit.
 */
export function turnOptionsFromFlags(
  values: TurnFlagValues,
  ctx: TurnFlagContext,
): TurnRelayOptions {
  const options: TurnRelayOptions = {
    secret: values['turn-secret'] ?? loadOrCreateTurnSecret(ctx.dataDir),
    calls: ctx.calls,
    bench: values['turn-bench'] ?? false,
    relayOnly: values['relay-only'] ?? false,
    port: values['turn-port'] !== undefined ? parsePort(values['turn-port'], '--turn-port') : 3478,
    logger: ctx.logger,
    registry: ctx.registry,
  };
  if (values['turn-listen']) options.listenHost = values['turn-listen'];
  if (values['turn-relay-address']) options.relayAddress = values['turn-relay-address'];
  if (values['turn-public-host']) options.publicHost = values['turn-public-host'];
  if (values['turn-dgram']) options.nativeForwarding = false;
  const privatePeers = values['turn-private-peers'];
  if (privatePeers !== undefined) {
    if (privatePeers !== 'allow' && privatePeers !== 'deny') {
      throw new TurnError(
        'TURN_ERR_BAD_OPTION',
        `--turn-private-peers: expected allow or deny, got ${privatePeers}`,
      );
    }
    options.privatePeers = privatePeers;
  }
  if (values['turn-allow-loopback-peers']) options.allowLoopbackPeers = true;
  const range = values['turn-relay-ports'];
  if (range !== undefined) {
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(range);
    if (!m)
      throw new TurnError('TURN_ERR_BAD_OPTION', `--turn-relay-ports: expected A-B, got ${range}`);
    const min = parsePort(m[1] ?? '', '--turn-relay-ports');
    const max = parsePort(m[2] ?? '', '--turn-relay-ports');
    if (min < 1024 || min > max) {
      throw new TurnError('TURN_ERR_BAD_OPTION', `--turn-relay-ports: bad range ${range}`);
    }
    options.relayPorts = { min, max };
  }
  if (options.bench) {
    // Bench mode only ever runs on loopback.
    options.listenHost ??= '127.0.0.1';
    options.relayAddress ??= '127.0.0.1';
  }
  const external = values['turn-external'];
  if (external && external.length > 0) options.externalUrls = external;
  return options;
}
