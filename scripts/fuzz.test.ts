/**
 * The fuzz harnesses, each for a short fixed budget (npm run fuzz runs them for longer): no C
 * harness crashes or trips ASan/UBSan, no TypeScript parser throws. A planted bug shows the
 * runner does catch a sanitizer report and keeps the input.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { runC, runFuzz } from './fuzz.ts';

test('every fuzz harness runs 4 s with no crash and reaches code', async () => {
  const results = await runFuzz(4);
  assert.deepEqual(
    results.map((r) => r.harness),
    ['jitter', 'opus_toc', 'receiver', 'relay', 'ts-rtp', 'ts-opus-toc', 'ts-stun', 'ts-signaling'],
  );
  for (const r of results) {
    assert.equal(r.crashes, 0, `${r.harness} crashed: ${r.crashInputs.join(', ')}`);
    assert.ok(r.inputs > 100, `${r.harness} ran only ${r.inputs} inputs`);
    assert.ok(r.coverage > 10, `${r.harness} covered only ${r.coverage}`);
  }
});

test('the runner reports a planted heap overflow as a crash and saves its input', async () => {
  const r = await runC(
    {
      name: 'planted',
      sources: [resolve(import.meta.dirname, 'fuzz/fixtures/fuzz_crash.c')],
      deps: [],
      libs: [],
      maxLen: 64,
    },
    60,
  );
  assert.equal(r.crashes, 1);
  assert.equal(r.crashInputs.length, 1);
  const input = r.crashInputs[0]!;
  assert.ok(existsSync(input));
  assert.deepEqual([...readFileSync(input).subarray(0, 3)], [0x50, 0x4e, 0x21]);
});

test('a use after free of a block the large-block cache holds is still reported', async () => {
  const r = await runC(
    {
      name: 'planted_uaf',
      sources: [resolve(import.meta.dirname, 'fuzz/fixtures/fuzz_uaf.c')],
      deps: [],
      libs: [],
      maxLen: 64,
      allocCache: true,
    },
    60,
  );
  assert.equal(r.crashes, 1);
  assert.equal(r.crashInputs.length, 1);
  assert.deepEqual([...readFileSync(r.crashInputs[0]!).subarray(0, 3)], [0x55, 0x41, 0x46]);
});
