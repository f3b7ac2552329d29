/**
 * Issue 17: the core enforces the name rules of @parloir/protocol's normalizeName at login —
 * invisible/bidi names refused, names stored in NFKC, and a name that looks like another key's
 * (TS #39 skeleton) refused, also after a restart (index rebuilt from the store).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authSigningText,
  generateIdentity,
  toBase64,
  type GeneratedIdentity,
} from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import { Store } from '../store.ts';
import { SignalingCore } from './signaling-core.ts';
import { NameIndex } from './name-index.ts';

function makeCore(store: Store, host?: { name: string }): SignalingCore {
  return new SignalingCore({
    store,
    ...CORE_CRYPTO,
    ...(host ? { host: { name: host.name, acceptAll: true } } : {}),
  });
}

let nextConn = 1;

/** Logs in as `name` with `id`; returns the auth answer frame. */
async function auth(
  core: SignalingCore,
  name: string,
  id: GeneratedIdentity,
): Promise<{ result?: { name: string }; error?: { code: string; message: string } }> {
  // Error frames are flat ({type:'error', id, code, message}); shaped here as {error}.
  const connId = nextConn++;
  const frames: Record<string, unknown>[] = [];
  const drain = () => {
    for (const o of core.pollOutput()) {
      if (o.type === 'send' && o.connId === connId)
        frames.push(
          JSON.parse(
            typeof o.text === 'string' ? o.text : new TextDecoder().decode(o.text),
          ) as Record<string, unknown>,
        );
    }
  };
  core.handleInput({ type: 'open', connId, address: '127.0.0.1' }, 0);
  drain();
  const hello = frames.find((f) => f.type === 'hello');
  const sig = await id.sign(
    new TextEncoder().encode(authSigningText(String(hello?.challenge), name)),
  );
  const text = JSON.stringify({
    type: 'auth',
    id: 1,
    protocolVersion: 1,
    name,
    publicKey: toBase64(id.publicKey),
    signature: toBase64(sig),
  });
  core.handleInput({ type: 'text', connId, text }, 0);
  drain();
  const answer = frames.find((f) => f.id === 1 || (f.type === 'error' && f.id === undefined));
  assert.ok(answer, `no answer to auth as ${JSON.stringify(name)}`);
  if (answer.type === 'error')
    return { error: { code: String(answer.code), message: String(answer.message) } };
  const result = answer.result as { name: string } | undefined;
  return result ? { result } : {};
}

test('login refuses bidi, zero-width and other invisible names with SIG_ERR_BAD_NAME', async () => {
  const core = makeCore(new Store({ path: ':memory:' }));
  const id = await generateIdentity();
  for (const name of ['admin\u202egnp', 'bo\u200bb', '\u200fbob', 'bo\u00adb', 'b\u3164ob']) {
    const a = await auth(core, name, id);
    assert.equal(a.error?.code, 'SIG_ERR_BAD_NAME', JSON.stringify(name));
  }
  assert.equal((await auth(core, 'bob', id)).result?.name, 'bob');
});

test('names are stored in NFKC; a look-alike of another key’s name is refused, also after restart', async () => {
  const store = new Store({ path: ':memory:' });
  let core = makeCore(store);
  const alice = await generateIdentity();
  const mallory = await generateIdentity();
  assert.equal((await auth(core, 'Ａｌｉｃｅ', alice)).result?.name, 'Alice');
  assert.equal(store.userByName('Alice')?.name, 'Alice');
  for (const name of ['alice', 'ALICE', 'Аlice' /* Cyrillic А */, 'AIice', 'Al\u0131ce']) {
    const a = await auth(core, name, mallory);
    assert.equal(a.error?.code, 'SIG_ERR_NAME_TAKEN', JSON.stringify(name));
  }
  // The owner may change case: same key.
  assert.equal((await auth(core, 'ALICE', alice)).result?.name, 'ALICE');
  // A new core on the same store rebuilds the index.
  core = makeCore(store);
  assert.equal((await auth(core, 'аlice', mallory)).error?.code, 'SIG_ERR_NAME_TAKEN');
  assert.equal((await auth(core, 'Mallory', mallory)).result?.name, 'Mallory');
  // Alice renamed herself; her old name's skeleton is free for others.
  assert.equal((await auth(core, 'Alicia', alice)).result?.name, 'Alicia');
  assert.equal((await auth(core, 'Mallory', mallory)).result?.name, 'Mallory');
  const carol = await generateIdentity();
  assert.equal((await auth(core, 'alice', carol)).result?.name, 'alice');
});

test('host mode: a look-alike of the host name is refused', async () => {
  const core = makeCore(new Store({ path: ':memory:' }), { name: 'hostess' });
  const guest = await generateIdentity();
  const first = await auth(core, 'h0stess', guest);
  assert.equal(first.error?.code, 'SIG_ERR_NAME_TAKEN', JSON.stringify(first));
  // Cyrillic Е: not the host's name (the host is recognised by name, case-insensitively) but
  // looks like it.
  assert.equal((await auth(core, 'HOST\u0415SS', guest)).error?.code, 'SIG_ERR_NAME_TAKEN');
});

test('NameIndex: rename frees the old skeletons, first owner keeps a shared one', () => {
  const idx = new NameIndex();
  idx.set('u1', 'bill');
  assert.deepEqual(idx.lookAlikeOf('BiII', 'u2'), { userId: 'u1', name: 'bill' });
  assert.equal(idx.lookAlikeOf('bill', 'u1'), undefined);
  idx.set('u1', 'william');
  assert.equal(idx.lookAlikeOf('bill', 'u2'), undefined);
  assert.equal(idx.lookAlikeOf('wiIIiam', 'u2')?.userId, 'u1');
  assert.equal(idx.size, 1);
});
