/**
 * Server trust for the native app (issue 19 §6): before connecting to a `wss://` server the app
 * looks at the certificate the server presents and compares it with the profile's pin
 * (`known_servers.json`, the same file the signalling client checks). A first connection, or a
 * changed certificate, is a question for the person — the fingerprint to compare, or a warning
 * that blocks — and the app connects only once they accept that exact fingerprint, which is then
 * pinned. A certificate renewed by a trusted CA for the same DNS name is left to the signalling
 * client, which re-pins it as a browser would.
 */
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ControlApiError, type TrustQuestion } from '@parloir/protocol';
import { KnownServers } from '../signaling/profile.ts';

/** What a TLS server presented. */
export interface PresentedCertificate {
  /** SHA-256 fingerprint, `AB:CD:…`. */
  fingerprint: string;
  /** Whether the chain verified against the trust store for the host name. */
  authorized: boolean;
}

/** Connects with TLS to `host:port`, reads the certificate, closes. Bounded by `timeoutMs`. */
export function probeCertificate(
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<PresentedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlApiError('CONTROL_ERR_WRONG_STATE', `${host}:${port}: no TLS answer`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const authorized = socket.authorized;
      socket.end();
      if (!fingerprint) {
        reject(new ControlApiError('CONTROL_ERR_WRONG_STATE', 'server presented no certificate'));
        return;
      }
      resolve({ fingerprint, authorized });
    });
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(
        new ControlApiError('CONTROL_ERR_WRONG_STATE', `${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      );
    });
  });
}

/**
 * Checks the server at WebSocket URL `wsUrl` against the pins in `profileDir`. Returns the
 * question to ask, or undefined when the app may connect: a plain `ws://` URL (nothing to pin),
 * the pinned certificate, a CA-renewed one, or the one the person accepted (`accepted`, which is
 * then pinned).
 */
export async function checkServerTrust(
  profileDir: string,
  wsUrl: string,
  accepted: string | undefined,
  probe: typeof probeCertificate = probeCertificate,
): Promise<TrustQuestion | undefined> {
  const u = new URL(wsUrl);
  if (u.protocol !== 'wss:') return undefined;
  const port = Number(u.port || '443');
  const hostPort = `${u.hostname}:${port}`;
  const presented = await probe(u.hostname.replace(/^\[|\]$/g, ''), port);
  const known = new KnownServers(profileDir);
  const pinned = known.get(hostPort);
  if (pinned === presented.fingerprint) return undefined;
  if (pinned !== undefined && presented.authorized && isIP(u.hostname) === 0) return undefined;
  if (accepted !== undefined && accepted.toUpperCase() === presented.fingerprint) {
    known.forget(hostPort);
    known.check(hostPort, presented.fingerprint);
    return undefined;
  }
  return pinned === undefined
    ? { kind: 'new', server: hostPort, fingerprint: presented.fingerprint }
    : { kind: 'changed', server: hostPort, fingerprint: presented.fingerprint, pinned };
}
