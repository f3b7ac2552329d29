/**
 * bench:signaling — the signalling server under N clients and M calls on loopback.
 *
 *   npm run bench:signaling -- --clients 5000 --calls 1000 [--workers N] [--bulk-nice 10|idle]
 *     [--rate 500] [--json] [--server-cpu-prof DIR] [--trace] [--server-node-flag FLAG]…
 *
 * The server runs in its own process (`parloir server`, plain WS on 127.0.0.1), the load
 * generators in other processes (signaling-worker.ts): one runs the 2 × calls clients that place
 * and answer the measured calls, `--workers` others run the rest at a lower CPU priority
 * (`--bulk-nice`). Every client is a real client that receives every frame. Reports connect time, time
 * until every online list is complete (counted from the last connect), invite→ringing and
 * accept→both-notified percentiles, server RSS per idle client and server CPU. The baseline
 * measured in the same run is a bare request/response round trip (`ping`) on an idle server:
 * invite→ringing is printed as a ratio to it.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '5000' },
    calls: { type: 'string', default: '1000' },
    /**
     * Bulk load-generator processes (the clients that make no call); default one per core
     * beyond the first two, at least one (more would oversubscribe the cores the server shares).
     */
    workers: { type: 'string', default: String(Math.max(1, Math.min(3, cpus().length - 1))) },
    /**
     * Nice value of the bulk generators. They stand in for thousands of machines that would not
     * share the server's cores; at the server's priority, their bursts of diff frames after each
     * presence fan-out took the CPU from the server and from the calls generator. 0 = the
     * method before 2026-11-24 round 4 (all at the same priority).
     */
    'bulk-nice': { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    json: { type: 'boolean', default: false },
    /** Directory for a V8 CPU profile of the server process (written when it exits). */
    'server-cpu-prof': { type: 'string' },
    /**
     * Preload signaling-probe.ts into the server: GC pauses, event-loop stalls, SQLite commits
     * and /metrics collections with timestamps, lined up with the slowest invites.
     */
    trace: { type: 'boolean', default: false },
    /** Extra node flag for the server process (repeatable), e.g. --max-semi-space-size=16. */
    'server-node-flag': { type: 'string', multiple: true, default: [] },
  },
});
const CLIENTS = Number(values.clients);
const CALLS = Number(values.calls);
const WORKERS = Math.max(1, Number(values.workers));
/** 'idle': SCHED_IDLE (chrt --idle), below any nice value. */
const BULK_NICE =
  values['bulk-nice'] === 'idle' ? 'idle' : Math.max(0, Math.min(19, Number(values['bulk-nice'])));
const RATE = Number(values.rate);
if (!(CLIENTS >= 2) || !(CALLS >= 0) || CALLS * 2 > CLIENTS) {
  console.error('bench:signaling: need --clients ≥ 2 and --calls ≤ clients/2');
  process.exit(2);
}
const log = (s: string) => {
  if (!values.json) console.log(s);
};
const now = () => performance.timeOrigin + performance.now();
const CLK_TCK = 100;
/** Idle time after the last connect before RSS per idle client is read, ms. */
const IDLE_MS = 10_000;

function procStat(pid: number): { cpuSec: number; rssKB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSec, rssKB: Number(rss?.[1] ?? 0) };
}

/**
 * The server's own view of itself (prom-client default metrics on /metrics): memory in MB, GC
 * time in ms, and the worst event-loop delay since the previous scrape (the histogram is reset
 * at each scrape), ms.
 */
async function serverMetrics(wsUrl: string): Promise<{
  heapTotalMB: number;
  heapUsedMB: number;
  externalMB: number;
  gcMs: number;
  gcMajorMs: number;
  /** Scavenges (minor GCs) since the server started. */
  scavenges: number;
  loopLagMaxMs: number;
}> {
  const res = await fetch(wsUrl.replace(/^ws/, 'http').replace(/\/ws$/, '/metrics'));
  const text = await res.text();
  const metric = (name: string, labels = '(?:\\{[^}]*\\})?') =>
    Number(new RegExp(`^${name}${labels} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const gcSum = (kind: string) =>
    metric('nodejs_gc_duration_seconds_sum', `\\{kind="${kind}"\\}`) || 0;
  return {
    heapTotalMB: metric('nodejs_heap_size_total_bytes') / 2 ** 20,
    heapUsedMB: metric('nodejs_heap_size_used_bytes') / 2 ** 20,
    externalMB: metric('nodejs_external_memory_bytes') / 2 ** 20,
    gcMs: (gcSum('minor') + gcSum('major') + gcSum('incremental') + gcSum('weakcb')) * 1000,
    gcMajorMs: gcSum('major') * 1000,
    scavenges: metric('nodejs_gc_duration_seconds_count', '\\{kind="minor"\\}') || 0,
    loopLagMaxMs: metric('nodejs_eventloop_lag_max_seconds') * 1000,
  };
}

/**
 * CPU time used by every other process on the machine (user + system, with reaped children),
 * s: other helpers' builds and tests share the 2 cores and show up as server stalls.
 */
function othersCpuSec(exclude: Set<number>): Map<string, number> {
  const byProcess = new Map<string, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || exclude.has(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      byProcess.set(
        `${comm}[${pid}]`,
        (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK,
      );
    } catch {
      // exited meanwhile
    }
  }
  return byProcess;
}

interface ProbeEvent {
  at: number;
  ms: number;
  what: string;
}

/**
 * --trace: the server probe's events (signaling-probe.ts) during [from, to] summed by kind, and
 * for each invite slower than `slowMs` (at most 40, slowest first) the events overlapping it.
 */
async function traceReport(
  server: ChildProcess,
  dataDir: string,
  invites: { at: number; ms: number }[],
  generatorStalls: ProbeEvent[],
  from: number,
  to: number,
  slowMs: number,
): Promise<void> {
  server.kill('SIGUSR2');
  const file = probeFile(dataDir);
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  const all = JSON.parse(readFileSync(file, 'utf8')) as ProbeEvent[];
  const scrapes = all.filter((e) => e.what.startsWith('metrics'));
  log(
    `  /metrics scrapes (whole run, ${scrapes.length}): ${scrapes.map((e) => `${r1(e.ms)} ms ${e.what.slice(8)}${e.at + e.ms >= from && e.at <= to ? ' DURING THE CALLS' : ''}`).join(', ')}`,
  );
  const events = [...all, ...generatorStalls].filter((e) => e.at + e.ms >= from && e.at <= to);
  const kinds = new Map<
    string,
    { n: number; sum: number; max: number; onCpu: number; waiting: number }
  >();
  for (const e of events) {
    // Details in parentheses (a stall's CPU and run-queue split, a ping count) are not the kind.
    const k = e.what.replace(/ \(.*$/, '');
    const v = kinds.get(k) ?? { n: 0, sum: 0, max: 0, onCpu: 0, waiting: 0 };
    v.n++;
    v.sum += e.ms;
    v.max = Math.max(v.max, e.ms);
    const split = /on CPU ([\d.]+) ms, waiting for a CPU ([\d.]+) ms/.exec(e.what);
    v.onCpu += Number(split?.[1] ?? 0);
    v.waiting += Number(split?.[2] ?? 0);
    kinds.set(k, v);
  }
  log(`  server probe (and generator stalls) during the calls (${r1((to - from) / 1000)} s):`);
  for (const [k, v] of kinds)
    log(
      `    ${k}: ${v.n}× total ${r1(v.sum)} ms, worst ${r1(v.max)} ms${v.onCpu + v.waiting > 0 ? ` (on CPU ${r1(v.onCpu)} ms, waiting for a CPU ${r1(v.waiting)} ms)` : ''}`,
    );
  const slow = invites.filter((i) => i.ms > slowMs).sort((a, b) => b.ms - a.ms);
  log(`  ${slow.length} invites over ${r1(slowMs)} ms; the slowest with what overlapped them:`);
  for (const inv of slow.slice(0, 40)) {
    const over = events
      .filter((e) => e.at + e.ms >= inv.at && e.at <= inv.at + inv.ms)
      .map((e) => `${e.what} ${r1(e.ms)} ms @${r1(e.at - inv.at)}`);
    log(
      `    +${r1((inv.at - from) / 1000)} s ${r1(inv.ms)} ms: ${over.join('; ') || '(nothing recorded)'}`,
    );
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Where the server's probe (--trace) writes its events on SIGUSR2. */
const probeFile = (dataDir: string) => join(dataDir, 'probe.json');

async function startServerProcess(dataDir: string): Promise<{ proc: ChildProcess; url: string }> {
  const cli = resolve(import.meta.dirname, '../../client/src/cli.ts');
  const proc = spawn(
    process.execPath,
    [
      ...(values['server-node-flag'] ?? []),
      ...(values.trace ? ['--import', resolve(import.meta.dirname, 'signaling-probe.ts')] : []),
      ...(values['server-cpu-prof']
        ? ['--cpu-prof', '--cpu-prof-dir', values['server-cpu-prof']]
        : []),
      cli,
      'server',
      '--bind',
      '127.0.0.1',
      '--port',
      '0',
      '--insecure-http',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      '--no-web',
      '--max-connections-per-ip',
      '1000000',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, PARLOIR_BENCH_PROBE: probeFile(dataDir) },
    },
  );
  let out = '';
  const url = await new Promise<string>((res, rej) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening url=(\S+)/.exec(out);
      if (m) res(m[1] as string);
    });
    proc.on('exit', () => rej(new Error(`server exited: ${out}`)));
  });
  return { proc, url };
}

/** Baseline: sequential ping round trips (25 ms apart) on one connection of the idle server, ms. */
async function pingBaseline(url: string, n: number): Promise<number[]> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const rtts: number[] = [];
  for (let i = 1; i <= n; i++) {
    const t = now();
    await new Promise<void>((res) => {
      const on = (d: Buffer) => {
        const f = JSON.parse(d.toString()) as { id?: number };
        if (f.id === i) {
          ws.off('message', on);
          res();
        }
      };
      ws.on('message', on);
      ws.send(JSON.stringify({ type: 'ping', id: i }));
    });
    rtts.push(now() - t);
    // Stay under the per-connection message bucket (50/s).
    await new Promise((r) => setTimeout(r, 25));
  }
  ws.close();
  return rtts.sort((a, b) => a - b);
}

type WorkerEv =
  | { ev: 'up' }
  | { ev: 'ids'; ids: string[]; offset: number }
  | { ev: 'connected'; at: number; failures: number; firstFailure?: string }
  | { ev: 'presence-complete'; at: number }
  | {
      ev: 'calls-done';
      /** Calls this generator made (0: a bulk generator). */
      calls: number;
      inviteToRinging: number[];
      /** Invite sent → the callee's `call.incoming` (first half of invite→ringing). */
      inviteToIncoming: number[];
      /** Wall-clock send time (Unix ms) of each invite, in the order of inviteToRinging. */
      inviteAt: number[];
      acceptToNotified: number[];
      failures: number;
      /** Worst event-loop delay of this load generator during the calls, ms. */
      loopLagMaxMs: number;
      /** This generator's event-loop stalls and GC pauses during the calls: start (Unix ms), length (ms). */
      stalls: { at: number; ms: number; what?: string }[];
    };

function waitAll<T extends WorkerEv['ev']>(
  workers: ChildProcess[],
  ev: T,
  timeoutMs: number,
): Promise<Extract<WorkerEv, { ev: T }>[]> {
  return new Promise((res, rej) => {
    const got: Extract<WorkerEv, { ev: T }>[] = [];
    const timer = setTimeout(
      () => rej(new Error(`timeout waiting for ${ev} (${got.length}/${workers.length})`)),
      timeoutMs,
    );
    for (const w of workers) {
      const on = (m: WorkerEv) => {
        if (m.ev !== ev) return;
        w.off('message', on);
        got.push(m as Extract<WorkerEv, { ev: T }>);
        if (got.length === workers.length) {
          clearTimeout(timer);
          res(got);
        }
      };
      w.on('message', on);
    }
  });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parloir-bench-'));
  const { proc: server, url } = await startServerProcess(dataDir);
  const pid = server.pid as number;
  const workers: ChildProcess[] = [];
  try {
    // Process 0 runs the 2 × calls clients that place and answer the measured calls (real
    // clients: they receive every presence diff too); the others run the rest at a lower
    // priority (--bulk-nice), so the timestamps are not taken behind a bulk backlog.
    const callClients = CALLS > 0 ? 2 * CALLS : 0;
    const bulkClients = CLIENTS - callClients;
    const bulkWorkers = bulkClients > 0 ? WORKERS : 0;
    const per = Math.ceil(bulkClients / Math.max(1, bulkWorkers));
    const counts = [
      ...(callClients > 0 ? [callClients] : []),
      ...Array.from({ length: bulkWorkers }, (_, i) =>
        Math.max(0, Math.min(per, bulkClients - i * per)),
      ),
    ];
    const offsets = counts.map((_, i) => counts.slice(0, i).reduce((a, b) => a + b, 0));
    log(
      `server pid ${pid} at ${url}; ${CLIENTS} clients: ${callClients} making the calls in one load process, ${bulkClients} in ${bulkWorkers} bulk load processes at nice ${BULK_NICE}; ${CALLS} calls at ${RATE}/s`,
    );
    const baseline = await pingBaseline(url, 100);
    const base = procStat(pid);
    const baseMem = await serverMetrics(url);
    log(
      `baseline: ping round trip p50 ${r1(pct(baseline, 50))} ms, p99 ${r1(pct(baseline, 99))} ms; server RSS ${base.rssKB} kB idle (JS heap used ${r1(baseMem.heapUsedMB)} of ${r1(baseMem.heapTotalMB)} MB)`,
    );

    const workerFile = resolve(import.meta.dirname, 'signaling-worker.ts');
    const callsWorker = callClients > 0;
    for (let i = 0; i < counts.length; i++) {
      const bulk = !(callsWorker && i === 0);
      workers.push(
        bulk && BULK_NICE !== 0
          ? // Through nice(1) or chrt(1), so every thread of the process (V8's GC helpers too) has it.
            spawn(
              BULK_NICE === 'idle' ? 'chrt' : 'nice',
              [
                ...(BULK_NICE === 'idle' ? ['--idle', '0'] : ['-n', String(BULK_NICE)]),
                process.execPath,
                workerFile,
              ],
              { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
            )
          : fork(workerFile, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
      );
    }
    await waitAll(workers, 'up', 30_000);
    const idsP = waitAll(workers, 'ids', 120_000);
    workers.forEach((w, i) => w.send({ cmd: 'init', count: counts[i], offset: offsets[i] }));
    const idLists = await idsP;
    // Workers answered in any order: the id list in index order, by offset.
    const allIds = idLists.sort((a, b) => a.offset - b.offset).flatMap((l) => l.ids);
    if (allIds.length !== CLIENTS) throw new Error('worker id list mismatch');

    // CPU per phase, server and load generators, to see which side saturates the machine.
    const workerCpu = () => workers.reduce((sum, w) => sum + procStat(w.pid as number).cpuSec, 0);
    const phase = (from: { t: number; srv: number; gen: number }, label: string) => {
      const sec = (now() - from.t) / 1000;
      const srv = procStat(pid).cpuSec;
      const gen = workerCpu();
      log(
        `  ${label}: ${r1(sec)} s, server CPU ${r1(((srv - from.srv) / sec) * 100)} %, load generators ${r1(((gen - from.gen) / sec) * 100)} % (of one core; ${cpus().length} cores)`,
      );
      return { t: now(), srv, gen };
    };
    const cpu0 = procStat(pid).cpuSec;
    const t0 = now();
    let mark = { t: t0, srv: cpu0, gen: workerCpu() };
    const connectedP = waitAll(workers, 'connected', 1_800_000);
    const presenceP = waitAll(workers, 'presence-complete', 3_600_000);
    presenceP.catch(() => undefined);
    for (const w of workers) w.send({ cmd: 'connect', url, allIds, concurrency: 64 });
    const connected = await connectedP;
    mark = phase(mark, 'connect phase');
    const lastConnect = Math.max(...connected.map((c) => c.at));
    const connectAllMs = lastConnect - t0;
    const failures = connected.reduce((n, c) => n + c.failures, 0);
    log(
      `connected and authenticated ${CLIENTS - failures}/${CLIENTS} in ${Math.round(connectAllMs)} ms${failures ? ` (first failure: ${connected.find((c) => c.firstFailure)?.firstFailure})` : ''}`,
    );
    let presenceCompleteMs = NaN;
    try {
      const complete = await Promise.race([
        presenceP,
        new Promise<never>((_, j) => setTimeout(() => j(new Error('presence timeout')), 60_000)),
      ]);
      presenceCompleteMs = Math.max(0, Math.max(...complete.map((c) => c.at)) - lastConnect);
      log(`every online list complete ${Math.round(presenceCompleteMs)} ms after the last connect`);
    } catch (err) {
      log(`online lists NOT complete within 60 s after the last connect: ${String(err)}`);
    }

    // RSS with idle clients: right after the connect burst the heap still holds its garbage
    // (V8 returns it after a few idle seconds), so the figure is read after IDLE_MS of idleness;
    // the early reading is logged too.
    await new Promise((r) => setTimeout(r, 1500));
    const early = procStat(pid);
    const earlyMem = await serverMetrics(url);
    await new Promise((r) => setTimeout(r, IDLE_MS - 1500));
    const idle = procStat(pid);
    mark = { t: now(), srv: idle.cpuSec, gen: workerCpu() };
    const rssPerClientKB = (idle.rssKB - base.rssKB) / CLIENTS;
    const mem = await serverMetrics(url);
    log(
      `server RSS 1.5 s after the last connect ${early.rssKB} kB (${r1((early.rssKB - base.rssKB) / CLIENTS)} kB per client; JS heap used ${r1(earlyMem.heapUsedMB)} of ${r1(earlyMem.heapTotalMB)} MB)`,
    );
    log(
      `server RSS after ${IDLE_MS / 1000} s idle ${idle.rssKB} kB with ${CLIENTS} clients: ${r1(rssPerClientKB)} kB per client (JS heap used ${r1(mem.heapUsedMB)} of ${r1(mem.heapTotalMB)} MB, external ${r1(mem.externalMB)} MB)`,
    );

    const callsPer = workers.map((_, i) => (callsWorker && i === 0 ? CALLS : 0));
    const before = await serverMetrics(url);
    const ours = new Set([process.pid, pid, ...workers.map((w) => w.pid as number)]);
    const others0 = othersCpuSec(ours);
    const callsFrom = now();
    const callsP = waitAll(workers, 'calls-done', 300_000);
    workers.forEach((w, i) =>
      w.send({
        cmd: 'calls',
        calls: callsPer[i],
        ratePerSec: RATE,
        // A bulk generator records its own stalls for as long as the calls should last.
        holdMs: (CALLS / RATE) * 1000 + 100,
      }),
    );
    const done = await callsP;
    const callsTo = now();
    const othersBy = [...othersCpuSec(ours)]
      .map(([k, sec]) => [k, sec - (others0.get(k) ?? 0)] as const)
      .filter(([, sec]) => sec > 0)
      .sort((a, b) => b[1] - a[1]);
    const others = othersBy.reduce((sum, [, sec]) => sum + sec, 0);
    phase(mark, 'calls phase');
    const othersPct = (others / ((callsTo - callsFrom) / 1000)) * 100;
    log(
      `  other processes on the machine during the calls: ${r1(othersPct)} % of one core (${othersBy
        .slice(0, 4)
        .map(([k, sec]) => `${k} ${Math.round(sec * 1000)} ms`)
        .join(', ')})`,
    );
    const after = await serverMetrics(url);
    const lagOf = (calls: boolean) =>
      Math.max(0, ...done.filter((d) => d.calls > 0 === calls).map((d) => d.loopLagMaxMs));
    log(
      `  server during the calls: GC ${r1(after.gcMs - before.gcMs)} ms (major ${r1(after.gcMajorMs - before.gcMajorMs)} ms, ${after.scavenges - before.scavenges} scavenges), worst event-loop delay ${r1(after.loopLagMaxMs)} ms; calls generator's worst event-loop delay ${r1(lagOf(true))} ms, bulk generators' ${r1(lagOf(false))} ms`,
    );
    if (values.trace) {
      const invites = done.flatMap((d) =>
        d.inviteToRinging.map((ms, i) => ({ at: d.inviteAt[i] as number, ms })),
      );
      const sorted = invites.map((i) => i.ms).sort((a, b) => a - b);
      let bulk = 0;
      const generatorStalls = done.flatMap((d) => {
        const name = d.calls > 0 ? 'calls generator' : `bulk generator ${bulk++}`;
        return d.stalls.map((st) => ({ ...st, what: `${name} ${st.what ?? 'stall'}` }));
      });
      await traceReport(
        server,
        dataDir,
        invites,
        generatorStalls,
        callsFrom,
        callsTo,
        Math.min(20, pct(sorted, 98)),
      );
    }
    const t1 = now();
    const cpu1 = procStat(pid).cpuSec;
    const inv = done.flatMap((d) => d.inviteToRinging).sort((a, b) => a - b);
    const acc = done.flatMap((d) => d.acceptToNotified).sort((a, b) => a - b);
    const inc = done.flatMap((d) => d.inviteToIncoming).sort((a, b) => a - b);
    const callFailures = done.reduce((n, d) => n + d.failures, 0);
    const serverCpuPct = ((cpu1 - cpu0) / ((t1 - t0) / 1000)) * 100;
    log(`${inv.length} calls rang, ${acc.length} accepted, ${callFailures} failed`);
    log(
      `invite→ringing p50 ${r1(pct(inv, 50))} ms, p99 ${r1(pct(inv, 99))} ms (ratio to ping baseline p50: ${r1(pct(inv, 50) / pct(baseline, 50))}×)`,
    );
    log(
      `  of which invite→incoming at the callee p50 ${r1(pct(inc, 50))} ms, p99 ${r1(pct(inc, 99))} ms`,
    );
    log(`accept→both notified p50 ${r1(pct(acc, 50))} ms, p99 ${r1(pct(acc, 99))} ms`);
    log(`server CPU ${r1(serverCpuPct)} % of one core over ${Math.round((t1 - t0) / 1000)} s`);
    log(
      `targets: p99 invite→ringing ≤ 20 ms: ${pct(inv, 99) <= 20 ? 'met' : 'NOT met'}; ≤ 30 kB/client: ${rssPerClientKB <= 30 ? 'met' : 'NOT met'}; list complete ≤ 5 s: ${presenceCompleteMs <= 5000 ? 'met' : 'NOT met'}`,
    );
    if (values.json) {
      console.log(
        JSON.stringify({
          clients: CLIENTS - failures,
          connectAllMs: Math.round(connectAllMs),
          presenceCompleteMs: Number.isNaN(presenceCompleteMs)
            ? null
            : Math.round(presenceCompleteMs),
          inviteToRingingP50Ms: r1(pct(inv, 50)),
          inviteToRingingP99Ms: r1(pct(inv, 99)),
          acceptToNotifiedP99Ms: r1(pct(acc, 99)),
          rssPerClientKB: r1(rssPerClientKB),
          serverCpuPct: r1(serverCpuPct),
          // Diagnostics of the calls phase (see the log lines).
          serverLoopLagMaxMs: r1(after.loopLagMaxMs),
          serverGcMs: r1(after.gcMs - before.gcMs),
          serverScavenges: after.scavenges - before.scavenges,
          generatorLoopLagMaxMs: r1(lagOf(true)),
          bulkGeneratorLoopLagMaxMs: r1(lagOf(false)),
          otherProcessesCpuPct: r1(othersPct),
        }),
      );
    }
  } finally {
    for (const w of workers) {
      if (w.connected) w.send({ cmd: 'exit' });
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const w of workers) w.kill('SIGKILL');
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
