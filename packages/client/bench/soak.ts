/**
 * `npm run bench:soak -- [--calls N] [--minutes M] [--concurrent K] [--json]`
 *
 * A soak run: one `parloir server` process (with its TURN relay) and N native calls between
 * `parloir call` / `parloir answer` processes (speech in, null out), half of them relayed
 * (`--relay`), over M minutes, while a few signalling clients churn presence (connect,
 * disconnect, reconnect) and send each other chat messages. The server and one caller are probed
 * (bench/soak-probe.ts) every `--sample-seconds` for RSS, V8 heap and open file descriptors.
 *
 * K calls run at a time (`--concurrent K`; default: N, or three per core if fewer — each call is
 * two processes of ~2.7 % of a core and ~70 MB, so 200 calls at once would need about 11 cores
 * and 28 GB). When K < N, call 0, the probed one, lasts the whole run, and K − 1 lanes each make
 * their share of the other N − 1 calls back to back, each lane between the same two users with
 * new processes for every call, so the server meets N call set-ups and tear-downs.
 *
 * Growth is measured after warm-up (`--warmup-seconds`, default a fifth of the run, at least
 * 30 s): the mean of the first three samples after warm-up is the baseline, measured in the same
 * run, and the mean of the last three is compared with it (rssGrowthPct, heapGrowthPct as
 * percentages of the baseline, fdGrowth as a count). A call is dropped when either of its
 * processes exits non-zero or the caller's call ends more than 3 s before M minutes after it
 * connected.
 *
 * --json prints {"server": {"rssGrowthPct", "heapGrowthPct", "fdGrowth"}, "client": {…},
 * "droppedCalls", "calls", "relayedCalls", "minutes", "chat": {"sent", "acked", "failures"},
 * "presenceCycles"}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateIdentity, userIdOf } from '@parloir/protocol';
import { SignalingClient } from '../src/signaling/index.ts';
import { makeSpeech } from '../test/helpers/speech.ts';

const CLI = resolve(import.meta.dirname, '../src/cli.ts');
const PROBE = resolve(import.meta.dirname, 'soak-probe.ts');

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Calls in all (half relayed, rounded down). */
  calls: number;
  /** Calls at a time; default `calls`, or three per core if fewer. */
  concurrent?: number;
  /** Length of the run, minutes. */
  minutes: number;
  /** Probe interval, s. */
  sampleSeconds?: number;
  /** Samples before this are warm-up, s. Default: a fifth of the run, at least 30. */
  warmupSeconds?: number;
  /** Presence/chat churn clients (an even number). Default 4. */
  churnClients?: number;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

/** Growth of one probed process after warm-up. */
export interface SoakGrowth {
  /** RSS growth, % of the post-warm-up baseline. */
  rssGrowthPct: number;
  /** V8 heap-used growth, % of the baseline. */
  heapGrowthPct: number;
  /** Open file descriptors, end minus baseline. */
  fdGrowth: number;
  /** Baseline and end RSS, MB. */
  rssMb: { baseline: number; end: number };
  /** Samples taken (including warm-up). */
  samples: number;
}

/** What {@link runSoak} measured. */
export interface SoakResult {
  server: SoakGrowth;
  client: SoakGrowth;
  droppedCalls: number;
  /** Calls made (connected or dropped). */
  calls: number;
  /** Calls at a time. */
  concurrent: number;
  relayedCalls: number;
  minutes: number;
  /** Chat messages sent by the churn clients, and acknowledged by the server. */
  /** `failures`: each distinct refusal once, with its count ("CODE: message (×N)"). */
  chat: { sent: number; acked: number; failures: string[] };
  /** Presence disconnect/reconnect cycles done by the churn clients. */
  presenceCycles: number;
  /** Why each dropped call counts as dropped. */
  dropReasons: string[];
}

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  fds: number;
}

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}, killAfterMs: number): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const p: Proc = { child, out: '', err: '', exited: Promise.resolve(null) };
  child.stdout?.on('data', (d: Buffer) => (p.out = (p.out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (p.err = (p.err + d.toString()).slice(-20_000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  p.exited = new Promise((res) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      res(code);
    }),
  );
  return p;
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`soak: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function readSamples(path: string): Sample[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Sample);
}

/** Growth between the three samples after warm-up and the last three. */
export function growth(samples: Sample[], warmupEndMs: number): SoakGrowth {
  const after = samples.filter((s) => s.t >= warmupEndMs);
  if (after.length < 4) throw new Error(`soak: only ${after.length} samples after warm-up`);
  const k = Math.min(3, Math.floor(after.length / 2));
  const mean = (xs: Sample[], f: (s: Sample) => number): number =>
    xs.reduce((a, s) => a + f(s), 0) / xs.length;
  const base = after.slice(0, k);
  const end = after.slice(-k);
  const pct = (f: (s: Sample) => number): number =>
    Math.round((1000 * (mean(end, f) - mean(base, f))) / mean(base, f)) / 10;
  return {
    rssGrowthPct: pct((s) => s.rss),
    heapGrowthPct: pct((s) => s.heapUsed),
    fdGrowth: Math.round(mean(end, (s) => s.fds) - mean(base, (s) => s.fds)),
    rssMb: {
      baseline: Math.round(mean(base, (s) => s.rss) / 1e5) / 10,
      end: Math.round(mean(end, (s) => s.rss) / 1e5) / 10,
    },
    samples: samples.length,
  };
}

/** Runs the soak; see the file header. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const sampleMs = (o.sampleSeconds ?? 10) * 1000;
  const runMs = o.minutes * 60_000;
  const warmupMs = (o.warmupSeconds ?? Math.max(30, o.minutes * 12)) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'parloir-soak-'));
  const procs: Proc[] = [];
  const churn: SignalingClient[] = [];
  let stopChurn = false;
  try {
    const speech = makeSpeech(
      dir,
      'speech',
      'The soak keeps talking while people come and go.',
      20,
    );
    const port = await freePort();
    const serverUrl = `http://127.0.0.1:${port}`;
    const probeEnv = (file: string): Record<string, string> => ({
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROBE}`.trim(),
      PARLOIR_SOAK_PROBE: file,
      PARLOIR_SOAK_PROBE_MS: String(sampleMs),
    });
    const killAfter = runMs + 180_000;
    const server = start(
      [
        'server',
        ...['--insecure-http', '--bind', '127.0.0.1', '--port', String(port)],
        ...['--data-dir', join(dir, 'data'), '--log-level', 'silent', '--turn-port', '0'],
      ],
      probeEnv(join(dir, 'server.jsonl')),
      killAfter,
    );
    procs.push(server);
    await until(() => /listening/.test(server.out + server.err), 60_000, 'the server');

    // The calls: in lane k, bob<k> answers and alice<k> calls; odd calls relayed; call 0 (lane
    // 0, the whole run) is probed. Lanes 1… share the other calls and make them back to back.
    const concurrent = Math.min(o.calls, Math.max(1, o.concurrent ?? 3 * availableParallelism()));
    const startedAt = Date.now();
    const common = ['--server', serverUrl, '--host-address', '127.0.0.1', '--json'];
    const lanes = concurrent - 1;
    const share = (k: number): number =>
      lanes === 0 ? 0 : Math.floor((o.calls - 1) / lanes) + (k <= (o.calls - 1) % lanes ? 1 : 0);
    // A rolling call's length: its lane's share of the run, less ~10 s to start two processes.
    const rollMs = (k: number): number =>
      Math.max(20_000, Math.floor(runMs / Math.max(1, share(k))) - 10_000);
    const dropReasons: string[] = [];
    let made = 0;
    let relayed = 0;
    const tail = (p: Proc): string => p.err.trim().split('\n').slice(-3).join(' | ');
    /** Makes call `i` in lane `k` for `ms`; resolves once it is up, with its end. */
    const placeCall = async (
      i: number,
      k: number,
      ms: number,
    ): Promise<{ connected: number; ended: Promise<void> }> => {
      const isRelayed = i % 2 === 1 && relayed < Math.floor(o.calls / 2);
      if (isRelayed) relayed++;
      made++;
      const bob = start(
        [
          ...['answer', ...common, '--user', `soak-b${k}`, '--accept-all'],
          ...['--profile', join(dir, `b${k}`), '--in', `wav:${speech}`, '--out', 'null'],
        ],
        {},
        ms + 180_000,
      );
      procs.push(bob);
      await until(() => /waiting for a call/.test(bob.err), 120_000, `answer ${i}`);
      const alice = start(
        [
          ...['call', ...common, '--user', `soak-a${k}`, '--to', `soak-b${k}`],
          ...['--profile', join(dir, `a${k}`), '--in', `wav:${speech}`, '--out', 'null'],
          ...['--duration', String(Math.round(ms / 1000))],
          ...(isRelayed ? ['--relay'] : []),
        ],
        i === 0 ? probeEnv(join(dir, 'client.jsonl')) : {},
        ms + 180_000,
      );
      procs.push(alice);
      await until(() => /connected to/.test(alice.err), 120_000, `call ${i} up`);
      const connected = Date.now();
      const ended = Promise.all([alice.exited, bob.exited]).then(([a, b]) => {
        // The caller's --duration runs from its "connected" line.
        const early = connected + ms - Date.now();
        if (a !== 0 || b !== 0)
          dropReasons.push(
            `call ${i}: exit codes ${a}/${b} (caller: ${tail(alice)}; answerer: ${tail(bob)})`,
          );
        else if (early > 3000)
          dropReasons.push(`call ${i}: ended ${Math.round(early / 1000)} s early (${tail(alice)})`);
        for (const p of [alice, bob]) procs.splice(procs.indexOf(p), 1);
      });
      return { connected, ended };
    };
    // Every lane's first call at once (process start-up overlaps instead of adding up), then the
    // rolling lanes go on.
    const firsts = await Promise.all(
      Array.from({ length: concurrent }, (_, k) =>
        placeCall(k === 0 ? 0 : 1 + (k - 1), k, k === 0 ? runMs : rollMs(k)),
      ),
    );
    const connectedAt = Date.now();
    log(
      `soak: ${concurrent} calls up (${relayed} relayed) in ${((connectedAt - startedAt) / 1000).toFixed(1)} s`,
    );
    let next = concurrent;
    const laneRuns = firsts.map(async (first, k) => {
      await first.ended;
      if (k === 0) return;
      for (let done = 1; done < share(k) && next < o.calls; done++) {
        const call = await placeCall(next++, k, rollMs(k));
        await call.ended;
      }
    });

    // Presence and chat churn, for the rest of the run.
    const n = Math.max(2, (o.churnClients ?? 4) & ~1);
    const ids = await Promise.all(Array.from({ length: n }, () => generateIdentity()));
    const userIds = await Promise.all(ids.map((id) => userIdOf(id.publicKey)));
    const chat = { sent: 0, acked: 0, failures: [] as string[] };
    const refusals = new Map<string, number>();
    // Each churn client stays within the server's chat quota (5,000 messages a day a user, which
    // an hour's churn at one message per 400 ms would pass): at most 4,500 messages in the run.
    const chatGapMs = Math.max(400, Math.ceil(runMs / 4500));
    // Each churn identity logs in once before the churn starts, so that a message to its peer
    // never meets "unknown user": every unacknowledged message is then a real failure.
    for (const [k, id] of ids.entries()) {
      const c = new SignalingClient({
        url: `ws://127.0.0.1:${port}/ws`,
        identity: id,
        name: `soak-churn${k}`,
        reconnect: false,
      });
      try {
        await c.connect({ untilReady: true });
      } finally {
        c.close();
      }
    }
    let cycles = 0;
    const churnLoop = async (k: number): Promise<void> => {
      const name = `soak-churn${k}`;
      const peer = userIds[k ^ 1]!;
      while (!stopChurn) {
        const c = new SignalingClient({
          url: `ws://127.0.0.1:${port}/ws`,
          identity: ids[k]!,
          name,
          reconnect: false,
        });
        churn.push(c);
        try {
          await c.connect({ untilReady: true });
          for (let m = 0; m < 5 && !stopChurn; m++) {
            chat.sent++;
            try {
              await c.session.sendChat(peer, `message ${m} of cycle ${cycles}`);
              chat.acked++;
            } catch (e) {
              const code = (e as { code?: unknown }).code;
              const why = e instanceof Error ? e.message : String(e);
              const key = typeof code === 'string' ? `${code}: ${why}` : why;
              refusals.set(key, (refusals.get(key) ?? 0) + 1);
            }
            await new Promise((r) => setTimeout(r, chatGapMs));
          }
        } finally {
          c.close();
          churn.splice(churn.indexOf(c), 1);
        }
        cycles++;
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    const churning = Array.from({ length: n }, (_, k) =>
      churnLoop(k).catch((e: unknown) => log(`churn ${k}: ${String(e)}`)),
    );

    // Wait for every lane to make its calls, each ending on its own at --duration.
    await Promise.all(laneRuns);
    stopChurn = true;
    await Promise.all(churning);
    for (const [key, n] of refusals) chat.failures.push(`${key} (×${n})`);
    for (const r of dropReasons) log(`soak: dropped — ${r}`);
    server.child.kill('SIGTERM');
    await server.exited;
    const warmupEnd = connectedAt + warmupMs;
    return {
      server: growth(readSamples(join(dir, 'server.jsonl')), warmupEnd),
      client: growth(readSamples(join(dir, 'client.jsonl')), warmupEnd),
      droppedCalls: dropReasons.length,
      calls: made,
      concurrent,
      relayedCalls: relayed,
      minutes: o.minutes,
      chat,
      presenceCycles: cycles,
      dropReasons,
    };
  } finally {
    stopChurn = true;
    for (const c of churn) c.close();
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '20' },
      concurrent: { type: 'string' },
      minutes: { type: 'string', default: '10' },
      'sample-seconds': { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const r = await runSoak({
    calls: Number(values.calls),
    minutes: Number(values.minutes),
    ...(values.concurrent === undefined ? {} : { concurrent: Number(values.concurrent) }),
    sampleSeconds: Number(values['sample-seconds']),
    ...(values['warmup-seconds'] === undefined
      ? {}
      : { warmupSeconds: Number(values['warmup-seconds']) }),
    log: (l) => console.error(l),
  });
  if (values.json) console.log(JSON.stringify(r));
  else {
    for (const who of ['server', 'client'] as const) {
      const g = r[who];
      console.log(
        `${who}: RSS ${g.rssMb.baseline} → ${g.rssMb.end} MB (${g.rssGrowthPct} %), heap ${g.heapGrowthPct} %, fds ${g.fdGrowth >= 0 ? '+' : ''}${g.fdGrowth}`,
      );
    }
    console.log(
      `calls ${r.calls} (${r.relayedCalls} relayed, ${r.concurrent} at a time), dropped ${r.droppedCalls}; chat ${r.chat.acked}/${r.chat.sent} acked; ${r.presenceCycles} presence cycles`,
    );
  }
}
