/**
 * `createTurnRelay`: the built-in TURN relay (RFC 8656 over UDP and TCP, RFC 6062 TCP relaying,
 * RFC 8489 STUN Binding). It checks the options, builds the sans-IO core (`turn-core.ts`) and the
 * IO shell around it (`relay-adapter.ts`), binds the listeners, registers metrics, and implements
 * the signalling contract (`MediaRelay`).
 *
 * Two ways to move UDP packets, with the same behaviour: the native forwarding thread of
 * `@parloir/native` (`native-forwarding.ts`), or Node `dgram` sockets (`udp-sockets.ts`: the
 * fallback when the addon cannot load, or `nativeForwarding: false`).
 */
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { TurnForwarder } from '@parloir/native';
import type { IceServerInfo } from '../relay-types.ts';
import { issueTurnCredential } from './credentials.ts';
import { TurnError } from './errors.ts';
import { registerTurnMetrics } from './metrics.ts';
import { RelayAdapter } from './relay-adapter.ts';
import type { TurnRelay, TurnRelayOptions, TurnRelayStats } from './relay-options.ts';
import { TurnCore } from './turn-core.ts';

export type { TurnRelay, TurnRelayOptions, TurnRelayStats } from './relay-options.ts';

/** Every IPv4 address of this machine's interfaces (loopback included). */
function ownIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

/** The first non-internal IPv4 address of this machine, if any. */
function firstExternalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function isLoopbackHost(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

/**
 * Starts the TURN relay: binds the UDP (and TCP) listener, registers metrics, and returns the
 * `MediaRelay` the signalling server uses. With `externalUrls` no socket is bound and
 * `iceServersFor` hands out those URLs with REST credentials made from the same secret.
 */
export async function createTurnRelay(options: TurnRelayOptions): Promise<TurnRelay> {
  const logger = options.logger ?? { info() {}, warn() {} };
  const listenHost = options.listenHost ?? '0.0.0.0';
  const relayAddress =
    options.relayAddress ??
    (listenHost === '0.0.0.0' ? (firstExternalIPv4() ?? '127.0.0.1') : listenHost);
  const publicHost = options.publicHost ?? relayAddress;
  const realm = options.realm ?? 'parloir';
  const ttlSec = options.credentialTtlSec ?? 21_600;
  const relayOnly = options.relayOnly ?? false;
  const secret = options.secret;
  if (!secret) throw new TurnError('TURN_ERR_BAD_OPTION', 'a TURN secret is required');
  const bench = options.bench ?? false;
  if (bench && !(isLoopbackHost(listenHost) && isLoopbackHost(relayAddress))) {
    throw new TurnError(
      'TURN_ERR_BENCH_NOT_LOOPBACK',
      `--turn-bench needs every listener on loopback (listen ${listenHost}, relay ${relayAddress})`,
    );
  }
  if (!bench && !options.calls && !options.externalUrls) {
    throw new TurnError('TURN_ERR_BAD_OPTION', 'a call directory is required outside bench mode');
  }
  const relayPorts = options.relayPorts ?? { min: 49152, max: 65535 };
  if (
    !Number.isInteger(relayPorts.min) ||
    !Number.isInteger(relayPorts.max) ||
    relayPorts.min < 1024 ||
    relayPorts.max > 65535 ||
    relayPorts.min > relayPorts.max
  ) {
    throw new TurnError(
      'TURN_ERR_BAD_OPTION',
      `bad relay port range ${relayPorts.min}-${relayPorts.max}`,
    );
  }

  if (options.externalUrls && options.externalUrls.length > 0) {
    const urls = [...options.externalUrls];
    logger.info({ urls }, 'turn: handing out external TURN servers');
    return {
      port: 0,
      relayAddress: '',
      forwarding: 'none',
      relayOnly,
      iceServersFor(callId, userId, nowMs) {
        const c = issueTurnCredential(secret, callId, userId, nowMs, ttlSec);
        return [{ urls, username: c.username, credential: c.credential }];
      },
      callEnded() {},
      stats: () => ({
        allocations: 0,
        packetsRelayed: 0,
        bytesRelayed: 0,
        refusals: {},
        malformed: 0,
        bandwidthDropped: 0,
      }),
      close: () => Promise.resolve(),
    };
  }

  let native: typeof TurnForwarder | undefined;
  if ((options.nativeForwarding ?? true) && isIPv4(listenHost) && isIPv4(relayAddress)) {
    try {
      const mod = await import('@parloir/native');
      if (mod.TurnForwarder.available) native = mod.TurnForwarder;
    } catch (err) {
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'turn: the native addon did not load, forwarding with dgram',
      );
    }
  }
  const hook: { adapter?: RelayAdapter } = {};
  const core = new TurnCore({
    secret,
    realm,
    calls: options.calls,
    bench,
    allowLoopbackPeers: options.allowLoopbackPeers ?? false,
    privatePeers: options.privatePeers ?? 'allow',
    selfAddresses: [
      ...ownIPv4Addresses(),
      relayAddress,
      ...(listenHost === '0.0.0.0' ? [] : [listenHost]),
    ],
    maxAllocationsPerUser: options.maxAllocationsPerUser,
    maxAllocationsPerCall: options.maxAllocationsPerCall,
    maxAllocations: options.maxAllocations,
    bandwidthBytesPerSec: options.bandwidthBytesPerSec,
    requestsPerSecPerIp: options.requestsPerSecPerIp,
    logger,
    onAllocationChange: (a, deleted) => hook.adapter?.onAllocationChange(a, deleted),
  });
  const adapter = new RelayAdapter(core, {
    listenHost,
    relayIp: relayAddress,
    relayPorts,
    logger,
    bench,
    bandwidthBytesPerSec: options.bandwidthBytesPerSec ?? 125_000,
    selfPortsOpen: ((options.allowLoopbackPeers ?? false) || bench) && isLoopbackHost(relayAddress),
    tcp: {
      // Bench mode runs every client on 127.0.0.1: one IP, so only the global cap applies.
      maxTcpPerIp: options.maxTcpConnectionsPerIp ?? (bench ? Infinity : 128),
      maxTcp: options.maxTcpConnections ?? 4096,
      tcpAuthDeadlineMs: options.tcpAuthDeadlineMs ?? 10_000,
    },
  });
  hook.adapter = adapter;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      port = await adapter.listen(
        options.port ?? 3478,
        options.tcp ?? true,
        // An ephemeral port gets one socket: Linux may give a SO_REUSEPORT bind to port 0 a port
        // that another reuse-port socket of this user already holds.
        options.port === 0 ? 1 : (options.udpSockets ?? 2),
        native,
      );
      break;
    } catch (err) {
      // An ephemeral UDP port whose number is taken on the TCP side: draw another one.
      const inUse = (err as { code?: string }).code === 'EADDRINUSE';
      if (options.port !== 0 || !inUse || attempt >= 5) throw err;
    }
  }
  if (bench) {
    logger.warn(
      { port },
      'TURN BENCH MODE: any credential made with the secret is accepted without a call, loopback peers allowed. Never use in production.',
    );
  }
  logger.info(
    {
      listen: `${listenHost}:${port}`,
      relay: relayAddress,
      relayPorts,
      tcp: options.tcp ?? true,
      forwarding: adapter.forwarding,
    },
    'turn relay listening',
  );
  const unregister = options.registry
    ? registerTurnMetrics(options.registry, core, () => adapter.syncCounters())
    : () => {};
  const stats = (): TurnRelayStats => {
    adapter.syncCounters();
    return {
      allocations: core.allocationCount,
      packetsRelayed: core.counters.packetsRelayed,
      bytesRelayed: core.counters.bytesRelayed,
      refusals: Object.fromEntries(core.counters.refusals),
      malformed: core.counters.malformed,
      bandwidthDropped: core.counters.bandwidthDropped,
    };
  };
  return {
    port,
    relayAddress,
    forwarding: adapter.forwarding,
    relayOnly,
    iceServersFor(callId: string, userId: string, nowMs: number): IceServerInfo[] {
      const c = issueTurnCredential(secret, callId, userId, nowMs, ttlSec);
      const hostPort = `${publicHost}:${port}`;
      return [
        { urls: [`stun:${hostPort}`] },
        {
          urls: [`turn:${hostPort}?transport=udp`, `turn:${hostPort}?transport=tcp`],
          username: c.username,
          credential: c.credential,
        },
      ];
    },
    callEnded: (callId: string) => adapter.callEnded(callId),
    stats,
    async close() {
      unregister();
      await adapter.close();
    },
  };
}
