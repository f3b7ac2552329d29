import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  caseFold,
  namesLookAlike,
  nameSkeletons,
  normalizeName,
  sanitizeForTerminal,
} from './names.ts';

function accepted(raw: string) {
  const r = normalizeName(raw);
  assert.ok(r.ok, `expected "${raw}" to be accepted: ${r.ok ? '' : r.error.message}`);
  return r.value;
}

function refused(raw: unknown): string {
  const r = normalizeName(raw);
  assert.equal(r.ok, false, `expected ${JSON.stringify(raw)} to be refused`);
  if (r.ok) return '';
  assert.equal(r.error.code, 'SIG_ERR_BAD_NAME');
  return r.error.message;
}

test('names are normalised to NFKC and compared case-folded', () => {
  assert.equal(accepted('Ａｌｉｃｅ').name, 'Alice'); // full-width → ASCII
  assert.equal(accepted('ﬁona').name, 'fiona'); // ligature
  assert.equal(accepted('Zoe\u0301').name, 'Zoé'); // combining acute composes
  assert.equal(accepted('Alice').key, accepted('ALICE').key);
  assert.equal(accepted('Straße').key, accepted('STRASSE').key);
  assert.equal(caseFold('ΣΟΦΟΣ'), caseFold('σοφος'));
  assert.equal(accepted('Anne Marie').name, 'Anne Marie');
  assert.equal(accepted('李小龍').name, '李小龍');
  assert.equal(accepted('Ana 🎧').name, 'Ana 🎧');
});

test('control, bidi and zero-width characters are refused', () => {
  for (const [raw, what] of [
    ['bob\u0000', 'NUL'],
    ['bob\u001b[31m', 'ESC'],
    ['bob\u0085', 'C1 NEL'],
    ['bob\u009b31m', 'C1 CSI'],
    ['admin\u202egnp.exe', 'RLO bidi override'],
    ['a\u2066b\u2069', 'isolate'],
    ['\u200fbob', 'RLM'],
    ['b\u200bob', 'zero-width space'],
    ['b\u200dob', 'zero-width joiner'],
    ['bo\u00adb', 'soft hyphen'],
    ['\ufeffbob', 'BOM'],
    ['bob\ufe0f', 'variation selector'],
    ['b\u3164ob', 'Hangul filler'],
    ['bob\u2028x', 'line separator'],
    ['bob\ue000', 'private use'],
    ['bob\u0378', 'unassigned'],
    ['bob\ud800', 'lone surrogate'],
  ] as const) {
    const message = refused(raw);
    assert.match(message, /character|white space/, what);
  }
});

test('empty, long, padded and odd-space names are refused', () => {
  refused('');
  refused(' bob');
  refused('bob ');
  refused('bo  b');
  refused('bo\tb');
  refused('bo\u00a0b'); // NBSP becomes a space under NFKC… and is refused before
  refused('\u3000bob'); // ideographic space → leading space after NFKC
  refused('x'.repeat(33));
  accepted('x'.repeat(32));
  accepted('😀'.repeat(32)); // 32 characters, 64 code units
  refused('😀'.repeat(33));
  refused('\u0301bob');
  refused('bo\u0301\u0302\u0303\u0304b');
  accepted('bo\u0301\u0302\u0303b');
  refused(42);
  refused(undefined);
});

test('look-alike names share a skeleton (TS #39)', () => {
  const alike: [string, string][] = [
    ['paypal', 'pаypаl'], // Cyrillic а
    ['Bob', 'ВОВ'], // Cyrillic capitals
    ['bill', 'BiII'], // capital I for l
    ['bill', 'bi11'], // digit one
    ['modern', 'rnodern'], // rn for m
    ['Olga', '0lga'], // zero for O
    ['alice', 'ALICE'],
    ['alice', 'ａｌｉｃｅ'],
    ['Zoé', 'Zoe\u0301'],
    ['Ωmega', 'Ωmega'], // Ohm sign → Omega (NFKC)
  ];
  for (const [a, b] of alike) assert.ok(namesLookAlike(a, b), `${a} vs ${b} should look alike`);
  for (const [a, b] of [
    ['alice', 'alicia'],
    ['bob', 'rob'],
    ['Zoé', 'Zoe'],
  ] as const)
    assert.ok(!namesLookAlike(a, b), `${a} vs ${b} differ`);
  assert.deepEqual(accepted('pаypаl').skeletons, accepted('paypal').skeletons);
  assert.deepEqual(nameSkeletons('BiII'), ['biii', 'bill']);
});

test('normalizeName never throws on random input', () => {
  let seed = 0x9e3779b9;
  const rand = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed;
  };
  for (let i = 0; i < 5000; i++) {
    const len = rand() % 40;
    let s = '';
    for (let j = 0; j < len; j++) {
      const r = rand();
      s += String.fromCharCode(r % 4 === 0 ? r % 0x80 : r % 0x10000);
    }
    const res = normalizeName(s);
    if (res.ok) {
      assert.ok([...res.value.name].length <= 32);
      assert.doesNotMatch(res.value.name, /[\p{Cc}\p{Cf}]/u);
    } else assert.equal(res.error.code, 'SIG_ERR_BAD_NAME');
    assert.doesNotMatch(sanitizeForTerminal(s), /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
  }
});

test('sanitizeForTerminal escapes terminal control sequences and bidi overrides', () => {
  assert.equal(sanitizeForTerminal('hi \u001b]0;pwned\u0007'), 'hi \\x1b]0;pwned\\x07');
  assert.equal(sanitizeForTerminal('\u001b[2J\u001b[Hfake prompt$'), '\\x1b[2J\\x1b[Hfake prompt$');
  assert.equal(sanitizeForTerminal('ok\rEVIL'), 'ok\\x0dEVIL');
  assert.equal(sanitizeForTerminal('a\u009b31mb'), 'a\\x9b31mb');
  assert.equal(sanitizeForTerminal('file\u202etxt.exe'), 'file\\u202etxt.exe');
  assert.equal(sanitizeForTerminal('a\u200bb'), 'a\\u200bb');
  assert.equal(sanitizeForTerminal('a\tb'), 'a b');
  assert.equal(sanitizeForTerminal('line1\nline2'), 'line1\\x0aline2');
  assert.equal(sanitizeForTerminal('line1\nline2', { multiline: true }), 'line1\nline2');
  assert.equal(sanitizeForTerminal('héllo 世界 🎧'), 'héllo 世界 🎧');
  assert.equal(sanitizeForTerminal('x\ud800y'), 'x\ufffdy');
  assert.equal(sanitizeForTerminal('abcdef', { maxChars: 4 }), 'abc…');
  assert.equal(sanitizeForTerminal(undefined), 'undefined');
});
