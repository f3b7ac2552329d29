import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  alawToLinear,
  decodePcma,
  decodePcmu,
  encodePcma,
  encodePcmu,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
} from './g711.ts';
import { decodeL16, encodeL16 } from './payloads.ts';

const fixtures = resolve(import.meta.dirname, '../test/fixtures');
/** Decode tables produced by SoX (an independent G.711 implementation), 256 × s16le. */
const soxTable = (name: string) => {
  const buf = readFileSync(resolve(fixtures, name));
  return Array.from({ length: 256 }, (_, i) => buf.readInt16LE(2 * i));
};

test('µ-law and A-law decoding is bit-exact with the G.711 tables (SoX golden vectors)', () => {
  const ulaw = soxTable('pcmu-decode-sox.s16le');
  const alaw = soxTable('pcma-decode-sox.s16le');
  for (let c = 0; c < 256; c++) {
    assert.equal(ulawToLinear(c), ulaw[c], `µ-law code ${c}`);
    assert.equal(alawToLinear(c), alaw[c], `A-law code ${c}`);
  }
  // Spot values of the G.711 tables (16-bit scale).
  assert.equal(ulawToLinear(0xff), 0);
  assert.equal(ulawToLinear(0x00), -32124);
  assert.equal(ulawToLinear(0x80), 32124);
  assert.equal(alawToLinear(0xd5), 8);
  assert.equal(alawToLinear(0x55), -8);
  assert.equal(alawToLinear(0xaa), 32256);
});

/** Quantiser step of a code's segment, 16-bit scale (G.711 Tables 1a/2a). */
const ulawStep = (c: number) => 8 << ((~c >> 4) & 7);
const alawStep = (c: number) => {
  const seg = ((c ^ 0x55) >> 4) & 7;
  return seg <= 1 ? 16 : 16 << (seg - 1);
};

test('encoders put every 16-bit input in the decision interval of its code (G.191 g711.c)', () => {
  for (const [name, enc, dec, step, top] of [
    ['µ-law', linearToUlaw, ulawToLinear, ulawStep, 0x80],
    ['A-law', linearToAlaw, alawToLinear, alawStep, 0xaa],
  ] as const) {
    for (let x = 0; x <= 32767; x++) {
      const c = enc(x);
      const level = dec(c);
      // Each reconstruction level sits in the middle of its decision interval; the top code
      // also takes everything above (clipping).
      assert.ok(x >= level - step(c) / 2, `${name} ${x} below the interval of ${level}`);
      if (c !== top)
        assert.ok(x < level + step(c) / 2, `${name} ${x} above the interval of ${level}`);
    }
    // G.191 treats a negative x as its one's complement −x − 1 with the sign bit cleared.
    for (let x = -32768; x < 0; x++) {
      assert.equal(enc(x), enc(-x - 1) & 0x7f, `${name} ${x}`);
    }
  }
  // G.191 reference vectors: segment edges and the first negative values.
  assert.equal(linearToUlaw(0), 0xff);
  assert.equal(linearToUlaw(-1), 0x7f);
  assert.equal(linearToUlaw(32767), 0x80);
  assert.equal(linearToUlaw(-32768), 0x00);
  assert.equal(linearToAlaw(0), 0xd5);
  assert.equal(linearToAlaw(-1), 0x55);
  assert.equal(linearToAlaw(15), 0xd5);
  assert.equal(linearToAlaw(16), 0xd4);
  assert.equal(linearToAlaw(32767), 0xaa);
  assert.equal(linearToAlaw(-32768), 0x2a);
});

test('decode → encode is the identity on every code (the quantiser is idempotent)', () => {
  for (let c = 0; c < 256; c++) {
    if (c !== 0x7f) assert.equal(linearToUlaw(ulawToLinear(c)), c, `µ-law ${c}`);
    assert.equal(linearToAlaw(alawToLinear(c)), c, `A-law ${c}`);
  }
  // µ-law has two zeros (0xFF and 0x7F); both decode to 0, which encodes to 0xFF.
  assert.equal(ulawToLinear(0x7f), 0);
});

test('payload codecs: PCMU/PCMA arrays and L16 in network byte order (RFC 3551 §4.5.11)', () => {
  const pcm = Int16Array.from([0, 1000, -1000, 32767, -32768]);
  assert.deepEqual([...decodePcmu(encodePcmu(pcm))], [0, 988, -988, 32124, -32124]);
  assert.deepEqual([...decodePcma(encodePcma(pcm))], [8, 1008, -1008, 32256, -32256]);
  const l16 = encodeL16(Int16Array.from([0x0102, -2]));
  assert.deepEqual([...l16], [1, 2, 0xff, 0xfe]);
  const back = decodeL16(l16);
  assert.ok(back.ok);
  assert.deepEqual([...back.value], [0x0102, -2]);
  const odd = decodeL16(new Uint8Array(3));
  assert.ok(!odd.ok && odd.error.code === 'MEDIA_ERR_PAYLOAD_LENGTH');
});
