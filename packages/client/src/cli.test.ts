import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { COMMANDS } from './cli.ts';

const bin = resolve(import.meta.dirname, '../bin/parloir');
const run = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });

test('parloir --help lists every subcommand', () => {
  const r = run('--help');
  assert.equal(r.status, 0);
  for (const name of ['server', 'host', 'call', 'answer', 'connect', 'audio', 'report']) {
    assert.ok(Object.hasOwn(COMMANDS, name));
    assert.match(r.stdout, new RegExp(`^  ${name}\\s`, 'm'));
  }
});

test('parloir <cmd> --help prints that command usage', () => {
  const r = run('audio', '--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: parloir audio/m);
});

test('an unknown command exits 2 with a one-line error', () => {
  const r = run('nosuch');
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /unknown command 'nosuch'/);
});

test('an unknown flag exits 2 with a one-line error', () => {
  const r = run('server', '--no-such-flag');
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /no-such-flag/);
});

test('runs under Node 24', () => {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(process.versions.node.split('.')[0], '24');
});
