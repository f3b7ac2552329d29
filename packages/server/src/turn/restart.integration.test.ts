/**
 * A relay restart (issue 21 §3, the TURN side): credentials issued before it still authenticate
 * after it, because the secret is persisted in the data dir (`<dataDir>/turn-secret`, 0600) and
 * read back by `turnOptionsFromFlags`, as `parloir server` starts the relay. What does not
 * survive, by design: the allocations (their sockets die with the process) and the nonces (keyed
 * per process). A client of the old process gets 438, then 437 on its old allocation, and
 * allocates again with the credential it holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TurnTestClient } from './client.ts';
import { turnOptionsFromFlags } from './flags.ts';
import { createTurnRelay, type TurnRelay } from './relay.ts';
import { UdpTurn } from './relay-test-kit.ts';

const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
const directory = { partiesOf: (id: string) => calls.get(id) };

for (const nativeForwarding of [true, false]) {
  const mode = nativeForwarding ? 'native' : 'dgram';

  /** A relay as `parloir server` starts it: options from the flags and the data dir. */
  function start(dataDir: string, port: number): Promise<TurnRelay> {
    const options = turnOptionsFromFlags(
      {
        'turn-port': String(port),
        'turn-listen': '127.0.0.1',
        'turn-relay-address': '127.0.0.1',
        'turn-relay-ports': '55000-55999',
        'turn-dgram': !nativeForwarding,
      },
      { dataDir, calls: directory },
    );
    return createTurnRelay(options);
  }

  test(`a credential issued before a restart allocates after it, on the same data dir (${mode})`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parloir-turn-restart-'));
    const otherDir = mkdtempSync(join(tmpdir(), 'parloir-turn-restart-'));
    let relay = await start(dataDir, 0);
    const port = relay.port;
    try {
      assert.equal(statSync(join(dataDir, 'turn-secret')).mode & 0o777, 0o600);
      const ice = relay.iceServersFor('c1', 'alice', Date.now()).find((s) => s.username);
      assert.ok(ice?.username && ice.credential);
      const tc = new TurnTestClient({ username: ice.username, password: ice.credential });
      const client = new UdpTurn(port, tc);
      await client.open();
      try {
        const first = await client.allocate();
        assert.equal(first.errorCode, 0);
        assert.ok(first.relayed);

        // The process goes away with its allocations; a new one starts on the same port and dir.
        await relay.close();
        relay = await start(dataDir, port);
        assert.equal(relay.port, port);

        // The old nonce was keyed by the old process: 438 with a fresh one.
        assert.equal((await client.call(tc.refresh(600))).errorCode, 438);
        // The allocation died with the process.
        assert.equal((await client.call(tc.refresh(600))).errorCode, 437);
        // The credential signalling issued before the restart still authenticates.
        const again = await client.call(tc.allocate());
        assert.equal(again.errorCode, 0, 'Allocate with the old credential');
        assert.ok(again.relayed);
        assert.equal(relay.stats().allocations, 1);

        // The same credential against a relay with another data dir (another secret): 401.
        await relay.close();
        relay = await start(otherDir, port);
        const stranger = new UdpTurn(port, tc);
        await stranger.open();
        try {
          const refused = await stranger.call(tc.allocate());
          assert.ok(refused.errorCode === 401 || refused.errorCode === 438, `${refused.errorCode}`);
          const retry = await stranger.call(tc.allocate());
          assert.equal(retry.errorCode, 401, 'a secret that is not persisted refuses it');
        } finally {
          stranger.close();
        }
      } finally {
        client.close();
      }
    } finally {
      await relay.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
}
