import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readWav, writeWav } from './wav-file.ts';

// `parloir audio` against real libasound: a private asoundrc defines file-plugin PCMs (capture
// reads a raw file, playback writes one), given to each child process via ALSA_CONFIG_PATH.
const bin = resolve(import.meta.dirname, '../../bin/parloir');
const dir = mkdtempSync(join(tmpdir(), 'parloir-cli-audio-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const RATE = 48000;
const input = new Int16Array(Math.round(RATE * 1.5));
let seed = 11;
for (let i = 0; i < input.length; i++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  input[i] = (seed >>> 16) - 32768;
}
writeFileSync(join(dir, 'in.raw'), input);
const conf = join(dir, 'asound.conf');
writeFileSync(
  conf,
  [
    '</usr/share/alsa/alsa.conf>',
    `pcm.tcap { type file slave.pcm "null" file "/dev/null" infile "${join(dir, 'in.raw')}" format "raw" }`,
    `pcm.tplay { type file slave.pcm "null" file "${join(dir, 'out.raw')}" format "raw" }`,
    `pcm.tloop { type file slave.pcm "null" file "${join(dir, 'loop.raw')}" format "raw" }`,
  ].join('\n'),
);

function parloir(...args: string[]) {
  return spawnSync(bin, ['audio', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ALSA_CONFIG_PATH: conf },
    timeout: 30000,
  });
}

function readRaw(path: string): Int16Array {
  const b = readFileSync(path);
  const out = new Int16Array(b.length >> 1);
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 2));
  return out;
}

test('parloir audio devices lists null, alsa:default and the ALSA PCMs', () => {
  const r = parloir('devices');
  assert.equal(r.status, 0, r.stderr);
  const specs = r.stdout.split('\n').map((l) => l.split(/\s+/)[0]);
  assert.ok(specs.includes('null'), r.stdout);
  assert.ok(specs.includes('alsa:default'), r.stdout);
  assert.ok(specs.includes('alsa:tcap') && specs.includes('alsa:tplay'), r.stdout);
});

test('record → play through parloir audio and the ALSA file plugin is bit-exact', () => {
  const wav = join(dir, 'rec.wav');
  const rec = parloir('record', '--device', 'alsa:tcap', '--seconds', '1.5', wav);
  assert.equal(rec.status, 0, rec.stderr);
  assert.match(rec.stderr, /recorded 72000 samples/);
  const got = readWav(wav);
  assert.equal(got.sampleRate, RATE);
  assert.equal(got.channels, 1);
  assert.deepEqual(got.samples, input, 'capture → out.wav reproduces the input bit for bit');

  const play = parloir('play', '--device', 'alsa:tplay', '--period-ms', '5', wav);
  assert.equal(play.status, 0, play.stderr);
  assert.deepEqual(readRaw(join(dir, 'out.raw')), input, 'out.wav → playback file is bit-exact');
});

test('loopback runs capture → Opus → playback and reports xruns and delay each second', () => {
  const r = parloir(
    'loopback',
    '--capture',
    'null',
    '--playback',
    'alsa:tloop',
    '--opus',
    '24k',
    '--period-ms',
    '10',
    '--seconds',
    '1.2',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Opus 24 kbit\/s/);
  const line = r.stdout.split('\n').find((l) => l.startsWith('t=1s'));
  assert.ok(line, r.stdout);
  assert.match(line, /xruns capture 0 playback \d+ .*delay \d+(\.\d)? ms/);
});

test('bad devices, specs and files fail with one line and a code', () => {
  const wav = join(dir, 'tiny.wav');
  writeWav(wav, { sampleRate: RATE, channels: 1, samples: new Int16Array(480) });
  const cases: [string[], RegExp, number][] = [
    [['play', '--device', 'alsa:nosuch', wav], /\[ALSA_ERR_NO_DEVICE\]/, 1],
    [['play', '--device', 'oss:/dev/dsp', wav], /\[AUDIO_ERR_BAD_SPEC\]/, 1],
    [['play', '--device', 'null', join(dir, 'missing.wav')], /\[AUDIO_ERR_FILE\]/, 1],
    [['record', '--device', 'null', join(dir, 'x.wav')], /--seconds/, 2],
    [['loopback', '--opus', 'lots'], /--opus/, 2],
    [['frobnicate'], /unknown subcommand/, 2],
  ];
  for (const [args, re, status] of cases) {
    const r = parloir(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});
