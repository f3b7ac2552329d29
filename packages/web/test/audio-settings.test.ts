/**
 * Unit test: the native settings form's echo cancellation, noise suppression and AGC switches
 * (issue 20 §3) become the engine's `set` commands, and the engine's settings fill the form.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTING_NAMES } from '@parloir/protocol';
import { fromNativeSettings, toSetCommands } from '../src/native/native-backend.ts';

const ENGINE = {
  bitrateBps: 32_000,
  frameMs: 20,
  fec: true,
  expectedLossPct: 0,
  dtx: false,
  jbMinMs: 20,
  jbMaxMs: 400,
  periodMs: 10,
  gainDb: 0,
  muted: false,
  adapt: true,
};

test('aec, ns and agc switches map to set commands and back', () => {
  assert.deepEqual(toSetCommands({ aec: false, ns: true, agc: false }), [
    { name: 'aec', value: 'off' },
    { name: 'ns', value: 'on' },
    { name: 'agc', value: 'off' },
  ]);
  for (const c of toSetCommands({ aec: true, ns: true, agc: true })) {
    assert.ok((SETTING_NAMES as readonly string[]).includes(c.name), c.name);
  }
  const ui = fromNativeSettings({ ...ENGINE, aec: true, ns: false, agc: true });
  assert.deepEqual([ui.aec, ui.ns, ui.agc], [true, false, true]);
  const before = fromNativeSettings(ENGINE);
  assert.ok(!('aec' in before) && !('ns' in before) && !('agc' in before));
});
