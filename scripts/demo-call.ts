/**
 * Headless demo call (`npm run demo`): starts a Parloir server with its TURN relay on 127.0.0.1,
 * makes two short speech files with espeak-ng (or tones, if espeak-ng/sox are missing), then has
 * `parloir answer` (bob) and `parloir call` (alice) talk for a few seconds through wav: devices.
 * Prints both QoS summaries and where the received audio and the HTML QoS report were written.
 *
 *   node scripts/demo-call.ts [--seconds 8] [--relay] [--out DIR]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeWav } from '../packages/client/src/audio/index.ts';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'packages/client/src/cli.ts');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    relay: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds < 2 || seconds > 600) {
  console.error('demo: --seconds must be between 2 and 600');
  process.exit(2);
}
const dir = values.out ?? mkdtempSync(join(tmpdir(), 'parloir-demo-'));
mkdirSync(dir, { recursive: true });

/** A 48 kHz mono speech (or tone) file of `seconds`. */
function voice(name: string, sentence: string, toneHz: number): string {
  const out = join(dir, `${name}.wav`);
  try {
    const raw = join(dir, `${name}-raw.wav`);
    execFileSync('espeak-ng', ['-w', raw, '-s', '150', sentence]);
    execFileSync('sox', [
      ...['-V1', raw, '-r', '48000', '-c', '1', '-b', '16', '-e', 'signed-integer', out],
      ...['pad', '0', '0.3', 'repeat', '20', 'trim', '0', String(seconds + 2)],
    ]);
  } catch {
    const samples = new Int16Array(48_000 * (seconds + 2));
    for (let i = 0; i < samples.length; i++) {
      samples[i] = Math.round(6000 * Math.sin((2 * Math.PI * toneHz * i) / 48_000));
    }
    writeWav(out, { sampleRate: 48_000, channels: 1, samples });
  }
  return out;
}

function run(args: string[], prefix: string): { child: ChildProcess; done: Promise<number> } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const print = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) console.log(`${prefix} ${line}`);
  };
  child.stdout?.on('data', print);
  child.stderr?.on('data', print);
  const done = new Promise<number>((r) => child.on('exit', (code) => r(code ?? 1)));
  return { child, done };
}

const aliceIn = voice('alice', 'Hello Bob, this is Alice, calling through Parloir.', 330);
const bobIn = voice('bob', 'Hi Alice, Bob here, I hear you loud and clear.', 550);

const server = run(
  [
    ...['server', '--bind', '127.0.0.1', '--port', '0', '--insecure-http', '--no-web'],
    ...['--turn-port', '0', '--data-dir', join(dir, 'server'), '--log-level', 'warn'],
  ],
  '[server]',
);
const serverUrl = await new Promise<string>((resolveUrl, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
  server.child.stdout?.on('data', (d: Buffer) => {
    const m = /listening url=ws:\/\/([^/\s]+)/.exec(d.toString());
    if (m?.[1] !== undefined) {
      clearTimeout(timer);
      resolveUrl(`http://${m[1]}`);
    }
  });
});

const common = [
  '--server',
  serverUrl,
  '--duration',
  String(seconds),
  '--host-address',
  '127.0.0.1',
];
const relay = values.relay ? ['--relay'] : [];
const bob = run(
  [
    ...['answer', ...common, ...relay, '--user', 'bob', '--accept-from', 'alice'],
    ...[
      '--profile',
      join(dir, 'bob'),
      '--in',
      `wav:${bobIn}`,
      '--out',
      `wav:${join(dir, 'bob-heard.wav')}`,
    ],
  ],
  '[bob]  ',
);
await new Promise((r) => setTimeout(r, 1500));
const alice = run(
  [
    ...['call', ...common, ...relay, '--user', 'alice', '--to', 'bob'],
    ...['--profile', join(dir, 'alice'), '--in', `wav:${aliceIn}`],
    ...['--out', `wav:${join(dir, 'alice-heard.wav')}`],
  ],
  '[alice]',
);
const [aliceCode, bobCode] = await Promise.all([alice.done, bob.done]);
server.child.kill('SIGTERM');
await server.done;

const logs = join(dir, 'alice', 'calls');
const log = readdirSync(logs).find((f) => f.endsWith('.jsonl'));
if (log !== undefined) {
  const report = join(dir, 'report.html');
  execFileSync(process.execPath, [cli, 'report', join(logs, log), '-o', report]);
  console.log(`\nQoS report (alice's side): ${report}`);
}
console.log(`What bob heard:   ${join(dir, 'bob-heard.wav')}`);
console.log(`What alice heard: ${join(dir, 'alice-heard.wav')}`);
process.exitCode = aliceCode === 0 && bobCode === 0 ? 0 : 1;
