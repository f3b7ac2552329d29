import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from './impairment.ts';
import { opusTocFor, parseOpusToc } from './opus-toc.ts';
import { payloadDurationSamples } from './payloads.ts';

test('TOC config gives mode, bandwidth and frame size (RFC 6716 §3.1 Table 2)', () => {
  const cases: [number, string, string, number][] = [
    [0, 'silk', 'nb', 10],
    [3, 'silk', 'nb', 60],
    [9, 'silk', 'wb', 20],
    [12, 'hybrid', 'swb', 10],
    [15, 'hybrid', 'fb', 20],
    [16, 'celt', 'nb', 2.5],
    [31, 'celt', 'fb', 20],
  ];
  for (const [config, mode, bw, ms] of cases) {
    const r = parseOpusToc(new Uint8Array([config << 3]));
    assert.ok(r.ok);
    assert.equal(r.value.mode, mode);
    assert.equal(r.value.bandwidth, bw);
    assert.equal(r.value.durationMs, ms);
  }
});

test('frame count codes 0–3 (RFC 6716 §3.2)', () => {
  const toc = 31 << 3; // CELT FB 20 ms
  const one = parseOpusToc(new Uint8Array([toc, 1, 2]));
  const two = parseOpusToc(new Uint8Array([toc | 1, 1, 2]));
  const twoVar = parseOpusToc(new Uint8Array([toc | 2, 1, 0xaa, 0xbb]));
  const three = parseOpusToc(new Uint8Array([toc | 3, 3, 0, 0, 0]));
  assert.ok(one.ok && two.ok && twoVar.ok && three.ok);
  assert.equal(one.value.durationMs, 20);
  assert.equal(two.value.durationMs, 40);
  assert.equal(twoVar.value.durationMs, 40);
  assert.equal(three.value.durationMs, 60);
  const tooLong = parseOpusToc(new Uint8Array([toc | 3, 7]));
  assert.ok(!tooLong.ok && tooLong.error.code === 'MEDIA_ERR_OPUS_MALFORMED');
  const odd = parseOpusToc(new Uint8Array([toc | 1, 1]));
  assert.ok(!odd.ok);
  const empty = parseOpusToc(new Uint8Array(0));
  assert.ok(!empty.ok && empty.error.code === 'MEDIA_ERR_OPUS_EMPTY');
});

test('packet durations in 48 kHz samples for every frame size a sender may switch to', () => {
  for (const ms of [2.5, 5, 10, 20, 40, 60]) {
    const d = payloadDurationSamples('opus', new Uint8Array([opusTocFor(ms), 0]), 48000);
    assert.ok(d.ok);
    assert.equal(d.value, ms * 48);
  }
  const pcmu = payloadDurationSamples('pcmu', new Uint8Array(160), 8000);
  assert.ok(pcmu.ok && pcmu.value === 160);
  const l16 = payloadDurationSamples('l16', new Uint8Array(3), 44100);
  assert.ok(!l16.ok && l16.error.code === 'MEDIA_ERR_PAYLOAD_LENGTH');
});

test('parseOpusToc never throws on random input (fuzz, 20000 cases)', () => {
  const rng = new Prng(7);
  for (let i = 0; i < 20000; i++) {
    const bytes = new Uint8Array(Math.floor(rng.next() * 6));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rng.next() * 256);
    const r = parseOpusToc(bytes);
    if (r.ok) assert.ok(r.value.durationMs > 0 && r.value.durationMs <= 120);
  }
});
