import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COMMANDS } from './cli.ts';

const bin = resolve(import.meta.dirname, '../bin/parloir');
const run = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8' });

test('parloir --help lists every subcommand', () => {
  const r = run('--help');
  assert.equal(r.status, 0);
  for (const name of ['app', 'server', 'host', 'call', 'answer', 'connect', 'audio', 'report']) {
    assert.ok(Object.hasOwn(COMMANDS, name));
    assert.match(r.stdout, new RegExp(`^  ${name}\\s`, 'm'));
  }
});

test('parloir alone without a display prints the usage (with one it opens the app)', () => {
  const env = { ...process.env, DISPLAY: '', WAYLAND_DISPLAY: '' };
  const r = spawnSync(bin, [], { encoding: 'utf8', env });
  assert.equal(r.status, 2);
  assert.match(r.stdout, /^Usage: parloir <command>/m);
  assert.match(r.stdout, /^ {2}app\s/m);
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

test('parloir --version names the package version and runs under Node 24', () => {
  // The bin picks its own node (the project's Node 24): check what it reports, not the runner's.
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) {
    const r = run(flag);
    assert.equal(r.status, 0, r.stderr);
    const m = /^parloir (\S+) \(node v(\d+)\.\d+\.\d+\)\n$/.exec(r.stdout);
    assert.ok(m, `unexpected --version output: ${JSON.stringify(r.stdout)}`);
    assert.equal(m[1], pkg.version);
    assert.equal(m[2], '24');
  }
});
