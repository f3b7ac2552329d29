/** Runs the `parloir` CLI as a child process (Node 24 running the .ts entry directly). */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../../src/cli.ts');

/** A running CLI process and its eventual outcome. */
export interface CliRun {
  /** The process. */
  child: ChildProcess;
  /** Resolves when it exits. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** stdout so far. */
  stdout(): string;
  /** stderr so far (progress lines). */
  stderr(): string;
  /** Writes one line to its stdin. */
  send(line: string): void;
}

/**
 * Starts `parloir ARGS…`; kills it after `timeoutMs`. `prefix`: a command that runs it, e.g.
 * `['ip', 'netns', 'exec', NS]` (it must exec the CLI, so that the child is the CLI itself).
 */
export function runCli(args: string[], timeoutMs = 150_000, prefix: string[] = []): CliRun {
  const argv = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => res({ code, stdout: out, stderr: err }));
    });
  });
  return {
    child,
    done,
    stdout: () => out,
    stderr: () => err,
    send: (line) => {
      child.stdin?.write(`${line}\n`);
    },
  };
}

/** Resolves with the match when `which` output of `run` matches `re`; rejects after `timeoutMs`. */
export async function waitForOutput(
  run: CliRun,
  re: RegExp,
  which: 'stdout' | 'stderr' = 'stdout',
  timeoutMs = 90_000,
): Promise<RegExpExecArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = which === 'stdout' ? run.stdout() : run.stderr();
    const m = re.exec(text);
    if (m !== null) return m;
    if (Date.now() > end || run.child.exitCode !== null) {
      throw new Error(
        `${which} never matched ${re}:\n${run.stdout()}\n--- stderr:\n${run.stderr()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves when `run`'s stderr matches `re`. */
export async function waitForStderr(run: CliRun, re: RegExp, timeoutMs = 90_000): Promise<void> {
  await waitForOutput(run, re, 'stderr', timeoutMs);
}

/** Devices and flags of {@link answerThenCall}. */
export interface AnswerThenCallOptions {
  /** Flags both sides take (`--server …`, `--relay`, `--duration …`). */
  common: string[];
  /** Profiles go in `<dir>/b` (bob) and `<dir>/a` (alice). */
  dir: string;
  /** Device specs (`wav:FILE` or `null`). */
  bobIn: string;
  bobOut: string;
  aliceIn: string;
  aliceOut: string;
  /** Per-process timeout, ms. */
  timeoutMs?: number;
  /** Runs both through this command (see {@link runCli}). */
  prefix?: string[];
}

/**
 * Starts `parloir answer` as bob (accepting every call) and, once it waits, `parloir call` from
 * alice to bob: the two-client setup the end-to-end tests and the call benchmark share.
 */
export async function answerThenCall(
  o: AnswerThenCallOptions,
): Promise<{ alice: CliRun; bob: CliRun }> {
  const bob = runCli(
    [
      ...['answer', ...o.common, '--user', 'bob', '--accept-all'],
      ...['--profile', join(o.dir, 'b'), '--in', o.bobIn, '--out', o.bobOut],
    ],
    o.timeoutMs,
    o.prefix,
  );
  await waitForStderr(bob, /waiting for a call/);
  const alice = runCli(
    [
      ...['call', ...o.common, '--user', 'alice', '--to', 'bob'],
      ...['--profile', join(o.dir, 'a'), '--in', o.aliceIn, '--out', o.aliceOut],
    ],
    o.timeoutMs,
    o.prefix,
  );
  return { alice, bob };
}
