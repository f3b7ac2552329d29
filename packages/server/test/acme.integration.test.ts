/**
 * A real ACME flow (issue 23 must-show 1) against Debian's `pebble` (Let's Encrypt's test CA)
 * on 127.0.0.1, with `pebble-challtestsrv` as its DNS (every name → 127.0.0.1), so Pebble
 * really fetches the HTTP-01 answer from the server's challenge port (no VA_ALWAYS_VALID).
 * The server runs as `parloir server --domain … --acme-directory …` with Pebble's HTTPS
 * certificate trusted through NODE_EXTRA_CA_CERTS:
 * - it obtains a certificate, and a client verifying against Pebble's root (from its management
 *   API) and the name accepts the chain;
 * - a forced renewal (SIGUSR2) during a live call leaves the call and both WebSockets up (chat
 *   still flows, the hang-up reaches the peer), and new connections get the new certificate.
 * Skipped where pebble is not installed (Debian: apt-get install pebble).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { get as httpsGet } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync, writeFileSync } from 'node:fs';
import { generateIdentity } from '@parloir/protocol';
import { SignalingClient } from '../../client/src/signaling/index.ts';
import { next, tempDir } from './helpers.ts';

const CLI = resolve(import.meta.dirname, '../../client/src/cli.ts');
const DOMAIN = 'talk.parloir.test';

const havePebble = (() => {
  try {
    execFileSync('which', ['pebble', 'pebble-challtestsrv', 'openssl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function output(proc: ChildProcess): { text: string } {
  const out = { text: '' };
  proc.stdout?.on('data', (d: Buffer) => (out.text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out.text += d.toString()));
  return out;
}

async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((res, rej) => {
    httpsGet(url, { ca }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res(body));
    }).on('error', rej);
  });
}

/** Connects with Pebble's root as the only trust anchor; resolves with what TLS decided. */
function verifyAgainst(
  port: number,
  root: string,
): Promise<{ authorized: boolean; error?: string; fingerprint: string }> {
  return new Promise((res, rej) => {
    const s = tlsConnect(
      { host: '127.0.0.1', port, servername: DOMAIN, ca: [root], rejectUnauthorized: false },
      () => {
        const fingerprint = s.getPeerX509Certificate()?.fingerprint256 ?? '';
        const r = {
          authorized: s.authorized,
          fingerprint,
          ...(s.authorizationError ? { error: String(s.authorizationError) } : {}),
        };
        s.destroy();
        res(r);
      },
    );
    s.once('error', rej);
  });
}

test(
  'ACME with pebble: certificate chained to its root; forced renewal during a live call',
  { skip: havePebble ? false : 'pebble is not installed (Debian: apt-get install pebble)' },
  async () => {
    const tmp = tempDir();
    const procs: ChildProcess[] = [];
    try {
      // Pebble's own HTTPS certificate.
      const pebCert = join(tmp.dir, 'pebble-cert.pem');
      const pebKey = join(tmp.dir, 'pebble-key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-subj',
          '/CN=pebble',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
          '-days',
          '2',
          '-keyout',
          pebKey,
          '-out',
          pebCert,
        ],
        { stdio: 'ignore' },
      );
      const [acmePort, mgmtPort, ctsMgmt, challengePort] = [
        await freeTcpPort(),
        await freeTcpPort(),
        await freeTcpPort(),
        await freeTcpPort(),
      ];
      const dnsPort = await freeUdpPort();
      const conf = join(tmp.dir, 'pebble.json');
      writeFileSync(
        conf,
        JSON.stringify({
          pebble: {
            listenAddress: `127.0.0.1:${acmePort}`,
            managementListenAddress: `127.0.0.1:${mgmtPort}`,
            certificate: pebCert,
            privateKey: pebKey,
            httpPort: challengePort,
            tlsPort: 5001,
            ocspResponderURL: '',
            externalAccountBindingRequired: false,
          },
        }),
      );
      const cts = spawn(
        'pebble-challtestsrv',
        [
          ...['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', ''],
          ...['-management', `127.0.0.1:${ctsMgmt}`, '-defaultIPv6', ''],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      procs.push(cts);
      const ctsOut = output(cts);
      await until(
        () => ctsOut.text.includes('Starting management'),
        30_000,
        () => ctsOut.text,
      );
      const pebble = spawn('pebble', ['-config', conf, '-dnsserver', `127.0.0.1:${dnsPort}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      });
      procs.push(pebble);
      const pebOut = output(pebble);
      await until(
        () => pebOut.text.includes('ACME directory available'),
        30_000,
        () => pebOut.text,
      );

      const server = spawn(
        process.execPath,
        [
          CLI,
          'server',
          ...['--bind', '127.0.0.1', '--port', '0', '--data-dir', join(tmp.dir, 'data')],
          ...['--no-turn', '--no-web', '--log-level', 'warn', '--domain', DOMAIN],
          ...['--acme-directory', `https://127.0.0.1:${acmePort}/dir`],
          ...['--acme-http-port', String(challengePort)],
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NODE_EXTRA_CA_CERTS: pebCert },
        },
      );
      procs.push(server);
      const out = output(server);
      await until(
        () => /listening url=\S+ port=\d+ fingerprint=\S+/.test(out.text),
        120_000,
        () => out.text,
      );
      const port = Number(/port=(\d+)/.exec(out.text)?.[1]);
      const first = /fingerprint=(\S+)/.exec(out.text)?.[1] as string;

      const root = await fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, readPem(pebCert));
      assert.match(root, /BEGIN CERTIFICATE/);
      const v1 = await verifyAgainst(port, root);
      assert.deepEqual(v1, { authorized: true, fingerprint: first });

      // A live call between two clients pinned to the first certificate.
      const url = `wss://127.0.0.1:${port}/ws`;
      const mk = async (name: string) => {
        const c = new SignalingClient({
          url,
          identity: await generateIdentity(),
          name,
          fingerprint: first,
          reconnect: false,
        });
        await c.connect({ untilReady: true });
        return c;
      };
      const alice = await mk('alice');
      const bob = await mk('bob');
      const bobId = bob.session.userId as string;
      const incoming = next(bob.session, 'incomingCall', () => true, 10_000);
      const callId = await alice.session.invite(bobId);
      await incoming;
      const accepted = next(alice.session, 'callAccepted', () => true, 10_000);
      await bob.session.accept();
      await accepted;

      server.kill('SIGUSR2');
      await until(
        () => /SIGUSR2: certificate renewed/.test(out.text),
        120_000,
        () => out.text,
      );
      const second = /SIGUSR2: certificate renewed \(TLS fingerprint (\S+)\)/.exec(out.text)?.[1];
      assert.ok(second !== undefined && second !== first, 'a new certificate');
      const v2 = await verifyAgainst(port, root);
      assert.deepEqual(v2, { authorized: true, fingerprint: second }, 'new connections get it');

      // The WebSockets and the call made before the renewal are still up.
      const chat = next(bob.session, 'chat', (m) => m.text === 'still here', 10_000);
      await alice.session.sendChat(bobId, 'still here');
      await chat;
      const ended = next(bob.session, 'callEnded', () => true, 10_000);
      await alice.session.hangup();
      assert.deepEqual(await ended, { callId, reason: 'hangup', by: alice.session.userId });
      alice.close();
      bob.close();

      const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
      server.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      for (const p of procs) p.kill('SIGKILL');
      tmp.remove();
    }
  },
);

function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
