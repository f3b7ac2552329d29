import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TURN_CLI_OPTIONS, turnOptionsFromFlags } from './flags.ts';
import { createTurnRelay } from './relay.ts';

const calls = { partiesOf: () => undefined };

test('flags map to relay options; the generated secret is persisted (0600) and reused', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parloir-turn-flags-'));
  try {
    const { values } = parseArgs({
      args: ['--turn-port', '3479', '--turn-relay-ports', '50000-50100', '--relay-only'],
      options: TURN_CLI_OPTIONS,
    });
    const o = turnOptionsFromFlags(values, { dataDir, calls });
    assert.equal(o.port, 3479);
    assert.deepEqual(o.relayPorts, { min: 50000, max: 50100 });
    assert.equal(o.relayOnly, true);
    assert.equal(o.bench, false);
    assert.equal(o.nativeForwarding, undefined, 'native forwarding unless --turn-dgram');
    assert.equal(
      turnOptionsFromFlags({ 'turn-dgram': true }, { dataDir, calls }).nativeForwarding,
      false,
    );
    assert.ok(o.secret.length >= 32);
    assert.equal(readFileSync(join(dataDir, 'turn-secret'), 'utf8').trim(), o.secret);
    assert.equal(statSync(join(dataDir, 'turn-secret')).mode & 0o777, 0o600);
    assert.equal(turnOptionsFromFlags({}, { dataDir, calls }).secret, o.secret);
    assert.equal(turnOptionsFromFlags({ 'turn-secret': 'S' }, { dataDir, calls }).secret, 'S');
    assert.equal(o.privatePeers, undefined, 'private peers follow the relay default (allow)');
    assert.equal(o.allowLoopbackPeers, undefined, 'loopback peers refused by default');
    const policy = turnOptionsFromFlags(
      { 'turn-secret': 'S', 'turn-private-peers': 'deny', 'turn-allow-loopback-peers': true },
      { dataDir, calls },
    );
    assert.equal(policy.privatePeers, 'deny');
    assert.equal(policy.allowLoopbackPeers, true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('bad flag values are typed errors', () => {
  for (const values of [
    { 'turn-port': '70000' },
    { 'turn-port': 'abc' },
    { 'turn-relay-ports': '5000' },
    { 'turn-relay-ports': '6000-5000' },
    { 'turn-relay-ports': '80-90' },
    { 'turn-private-peers': 'maybe' },
  ]) {
    assert.throws(
      () =>
        turnOptionsFromFlags({ 'turn-secret': 's', ...values }, { dataDir: '/nonexistent', calls }),
      (e: Error & { code?: string }) => e.code === 'TURN_ERR_BAD_OPTION',
      JSON.stringify(values),
    );
  }
});

test('--turn-bench binds loopback; --turn-external hands out the external URLs instead', async () => {
  const bench = turnOptionsFromFlags(
    { 'turn-secret': 's', 'turn-bench': true },
    { dataDir: '/x', calls },
  );
  assert.equal(bench.listenHost, '127.0.0.1');
  assert.equal(bench.relayAddress, '127.0.0.1');
  const ext = turnOptionsFromFlags(
    { 'turn-secret': 's', 'turn-external': ['turn:turn.example.org:3478?transport=udp'] },
    { dataDir: '/x', calls },
  );
  const relay = await createTurnRelay(ext);
  try {
    const servers = relay.iceServersFor('c1', 'alice', 1_700_000_000_000);
    assert.equal(servers.length, 1);
    assert.deepEqual(servers[0]?.urls, ['turn:turn.example.org:3478?transport=udp']);
    assert.match(servers[0]?.username ?? '', /^\d+:c1:alice$/);
    assert.equal(relay.port, 0);
  } finally {
    await relay.close();
  }
});
