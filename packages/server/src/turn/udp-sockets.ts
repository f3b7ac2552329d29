/**
 * The `dgram` side of the relay's UDP, used when the native forwarding thread is not (the addon
 * did not load, an address is not an IPv4 literal, or `--turn-dgram`): the listening sockets that
 * share the TURN port, and one relay socket per allocation.
 */
import dgram from 'node:dgram';
import type { TurnLogger } from './allocation.ts';

/** A relay socket: a `dgram` socket, a port of the native forwarding thread, or a TCP listener. */
export interface RelaySocket {
  /** Sends `data` from the relayed address to `ip:port` (datagram relays only). */
  send(data: Buffer, port: number, ip: string): void;
  /** Closes it. */
  close(): void;
}

/**
 * Every address we send to is an IP literal, so "resolve" it synchronously: dgram's default
 * goes through dns.lookup, which defers each send by a process.nextTick.
 */
function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, 4);
}

/**
 * Binds `count` UDP sockets on `host:port` (0: an ephemeral port, which the later sockets then
 * share). Several sockets on one port (SO_REUSEPORT): the kernel spreads clients over them by
 * 4-tuple hash, so a stalled event loop has N receive buffers (4 MiB each) to fill before anything
 * drops. Any of them can answer: they share the source address. Rejects with the bind error.
 */
export async function listenUdp(
  host: string,
  port: number,
  count: number,
  logger: TurnLogger,
  onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
): Promise<dgram.Socket[]> {
  const sockets: dgram.Socket[] = [];
  let bound = port;
  for (let i = 0; i < count; i++) {
    const udp = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      reusePort: count > 1,
      lookup: literalLookup,
    });
    udp.on('message', onMessage);
    udp.on('error', (err) => logger.warn({ err: err.message }, 'turn udp listener error'));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(bound, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      for (const u of [...sockets, udp]) {
        try {
          u.close();
        } catch {
          // A socket whose bind failed may be closed already.
        }
      }
      throw err;
    }
    sockets.push(udp);
    bound = udp.address().port;
  }
  return sockets;
}

/**
 * Binds one relay socket on `ip:port` (exclusive), or gives undefined when the port is taken.
 * Datagrams that arrive go to `onMessage`.
 */
export async function bindUdpRelay(
  ip: string,
  port: number,
  logger: TurnLogger,
  onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
): Promise<RelaySocket | undefined> {
  const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  const ok = await new Promise<boolean>((resolve) => {
    sock.once('error', () => resolve(false));
    sock.bind({ port, address: ip, exclusive: true }, () => resolve(true));
  });
  if (!ok) {
    sock.close();
    return undefined;
  }
  sock.removeAllListeners('error');
  sock.on('error', (err) => logger.warn({ port, err: err.message }, 'turn relay socket error'));
  sock.on('message', onMessage);
  return sock;
}
