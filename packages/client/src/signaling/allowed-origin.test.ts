/** `parloir server --allowed-origin` (issue 17): normalised origins, a bad one is a usage error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../errors.ts';
import { serverOptionsFromArgs } from './run-server.ts';

test('--allowed-origin is normalised into ServerOptions.allowedOrigins; a non-origin is refused', () => {
  const opts = serverOptionsFromArgs({
    values: { 'allowed-origin': ['https://Talk.Example.org:443/', 'http://127.0.0.1:5173'] },
    positionals: [],
  });
  assert.deepEqual(opts.allowedOrigins, ['https://talk.example.org', 'http://127.0.0.1:5173']);
  assert.equal(serverOptionsFromArgs({ values: {}, positionals: [] }).allowedOrigins, undefined);
  for (const bad of ['talk.example.org', 'ftp://x.example', 'javascript:alert(1)']) {
    assert.throws(
      () => serverOptionsFromArgs({ values: { 'allowed-origin': [bad] }, positionals: [] }),
      (err: unknown) => err instanceof UsageError && err.code === 'CLI_ERR_BAD_ARGS',
      bad,
    );
  }
});
