/**
 * Issue 17 in Chromium: the built UI runs under the server's Content-Security-Policy with no
 * violation (no inline script or style in dist/index.html), and the browser identity is a
 * non-extractable Ed25519 key in IndexedDB:
 * - an old localStorage key is migrated: the name it registered on the server still logs in
 *   (the server refuses that name to any other key), the IndexedDB copy cannot be exported, and
 *   the localStorage copy is gone;
 * - a new name gets a non-extractable key that survives a reload (the same key logs in again);
 * - native mode (`parloir connect --ui`): the page served by the control server works under the
 *   same policy (its /api/ws is 'self').
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { generateIdentity, toBase64 } from '@parloir/protocol';
import { Store } from '@parloir/server';
import {
  ROOT,
  cleanup,
  connectAs,
  launchChromium,
  newContext,
  startServer,
  tempDir,
  type ServerHandle,
} from './helpers.ts';

let dir = '';
let server: ServerHandle | undefined;
let browser: Browser;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('keys');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

/** Records CSP violations the page reports (event and console), from before any script runs. */
async function watchCsp(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(m.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return seen;
}

/** What IndexedDB holds for `id`, and what localStorage still has of the old keys. */
function inspectKeys(page: Page, id: string) {
  return page.evaluate(async (key) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('parloir');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('open failed'));
    });
    const rec = await new Promise<unknown>((resolve, reject) => {
      const r = db.transaction('identities').objectStore('identities').get(key);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('get failed'));
    });
    db.close();
    const legacy = Object.keys(localStorage).filter((k) => k.startsWith('parloir.identity.'));
    if (typeof rec !== 'object' || rec === null) return { found: false as const, legacy };
    const { privateKey, publicKey, origin } = rec as {
      privateKey: CryptoKey;
      publicKey: Uint8Array;
      origin: string;
    };
    let exportError = '';
    for (const format of ['pkcs8', 'jwk'] as const) {
      try {
        await crypto.subtle.exportKey(format, privateKey);
      } catch (err) {
        exportError += `${format}: ${(err as Error).name}; `;
      }
    }
    return {
      found: true as const,
      legacy,
      isCryptoKey: privateKey instanceof CryptoKey,
      extractable: privateKey.extractable,
      algorithm: privateKey.algorithm.name,
      type: privateKey.type,
      usages: privateKey.usages,
      publicKey: Array.from(publicKey),
      origin,
      exportError,
    };
  }, id);
}

test('dist/index.html has no inline script or style', () => {
  const html = readFileSync(join(ROOT, 'packages/web/dist/index.html'), 'utf8');
  for (const tag of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)) {
    assert.match(tag[0], /\ssrc=/, 'every script has a src');
    assert.equal(tag[1]?.trim(), '', 'no inline script body');
  }
  assert.doesNotMatch(html, /<style\b/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
});

test('an old localStorage key is migrated to a non-extractable IndexedDB key; CSP holds', async () => {
  const data = join(dir, 'data');
  // The name "Migra" was registered by the old key (what an earlier version left on the server).
  const old = await generateIdentity();
  const userId = createHash('sha256').update(old.publicKey).digest('hex').slice(0, 32);
  const store = new Store({ path: join(data, 'parloir.db') });
  store.insertUser({ userId, name: 'Migra', publicKey: toBase64(old.publicKey), createdAt: 1 });
  store.close();
  await store.whenClosed();
  server = await startServer(data, ['--no-turn']);

  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const violations = await watchCsp(page);
  const res = await page.goto(server.url);
  const csp = res?.headers()['content-security-policy'] ?? '';
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.equal(res?.headers()['referrer-policy'], 'no-referrer');
  await page.evaluate(
    ({ pkcs8, publicKey }) =>
      localStorage.setItem('parloir.identity.migra', JSON.stringify({ pkcs8, publicKey })),
    { pkcs8: toBase64(old.pkcs8), publicKey: toBase64(old.publicKey) },
  );

  // Logs in: the server accepts "Migra" only from the key that registered it.
  await connectAs(page, server, 'Migra');
  const rec = await inspectKeys(page, 'migra');
  assert.ok(rec.found, 'identity in IndexedDB');
  assert.equal(rec.isCryptoKey, true);
  assert.equal(rec.extractable, false);
  assert.equal(rec.algorithm, 'Ed25519');
  assert.equal(rec.type, 'private');
  assert.deepEqual(rec.usages, ['sign']);
  assert.equal(rec.origin, 'migrated');
  assert.deepEqual(rec.publicKey, Array.from(old.publicKey));
  assert.match(rec.exportError, /pkcs8: InvalidAccessError; jwk: InvalidAccessError/);
  assert.deepEqual(rec.legacy, [], 'the readable copy left localStorage');

  // Reload and log in again: the key now comes from IndexedDB.
  await connectAs(page, server, 'Migra');
  assert.deepEqual(violations, [], 'no CSP violation');
  // The watcher sees a violation when there is one, and the policy blocks an injected script.
  const reported = page.waitForEvent('console', {
    predicate: (m) => /Content Security Policy/i.test(m.text()),
    timeout: 10_000,
  });
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__injected = true';
    document.body.append(s);
    return (window as { __injected?: boolean }).__injected === true;
  });
  assert.equal(ran, false, 'inline script blocked');
  await reported;
  assert.match(violations.join('\n'), /script-src/);
  await ctx.close();
});

test('a new name gets a non-extractable key that survives a reload; another browser cannot take the name', async () => {
  assert.ok(server !== undefined);
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const violations = await watchCsp(page);
  await connectAs(page, server, 'Neuf');
  const first = await inspectKeys(page, 'neuf');
  assert.ok(first.found);
  assert.equal(first.extractable, false);
  assert.equal(first.origin, 'generated');
  assert.match(first.exportError, /InvalidAccessError/);
  await page.reload();
  await connectAs(page, server, 'Neuf');
  const again = await inspectKeys(page, 'neuf');
  assert.ok(again.found);
  assert.deepEqual(again.publicKey, first.publicKey, 'the same key after a reload');
  assert.deepEqual(violations, [], 'no CSP violation');

  // A fresh profile (another browser) has another key: the server refuses the name to it.
  const other = await (await newContext(browser)).newPage();
  await connectAs(other, server, 'Neuf', { waitForPeople: false });
  await other.getByRole('alert').waitFor({ timeout: 15_000 });
  assert.match((await other.getByRole('alert').textContent()) ?? '', /name/i);
  await other.context().close();
  await ctx.close();
});

test('native mode: the UI served by parloir connect --ui works under the CSP', async () => {
  assert.ok(server !== undefined);
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'packages/client/src/cli.ts'),
      'connect',
      '--ui',
      '--server',
      server.url,
      '--user',
      'Natif',
      '--profile',
      join(dir, 'natif'),
      '--in',
      'null',
      '--out',
      'null',
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no web UI line: ${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        const m = /web UI: (http:\/\/127\.0\.0\.1:\d+\/#native=\S+)/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`connect exited (${code}): ${out}`));
      });
    });
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const violations = await watchCsp(page);
    const res = await page.goto(url);
    assert.match(res?.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    await page.getByRole('region', { name: 'People' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByText('Native client').count(), 1);
    assert.deepEqual(violations, [], 'no CSP violation in native mode');
    await ctx.close();
  } finally {
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => child.once('exit', r));
    child.stdin.end('quit\n');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  }
});

test('a name with a bidi override is refused with a clear message', async () => {
  assert.ok(server !== undefined);
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await connectAs(page, server, 'eve\u202egnp.exe', { waitForPeople: false });
  await page
    .getByRole('alert')
    .getByText(
      'This name holds invisible or control characters, or unusual spaces. Pick another one.',
    )
    .waitFor({ timeout: 15_000 });
  await ctx.close();
});
