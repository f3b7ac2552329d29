/**
 * Login bound to the server (issue 17 §2), on the sans-IO core: a login signed for another
 * server's name — what a rogue server that relays this server's challenge gets from its victim —
 * is refused; a login signed for one of this server's names passes; a login that names no
 * server is refused once the adapter gives the core its names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authSigningText, generateIdentity, toBase64 } from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import { Store } from '../store.ts';
import { SignalingCore } from './signaling-core.ts';

const REAL = 'origin:http://127.0.0.1:8443';
const ROGUE = 'origin:http://127.0.0.1:9443';

async function attempt(signedFor: string | undefined, claimed: string | undefined) {
  const store = new Store({ path: ':memory:' });
  const core = new SignalingCore({
    store,
    ...CORE_CRYPTO,
  });
  try {
    const frames: Record<string, unknown>[] = [];
    const drain = () => {
      for (const o of core.pollOutput()) {
        if (o.type === 'send')
          frames.push(
            JSON.parse(
              typeof o.text === 'string' ? o.text : new TextDecoder().decode(o.text),
            ) as Record<string, unknown>,
          );
      }
    };
    core.handleInput({ type: 'open', connId: 1, address: '127.0.0.1', serverNames: [REAL] }, 0);
    drain();
    const hello = frames.find((f) => f.type === 'hello');
    const id = await generateIdentity();
    const sig = await id.sign(
      new TextEncoder().encode(authSigningText(String(hello?.challenge), 'alice', signedFor)),
    );
    const auth = {
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name: 'alice',
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
      ...(claimed === undefined ? {} : { server: claimed }),
    };
    core.handleInput({ type: 'text', connId: 1, text: JSON.stringify(auth) }, 0);
    drain();
    return frames.find((f) => f.id === 1);
  } finally {
    store.close();
  }
}

test('a login signed for this server passes', async () => {
  const answer = await attempt(REAL, REAL);
  assert.equal(answer?.type, 'result', JSON.stringify(answer));
});

test('a challenge relayed from another server: signed for the rogue, refused here', async () => {
  const answer = await attempt(ROGUE, ROGUE);
  assert.equal(answer?.type, 'error');
  assert.equal(answer.code, 'SIG_ERR_BAD_SIGNATURE');
  assert.match(String(answer.message), /signed for origin:http:\/\/127\.0\.0\.1:9443/);
});

test('signed for the rogue but claiming this server: the signature does not verify', async () => {
  const answer = await attempt(ROGUE, REAL);
  assert.equal(answer?.type, 'error');
  assert.equal(answer.code, 'SIG_ERR_BAD_SIGNATURE');
});

test('an unbound (v1) login is refused once the server knows its names', async () => {
  const answer = await attempt(undefined, undefined);
  assert.equal(answer?.type, 'error');
  assert.equal(answer.code, 'SIG_ERR_BAD_SIGNATURE');
});
