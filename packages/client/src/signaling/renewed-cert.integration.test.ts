/**
 * Pinning across an ACME-style renewal (issue 23 §2): a client that pinned a CA-signed
 * certificate for `localhost` accepts the server's renewed certificate — another key, signed by
 * a CA it trusts (NODE_EXTRA_CA_CERTS, as a public CA would be), for the same name — re-pins it
 * and says so; it refuses a changed certificate that is self-signed, or signed by a CA it does
 * not trust. Each client runs in a child process, since Node reads NODE_EXTRA_CA_CERTS at start.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '@parloir/server';

const HERE = import.meta.dirname;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA, two leaves for localhost it signs, and a self-signed leaf for localhost. */
function makeCerts(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-subj',
      '/CN=Test CA',
      '-days',
      '2',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  for (const leaf of ['leaf1', 'leaf2']) {
    openssl(
      [
        'req',
        '-new',
        ...ec,
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        `${leaf}.key`,
        '-out',
        `${leaf}.csr`,
      ],
      dir,
    );
    openssl(
      [
        ...['x509', '-req', '-in', `${leaf}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key'],
        ...['-CAcreateserial', '-days', '2', '-copy_extensions', 'copy', '-out', `${leaf}.pem`],
      ],
      dir,
    );
  }
  openssl(
    [
      ...[
        'req',
        '-x509',
        ...ec,
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      ...['-days', '2', '-keyout', 'self.key', '-out', 'self.pem'],
    ],
    dir,
  );
}

/** Connects once from a child process; resolves with what happened. */
function connectOnce(
  url: string,
  profileDir: string,
  trustCa: string | undefined,
): Promise<{ ok: boolean; code?: string; notices: string[] }> {
  const script = `
    import { SignalingClient } from ${JSON.stringify(join(HERE, 'signaling-client.ts'))};
    import { loadOrCreateProfile } from ${JSON.stringify(join(HERE, 'profile.ts'))};
    const profile = await loadOrCreateProfile(${JSON.stringify(profileDir)});
    const notices = [];
    const c = new SignalingClient({ url: ${JSON.stringify(url)}, identity: profile.signer,
      name: 'pinner', profileDir: profile.dir, reconnect: false, onNotice: (n) => notices.push(n) });
    try {
      await c.connect();
      console.log(JSON.stringify({ ok: true, notices }));
    } catch (err) {
      console.log(JSON.stringify({ ok: false, code: err.code, notices }));
    }
    c.close();
    process.exit(0);
  `;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (trustCa !== undefined) env.NODE_EXTRA_CA_CERTS = trustCa;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((res, rej) =>
    proc.on('exit', () => {
      try {
        res(JSON.parse(out.trim().split('\n').at(-1) ?? '') as { ok: boolean; notices: string[] });
      } catch {
        rej(new Error(`client output: ${out}`));
      }
    }),
  );
}

test('a renewed certificate signed by a trusted CA for the same name is re-pinned; others refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-renew-'));
  try {
    makeCerts(root);
    const cert = join(root, 'cert.pem');
    const key = join(root, 'key.pem');
    const use = (leaf: string) => {
      writeFileSync(key, readFileSync(join(root, `${leaf}.key`)));
      writeFileSync(cert, readFileSync(join(root, `${leaf}.pem`)));
    };
    use('leaf1');
    const server = await startServer({
      bind: '127.0.0.1',
      port: 0,
      dataDir: join(root, 'srv'),
      cert,
      key,
      logLevel: 'silent',
      webRoot: null,
    });
    try {
      const url = `wss://localhost:${server.port}/ws`;
      const profile = join(root, 'profile');
      const ca = join(root, 'ca.pem');
      const pins = () =>
        JSON.parse(readFileSync(join(profile, 'known_servers.json'), 'utf8')) as Record<
          string,
          string
        >;

      const first = await connectOnce(url, profile, ca);
      assert.equal(first.ok, true, JSON.stringify(first));
      assert.match(first.notices.join('\n'), /first use/);
      const pinned1 = pins()[`localhost:${server.port}`];

      use('leaf2');
      const fp2 = server.reloadTls();
      const renewed = await connectOnce(url, profile, ca);
      assert.equal(renewed.ok, true, JSON.stringify(renewed));
      assert.match(renewed.notices.join('\n'), /certificate renewed, signed by a trusted CA/);
      assert.equal(pins()[`localhost:${server.port}`], fp2);
      assert.notEqual(fp2, pinned1);

      // Self-signed for the same name: refused, pin kept.
      use('self');
      server.reloadTls();
      const selfSigned = await connectOnce(url, profile, ca);
      assert.deepEqual([selfSigned.ok, selfSigned.code], [false, 'SIG_ERR_FINGERPRINT_MISMATCH']);
      assert.equal(pins()[`localhost:${server.port}`], fp2);

      // Signed by the CA, but by a client that does not trust it: refused.
      use('leaf1');
      server.reloadTls();
      const untrusted = await connectOnce(url, profile, undefined);
      assert.deepEqual([untrusted.ok, untrusted.code], [false, 'SIG_ERR_FINGERPRINT_MISMATCH']);
      assert.equal(pins()[`localhost:${server.port}`], fp2);
    } finally {
      await server.close(200);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
