/**
 * Writes the shipped trace set: one CSV per preset in packages/media/traces/, seed = 1000 + index.
 *
 *   node packages/media/bench/make-traces.ts [--out DIR] [--seed-base N]
 *
 * With another seed base it makes fresh traces the buffer has never seen.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TRACE_PRESETS, formatTrace, generatePresetTrace } from '../src/trace.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, 'seed-base': { type: 'string', default: '1000' } },
});
const out = resolve(values.out ?? resolve(import.meta.dirname, '../traces'));
const seedBase = Number(values['seed-base']);
mkdirSync(out, { recursive: true });
TRACE_PRESETS.forEach((preset, i) => {
  const file = join(out, `${preset.name}.csv`);
  writeFileSync(file, formatTrace(generatePresetTrace(preset, seedBase + i)));
  console.log(`${file}  seed ${seedBase + i}  ${preset.description}`);
});
