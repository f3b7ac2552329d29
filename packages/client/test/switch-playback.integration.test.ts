/**
 * The playback device switched during a call (issue 19 §3): B plays A's tone on one ALSA
 * `file`-plugin device, switches to a second one mid-call, and the tone goes on in the second
 * file while the first stops growing — same call, same C receiver and jitter buffer. Real
 * libasound (the file plugin over `null`), two werift transports on 127.0.0.1, no signalling.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { waitFor } from './helpers/wait.ts';

const RATE = 48_000;
const TONE_HZ = 600;
const dir = mkdtempSync(join(tmpdir(), 'parloir-switch-playback-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fileA = join(dir, 'pA.raw');
const fileB = join(dir, 'pB.raw');
// libasound reads its configuration once per process: set it before the addon opens a PCM.
const pcm = (name: string, file: string) =>
  `pcm.${name} { type file slave.pcm "null" file ${JSON.stringify(file)} format "raw" }`;
writeFileSync(
  join(dir, 'asound.conf'),
  ['</usr/share/alsa/alsa.conf>', pcm('pA', fileA), pcm('pB', fileB), ''].join('\n'),
);
process.env.ALSA_CONFIG_PATH = join(dir, 'asound.conf');
const { createEngine } = await import('../src/engine/create.ts');
const { writeWav } = await import('../src/audio/index.ts');
const { connectedPair } = await import('./helpers/pair.ts');

/** Share of the energy at {@link TONE_HZ} over 10 ms windows, 0..1 (Goertzel). */
function toneShare(pcm: Int16Array): number {
  const c = 2 * Math.cos((2 * Math.PI * TONE_HZ) / RATE);
  let tone = 0;
  let total = 0;
  for (let w = 0; w + 480 <= pcm.length; w += 480) {
    let s1 = 0;
    let s2 = 0;
    for (let i = w; i < w + 480; i++) {
      const x = pcm[i] ?? 0;
      const s0 = x + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      total += x * x;
    }
    tone += (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / 480;
  }
  return total === 0 ? 0 : tone / total;
}

/** The raw S16 file's samples from the first loud one (the played tone, not the silence before). */
function loud(file: string): Int16Array {
  if (!existsSync(file)) return new Int16Array(0);
  const b = readFileSync(file);
  const all = new Int16Array(b.buffer, b.byteOffset, Math.floor(b.length / 2));
  const start = all.findIndex((x) => Math.abs(x) > 1000);
  return start < 0 ? new Int16Array(0) : all.subarray(start);
}

const bytes = (f: string) => (existsSync(f) ? statSync(f).size : 0);

test('the playback device switches mid-call (alsa: to alsa:): the tone moves to the second device, the call goes on', async (t) => {
  const tone = new Int16Array(12 * RATE);
  for (let i = 0; i < tone.length; i++)
    tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * TONE_HZ * i) / RATE));
  const toneWav = join(dir, 'tone.wav');
  writeWav(toneWav, { sampleRate: RATE, channels: 1, samples: tone });
  const [ta, tb] = await connectedPair();
  const ea = createEngine({ transport: ta, input: `wav:${toneWav}`, output: 'null' });
  const eb = createEngine({ transport: tb, input: 'null', output: 'alsa:pA' });
  try {
    ea.start();
    eb.start();
    // A second of the tone on the first device (2 bytes a sample).
    await waitFor(() => loud(fileA).length >= RATE, 'a second of tone on pA', 15_000);
    await eb.switchPlayback('alsa:pB');
    const aAtSwitch = bytes(fileA);
    await waitFor(() => loud(fileB).length >= 2 * RATE, 'two seconds of tone on pB', 15_000);
    // The first device is closed: its file no longer grows.
    assert.equal(bytes(fileA), aAtSwitch, 'pA stopped at the switch');
    // Not between wav:/null devices (their pacing thread is the receiver's own, once per call).
    await assert.rejects(eb.switchPlayback('null'), { code: 'ENGINE_ERR_DEVICE' });
    const sA = toneShare(loud(fileA));
    const sB = toneShare(loud(fileB));
    t.diagnostic(
      `tone share pA ${sA.toFixed(3)} (${(loud(fileA).length / RATE).toFixed(2)} s), pB ${sB.toFixed(3)} (${(loud(fileB).length / RATE).toFixed(2)} s)`,
    );
    assert.ok(sA > 0.8, `pA tone share ${sA}`);
    assert.ok(sB > 0.8, `pB tone share ${sB}`);
    assert.equal(eb.edge, 'direct');
  } finally {
    await Promise.all([ea.stop(), eb.stop()]);
    await Promise.all([ta.close(), tb.close()]);
  }
});
