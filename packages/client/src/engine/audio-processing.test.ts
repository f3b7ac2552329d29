/**
 * Unit tests: the capture's audio processing settings (issue 20 §3) — parsing of `set aec off`
 * and friends, the device defaults (on for `alsa:`, off for `wav:`/`null`), the engine pushing
 * each change to the pipeline mid-call and the snapshot carrying the canceller's state; the
 * acoustic test room's checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EchoState } from '@parloir/protocol';
import { audioProcessing, applySetting, CallEngine, DEFAULT_SETTINGS } from './engine.ts';
import { acousticRoom as acoustic, withDeviceDefaults } from './create.ts';
import { acousticRoomMs } from '../commands/call.ts';
import { MediaQualityModel } from './media-quality.ts';
import { settingsFromFlags } from './native-client.ts';
import type { AudioProcessingSettings } from './ports.ts';
import { fakePipeline } from './test-ports.ts';

test('aec, ns, agc, their levels and the engine parse; bad values are ENGINE_ERR_BAD_SETTING', () => {
  let s = applySetting(DEFAULT_SETTINGS, 'aec', 'on');
  s = applySetting(s, 'ns', 'off');
  s = applySetting(s, 'agc', 'yes');
  s = applySetting(s, 'aec-level', 'High');
  s = applySetting(s, 'ns-level', '3');
  s = applySetting(s, 'audio-engine', 'speex');
  assert.deepEqual(audioProcessing(s), {
    engine: 'speex',
    aec: true,
    ns: false,
    agc: true,
    aecLevel: 'high',
    nsLevel: 3,
  });
  for (const [name, value] of [
    ['aec', 'maybe'],
    ['aec-level', 'max'],
    ['ns-level', '4'],
    ['ns-level', '1.5'],
    ['audio-engine', 'aec3'],
  ] as const) {
    assert.throws(() => applySetting(DEFAULT_SETTINGS, name, value), {
      code: 'ENGINE_ERR_BAD_SETTING',
    });
  }
});

test('defaults: processing on for an alsa: capture, off for wav:/null unless asked', () => {
  const on = withDeviceDefaults(DEFAULT_SETTINGS, 'alsa:default');
  assert.deepEqual([on.aec, on.ns, on.agc], [true, true, true]);
  for (const spec of ['wav:/tmp/x.wav', 'null']) {
    const off = withDeviceDefaults(DEFAULT_SETTINGS, spec);
    assert.deepEqual([off.aec, off.ns, off.agc], [false, false, false]);
  }
  const asked = withDeviceDefaults({ ...DEFAULT_SETTINGS, aec: true }, 'null');
  assert.deepEqual([asked.aec, asked.ns], [true, false]);
  const refused = withDeviceDefaults({ ...DEFAULT_SETTINGS, aec: false }, 'alsa:default');
  assert.deepEqual([refused.aec, refused.ns], [false, true]);
});

test('the engine pushes processing changes to the pipeline mid-call; the snapshot shows the canceller', async () => {
  const fake = fakePipeline();
  const pushed: AudioProcessingSettings[] = [];
  let state: EchoState | undefined = {
    engine: 'webrtc',
    aec: true,
    delayMs: 12,
    erleDb: 24.5,
    converged: true,
  };
  fake.port.setAudioProcessing = (s) => pushed.push(s);
  fake.port.echoState = () => state;
  const engine = new CallEngine({
    pipeline: fake.port,
    quality: new MediaQualityModel(),
    settings: { aec: true, ns: true, agc: false },
    snapshotMs: 60_000,
  });
  engine.start();
  try {
    assert.equal(pushed.length, 1, 'applied at start');
    assert.deepEqual(pushed[0], {
      engine: 'webrtc',
      aec: true,
      ns: true,
      agc: false,
      aecLevel: 'low',
      nsLevel: 2,
    });
    assert.deepEqual((await engine.snapshotNow()).echo, state);
    engine.set('bitrate', '24k');
    assert.equal(pushed.length, 1, 'other settings do not touch the processing');
    engine.set('aec', 'off');
    assert.equal(pushed.length, 2);
    assert.equal(pushed[1]!.aec, false);
    assert.equal(engine.settings.aec, false);
    state = { engine: 'webrtc', aec: false, delayMs: null, erleDb: null, converged: false };
    assert.deepEqual((await engine.snapshotNow()).echo, state);
    engine.set('audio-engine', 'speex');
    assert.equal(pushed.at(-1)!.engine, 'speex');
    state = undefined;
    assert.equal((await engine.snapshotNow()).echo, undefined);
  } finally {
    await engine.stop();
  }
});

test('the acoustic room joins paced devices only, with a 20..250 ms delay', () => {
  const room = acoustic(40, 'wav:/tmp/in.wav', 'null');
  assert.equal(room.ir.length, 960);
  assert.equal(room.delayMs, 40);
  assert.ok(room.gain > 0 && room.gain < 1);
  assert.throws(() => acoustic(40, 'alsa:default', 'null'), { code: 'ENGINE_ERR_DEVICE' });
  assert.throws(() => acoustic(40, 'null', 'alsa:default'), { code: 'ENGINE_ERR_DEVICE' });
  assert.throws(() => acoustic(5, 'null', 'null'), { code: 'ENGINE_ERR_BAD_SETTING' });
  assert.throws(() => acoustic(Number.NaN, 'null', 'null'), { code: 'ENGINE_ERR_BAD_SETTING' });
});

test('--aec/--ns/--agc/--audio-engine and --acoustic-room flags: values, and typed errors', () => {
  const s = settingsFromFlags({ aec: 'on', ns: 'off', 'audio-engine': 'speex' });
  assert.deepEqual([s.aec, s.ns, s.agc, s.audioEngine], [true, false, undefined, 'speex']);
  assert.throws(() => settingsFromFlags({ agc: 'loud' }), { code: 'ENGINE_ERR_BAD_SETTING' });
  assert.equal(acousticRoomMs('60'), 60);
  assert.equal(acousticRoomMs(undefined), undefined);
  for (const bad of ['', '5', '300', 'x'])
    assert.throws(() => acousticRoomMs(bad), { code: 'ENGINE_ERR_BAD_SETTING' });
});
