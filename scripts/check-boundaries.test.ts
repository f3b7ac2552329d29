import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checkBoundaries, scanSource } from './check-boundaries.ts';

test('flags socket, ws and addon imports with file and line', () => {
  const src = [
    "import dgram from 'node:dgram';",
    "import { WebSocket } from 'ws';",
    "const n = await import('node:net');",
    "import { versions } from '@parloir/native';",
    "import { x } from './ok.ts';",
  ].join('\n');
  const v = scanSource('packages/media/src/a.ts', src, false);
  assert.deepEqual(
    v.map((x) => [x.line, x.what]),
    [
      [1, 'import of node:dgram'],
      [2, 'import of ws'],
      [3, 'import of node:net'],
      [4, 'import of @parloir/native'],
    ],
  );
});

test('flags clock reads in media only when asked', () => {
  const src = 'const t = Date.now();\nsetTimeout(f, 1);';
  assert.equal(scanSource('a.ts', src, true).length, 2);
  assert.equal(scanSource('a.ts', src, false).length, 0);
});

test('walks a package tree and names the offending file', () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-boundary-'));
  mkdirSync(join(root, 'packages/media/src'), { recursive: true });
  mkdirSync(join(root, 'packages/protocol/src'), { recursive: true });
  writeFileSync(join(root, 'packages/media/src/bad.ts'), "import 'node:dgram';\n");
  writeFileSync(join(root, 'packages/protocol/src/good.ts'), 'export const a = 1;\n');
  const v = checkBoundaries(root);
  assert.equal(v.length, 1);
  assert.equal(v[0]?.file, 'packages/media/src/bad.ts');
});

test('the TURN core is held to the sans-IO rules; its IO shell and tests are not', () => {
  const root = mkdtempSync(join(tmpdir(), 'parloir-boundary-'));
  const turn = join(root, 'packages/server/src/turn');
  mkdirSync(join(root, 'packages/media/src'), { recursive: true });
  mkdirSync(join(root, 'packages/protocol/src'), { recursive: true });
  mkdirSync(turn, { recursive: true });
  writeFileSync(join(turn, 'permission.ts'), 'export const t = Date.now();\n');
  writeFileSync(join(turn, 'auth.ts'), "import dgram from 'node:dgram';\n");
  writeFileSync(join(turn, 'relay-adapter.ts'), "import dgram from 'node:dgram';\n");
  writeFileSync(join(turn, 'relay-udp.integration.test.ts'), "import net from 'node:net';\n");
  const v = checkBoundaries(root);
  assert.deepEqual(v.map((x) => x.file).sort(), [
    'packages/server/src/turn/auth.ts',
    'packages/server/src/turn/permission.ts',
  ]);
});
