import { test } from 'node:test';
import assert from 'node:assert/strict';
import { versions } from '../index.ts';

test('addon loads and reports libasound and libopus versions', () => {
  const v = versions();
  console.log(`libasound ${v.alsa}, ${v.opus}`);
  assert.match(v.alsa, /^\d+\.\d+\.\d+/);
  assert.match(v.opus, /^libopus \d+\.\d+/);
});
