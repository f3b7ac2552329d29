/**
 * The native app's own state without a server: the device list from the engine, choosing the
 * next connection's devices (bad specs typed errors), remembered host decisions and recent
 * servers kept in the profile (0600, across instances, a damaged file read as empty), the
 * command line's apps refusing to connect or disconnect from the window, and the microphone and
 * speaker test on wav: devices (the played-back file carries the recorded speech).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlApiError } from '@parloir/protocol';
import { speechCheck } from '../../test/helpers/speech-check.ts';
import { loadWav, makeSpeech } from '../../test/helpers/speech.ts';
import { HostDecisions, RecentServers } from './app-files.ts';
import { NativeApp } from './native-app.ts';

const FP = 'ab'.repeat(16);

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parloir-app-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'devices: the engine list in both directions; the next connection takes the chosen ones',
  withDir(async (dir) => {
    const app = new NativeApp({ profileDir: dir, input: 'null', output: 'null', canConnect: true });
    const d = app.devices();
    assert.ok(d.capture.some((x) => x.spec === 'null'));
    assert.ok(d.playback.some((x) => x.spec === 'null'));
    let changed = 0;
    app.onChanged(() => changed++);
    await app.setDevices({ input: 'alsa:default', output: 'wav:/tmp/out.wav' });
    assert.equal(app.appState().input, 'alsa:default');
    assert.equal(app.appState().output, 'wav:/tmp/out.wav');
    assert.equal(changed, 1);
    await assert.rejects(
      app.setDevices({ input: 'tape:recorder' }),
      (e: unknown) => e instanceof ControlApiError && e.code === 'CONTROL_ERR_BAD_REQUEST',
    );
    assert.equal(app.appState().input, 'alsa:default', 'unchanged after a refusal');
  }),
);

test(
  'host decisions and recent servers persist in the profile, 0600; a damaged file is empty',
  withDir((dir) => {
    new HostDecisions(dir).set({ fingerprint: FP, name: 'Guest', accept: true });
    const again = new HostDecisions(dir);
    assert.deepEqual(again.get(FP), { fingerprint: FP, name: 'Guest', accept: true });
    again.set({ fingerprint: FP, name: 'Guest', accept: false });
    assert.equal(new HostDecisions(dir).list().length, 1, 'one decision per key');
    assert.equal(statSync(join(dir, 'host-decisions.json')).mode & 0o777, 0o600);
    const app = new NativeApp({ profileDir: dir, input: 'null', output: 'null', canConnect: true });
    assert.deepEqual(app.appState().decisions, [{ fingerprint: FP, name: 'Guest', accept: false }]);
    app.forgetDecision(FP);
    assert.deepEqual(new HostDecisions(dir).list(), []);

    const recent = new RecentServers(dir);
    for (let i = 0; i < 10; i++) recent.add(`10.0.0.${i}:8443`);
    recent.add('10.0.0.5:8443');
    const list = new RecentServers(dir).list();
    assert.equal(list.length, 8);
    assert.equal(list[0], '10.0.0.5:8443');
    assert.equal(list.filter((s) => s === '10.0.0.5:8443').length, 1);

    writeFileSync(join(dir, 'host-decisions.json'), '{"not": "a list"');
    writeFileSync(join(dir, 'recent-servers.json'), JSON.stringify([{ evil: 1 }]));
    assert.deepEqual(new HostDecisions(dir).list(), []);
    assert.deepEqual(new RecentServers(dir).list(), []);
  }),
);

test(
  'an app the command line started refuses connect, host and disconnect from the window',
  withDir(async (dir) => {
    const app = new NativeApp({
      profileDir: dir,
      input: 'null',
      output: 'null',
      canConnect: false,
    });
    const wrong = (e: unknown) =>
      e instanceof ControlApiError && e.code === 'CONTROL_ERR_WRONG_STATE';
    await assert.rejects(app.connect({ server: '127.0.0.1:1', name: 'A' }), wrong);
    await assert.rejects(app.host({ name: 'A' }), wrong);
    await assert.rejects(app.disconnect(), wrong);
    assert.equal(app.appState().mode, 'idle');
  }),
);

test(
  'test my microphone and speaker: what the capture recorded is played back on the playback',
  withDir(async (dir) => {
    const speech = makeSpeech(dir, 'mic', 'Testing my microphone and my speaker.', 3);
    const out = join(dir, 'out.wav');
    const app = new NativeApp({
      profileDir: dir,
      input: `wav:${speech}`,
      output: `wav:${out}`,
      canConnect: true,
    });
    const r = await app.testDevices({ seconds: 2 });
    assert.equal(r.seconds, 2);
    assert.ok(r.peakDb > -30 && r.peakDb <= 0, `peak ${r.peakDb} dBFS`);
    const said = loadWav(speech).subarray(0, 2 * 48_000);
    const played = loadWav(out);
    const check = speechCheck(said, played, 48_000);
    assert.ok(check.score >= 0.8, `played back: speech ${check.score.toFixed(3)}`);
  }),
);
