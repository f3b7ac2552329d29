/**
 * TLS pinning against a real HTTPS server with a generated certificate: first use pins, the
 * same certificate passes, a changed certificate on the same host:port is refused with an
 * ssh-style message, and an explicit expected fingerprint is enforced.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SignalingError } from '@parloir/protocol';
import { startServer } from '@parloir/server';
import { SignalingClient } from './signaling-client.ts';
import { loadOrCreateProfile } from './profile.ts';

test('TLS pinning: trust on first use, refuse a changed certificate', async () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-pin-'));
  try {
    const profile = await loadOrCreateProfile(join(root, 'profile'));
    const again = await loadOrCreateProfile(join(root, 'profile'));
    assert.equal(again.userId, profile.userId, 'identity persists');
    const common = { bind: '127.0.0.1', logLevel: 'silent', webRoot: null } as const;
    const s1 = await startServer({ ...common, port: 0, dataDir: join(root, 'srv1') });
    const port = s1.port;
    const notices: string[] = [];
    const mk = (
      url: string,
      extra: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {},
    ) =>
      new SignalingClient({
        url,
        identity: profile.signer,
        name: 'pinner',
        profileDir: profile.dir,
        reconnect: false,
        onNotice: (n) => notices.push(n),
        ...extra,
      });
    const c1 = mk(s1.url);
    await c1.connect();
    assert.ok(notices.some((n) => n.includes('pinned') && n.includes(s1.fingerprint ?? '?')));
    const pins = JSON.parse(
      readFileSync(join(profile.dir, 'known_servers.json'), 'utf8'),
    ) as Record<string, string>;
    assert.equal(pins[`127.0.0.1:${port}`], s1.fingerprint);
    c1.close();
    const c2 = mk(s1.url);
    await c2.connect();
    c2.close();
    await s1.close(200);

    // Same host:port, new certificate (another data dir): refused.
    const s2 = await startServer({ ...common, port, dataDir: join(root, 'srv2') });
    try {
      assert.notEqual(s2.fingerprint, s1.fingerprint);
      const c3 = mk(s2.url);
      await assert.rejects(c3.connect(), (e: SignalingError) => {
        assert.equal(e.code, 'SIG_ERR_FINGERPRINT_MISMATCH');
        assert.match(e.message, /CHANGED/);
        assert.ok(
          e.message.includes(s1.fingerprint ?? '?') && e.message.includes(s2.fingerprint ?? '?'),
        );
        assert.match(e.message, /known_servers\.json/);
        return true;
      });
      assert.equal(c3.session.connection.kind, 'disconnected');
      // An explicit fingerprint wins over the pin file, both ways.
      const c4 = mk(s2.url, { fingerprint: s2.fingerprint ?? '' });
      await c4.connect();
      c4.close();
      const c5 = mk(s2.url, { fingerprint: s1.fingerprint ?? '' });
      await assert.rejects(
        c5.connect(),
        (e: SignalingError) => e.code === 'SIG_ERR_FINGERPRINT_MISMATCH',
      );
    } finally {
      await s2.close(200);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
