import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, makeCore, client, reply, creds, allocate, errorOf } from './core-test-kit.ts';

test('quotas per user and per call give 486', () => {
  const { core, logs } = makeCore({ maxAllocationsPerUser: 2, maxAllocationsPerCall: 3 });
  allocate(core, client(), creds('c1', 'alice'));
  allocate(core, client(), creds('c1', 'alice'));
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 486);
  allocate(core, client(), creds('c1', 'bob'));
  const d = client();
  const td = creds('c1', 'bob');
  td.read(reply(core.handleClientPacket(d, td.allocate(), T0)));
  assert.equal(errorOf(td, core.handleClientPacket(d, td.allocate(), T0)), 486);
  assert.ok(logs.includes('turn request refused'));
});
