/**
 * bench:turn — coturn and our relay side by side under the same `turnutils_uclient -y` load.
 *
 *   npm run bench:turn [-- --json] [--clients 200] [--pps 50] [--bytes 172] [--seconds 20]
 *                      [--rounds 1] [--forwarding native|dgram] [--compare-dgram]
 *
 * Both servers run on loopback as their own processes (ours in bench mode, coturn with an
 * equivalent config: use-auth-secret, static-auth-secret, no TLS/DTLS, a relay port range,
 * allow-loopback-peers, no CLI, temp log and pid files). For each: packets relayed end to end
 * (uclient's received count), loss, uclient's average RTT, the server's CPU seconds from
 * /proc/PID/stat (utime + stime, all threads) and µs of CPU per relayed packet. The ratio is
 * ours / coturn in µs per packet: below 1.0 means we spend less CPU per packet.
 *
 * `--forwarding` picks how our relay forwards UDP (default `native`: the addon's forwarding
 * thread; `dgram`: Node sockets, the fallback). `--compare-dgram` adds a third server, our relay
 * with `dgram`, measured in the same rounds, so before and after come from one run; `--json` then
 * also prints `dgramRatio` (parloir-dgram / coturn).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    clients: { type: 'string', default: '200' },
    pps: { type: 'string', default: '50' },
    bytes: { type: 'string', default: '172' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '1' },
    'serve-ours': { type: 'string' },
    'relay-ports': { type: 'string' },
    secret: { type: 'string' },
    forwarding: { type: 'string', default: 'native' },
    'compare-dgram': { type: 'boolean', default: false },
  },
});
if (values.forwarding !== 'native' && values.forwarding !== 'dgram') {
  throw new Error(`--forwarding must be native or dgram, not ${values.forwarding}`);
}

/** One server's figures, as `--json` prints them. */
interface ServerResult {
  name: string;
  /** Packets relayed end to end (received by uclient clients). */
  packets: number;
  /** Lost packets, % of sent. */
  lossPct: number;
  /** uclient's average round trip, ms. */
  rttMs: number;
  /** Server CPU time, user + system, s. */
  cpuSeconds: number;
  /** CPU per relayed packet, µs. */
  cpuUsPerPacket: number;
}

function log(line: string): void {
  if (!values.json) console.log(line);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

/** utime + stime of a process (all its threads), seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces and is wrapped in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resolves once a STUN Binding to 127.0.0.1:port is answered. */
async function waitStun(port: number, timeoutMs: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(req, 8);
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`no STUN answer on ${port}`)), timeoutMs);
      const timer = setInterval(() => sock.send(req, port, '127.0.0.1'), 100);
      sock.once('message', () => {
        clearTimeout(deadline);
        clearInterval(timer);
        resolve();
      });
      sock.send(req, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

interface Uclient {
  sent: number;
  received: number;
  lost: number;
  rttMs: number;
}

function runUclient(port: number, secret: string): Promise<Uclient> {
  const pps = Number(values.pps);
  const args = [
    '-y',
    '-m',
    values.clients,
    '-z',
    String(Math.round(1000 / pps)),
    '-l',
    values.bytes,
    '-n',
    String(Math.round(pps * Number(values.seconds))),
    '-W',
    secret,
    '-p',
    String(port),
    '127.0.0.1',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('turnutils_uclient', args);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (Number(values.seconds) + 120) * 1000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
      const lost = /Total lost packets (\d+)/.exec(out);
      const rtt = /Average round trip delay ([\d.]+) ms/.exec(out);
      if (!totals || !lost || !rtt) {
        reject(new Error(`uclient output not understood:\n${out.slice(-1500)}`));
        return;
      }
      resolve({
        sent: Number(totals[1]),
        received: Number(totals[2]),
        lost: Number(lost[1]),
        rttMs: Number(rtt[1]),
      });
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

async function startOurs(
  port: number,
  secret: string,
  forwarding: string,
  relayPorts: string,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      import.meta.filename,
      '--serve-ours',
      String(port),
      '--relay-ports',
      relayPorts,
      '--secret',
      secret,
      '--forwarding',
      forwarding,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`our relay exited (${code})`)));
  });
  return child;
}

async function startCoturn(port: number, secret: string, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'turnserver',
    [
      '-n',
      '--listening-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--relay-ip=127.0.0.1',
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=parloir',
      '--no-tls',
      '--no-dtls',
      '--min-port=28000',
      '--max-port=31999',
      '--allow-loopback-peers',
      '--no-cli',
      `--log-file=${join(dir, 'turnserver.log')}`,
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      '--simple-log',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitStun(port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

async function measure(
  name: string,
  child: ChildProcess,
  port: number,
  secret: string,
): Promise<ServerResult> {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: no pid`);
  const before = cpuSeconds(pid);
  const started = performance.now();
  const u = await runUclient(port, secret);
  const cpu = cpuSeconds(pid) - before;
  log(
    `${name}: ${u.received}/${u.sent} packets in ${((performance.now() - started) / 1000).toFixed(1)} s, ` +
      `lost ${u.lost}, rtt ${u.rttMs.toFixed(3)} ms, cpu ${cpu.toFixed(2)} s`,
  );
  return {
    name,
    packets: u.received,
    lossPct: u.sent > 0 ? (u.lost / u.sent) * 100 : 100,
    rttMs: u.rttMs,
    cpuSeconds: cpu,
    cpuUsPerPacket: u.received > 0 ? (cpu * 1e6) / u.received : Infinity,
  };
}

function add(a: ServerResult | undefined, b: ServerResult): ServerResult {
  if (!a) return b;
  const packets = a.packets + b.packets;
  const cpu = a.cpuSeconds + b.cpuSeconds;
  return {
    name: a.name,
    packets,
    lossPct: (a.lossPct + b.lossPct) / 2,
    rttMs: (a.rttMs + b.rttMs) / 2,
    cpuSeconds: cpu,
    cpuUsPerPacket: packets > 0 ? (cpu * 1e6) / packets : Infinity,
  };
}

async function main(): Promise<void> {
  const secret = randomBytes(12).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'parloir-bench-turn-'));
  // Below the kernel's ephemeral range (32768+), so no outgoing connection can hold them.
  const oursPort = 20000 + Math.floor(Math.random() * 1000);
  const coturnPort = oursPort + 1000;
  log(
    `bench:turn — turnutils_uclient -y, ${values.clients} clients × ${values.pps} pkt/s × ` +
      `${values.bytes} B for ${values.seconds} s, ${values.rounds} round(s); CLK_TCK ${CLK_TCK}`,
  );
  const dgramPort = oursPort + 2000;
  const compare = values['compare-dgram'];
  let coturn: ChildProcess | undefined;
  let ours: ChildProcess | undefined;
  let oursDgram: ChildProcess | undefined;
  let coturnTotal: ServerResult | undefined;
  let oursTotal: ServerResult | undefined;
  let dgramTotal: ServerResult | undefined;
  try {
    coturn = await startCoturn(coturnPort, secret, dir);
    ours = await startOurs(oursPort, secret, values.forwarding, '24000-27999');
    if (compare) oursDgram = await startOurs(dgramPort, secret, 'dgram', '16000-19999');
    const name = values.forwarding === 'native' ? 'parloir' : 'parloir-dgram';
    for (let round = 0; round < Number(values.rounds); round++) {
      const steps: (() => Promise<void>)[] = [
        async () => {
          coturnTotal = add(coturnTotal, await measure('coturn', coturn!, coturnPort, secret));
        },
        async () => {
          oursTotal = add(oursTotal, await measure(name, ours!, oursPort, secret));
        },
      ];
      if (oursDgram) {
        steps.push(async () => {
          dgramTotal = add(
            dgramTotal,
            await measure('parloir-dgram', oursDgram!, dgramPort, secret),
          );
        });
      }
      // Alternate the order so no server always runs on a warmer (or busier) machine.
      if (round % 2 === 1) steps.reverse();
      for (const step of steps) await step();
    }
  } finally {
    await Promise.all([coturn && stop(coturn), ours && stop(ours), oursDgram && stop(oursDgram)]);
    rmSync(dir, { recursive: true, force: true });
  }
  const servers = [coturnTotal!, oursTotal!, ...(dgramTotal ? [dgramTotal] : [])];
  const ratio = oursTotal!.cpuUsPerPacket / coturnTotal!.cpuUsPerPacket;
  const dgramRatio = dgramTotal
    ? dgramTotal.cpuUsPerPacket / coturnTotal!.cpuUsPerPacket
    : undefined;
  if (values.json) {
    console.log(
      JSON.stringify({ servers, ratio, ...(dgramRatio !== undefined ? { dgramRatio } : {}) }),
    );
    return;
  }
  console.log('');
  console.log('server           packets   loss %   rtt ms   cpu s   µs cpu/packet');
  for (const s of servers) {
    console.log(
      `${s.name.padEnd(15)} ${String(s.packets).padStart(8)} ${s.lossPct.toFixed(3).padStart(8)} ` +
        `${s.rttMs.toFixed(3).padStart(8)} ${s.cpuSeconds.toFixed(2).padStart(7)} ${s.cpuUsPerPacket.toFixed(2).padStart(15)}`,
    );
  }
  console.log(
    `ratio ${oursTotal!.name}/coturn (µs CPU per packet): ${ratio.toFixed(3)} (target ≤ 1.0)`,
  );
  if (dgramRatio !== undefined) {
    console.log(`ratio parloir-dgram/coturn (µs CPU per packet): ${dgramRatio.toFixed(3)}`);
  }
}

async function serveOurs(): Promise<void> {
  // Child mode: our relay in its own process so its CPU can be read from /proc.
  const { createTurnRelay } = await import('../src/turn/index.ts');
  const [min, max] = (values['relay-ports'] ?? '49152-65535').split('-').map(Number);
  const relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    relayAddress: '127.0.0.1',
    port: Number(values['serve-ours']),
    relayPorts: { min: min ?? 49152, max: max ?? 65535 },
    secret: values.secret ?? '',
    bench: true,
    maxAllocations: 100_000,
    requestsPerSecPerIp: 1_000_000,
    nativeForwarding: values.forwarding === 'native',
  });
  if (relay.forwarding !== values.forwarding) {
    throw new Error(`asked for ${values.forwarding} forwarding, got ${relay.forwarding}`);
  }
  process.stdout.write(`READY ${relay.port}\n`);
  process.on('SIGTERM', () => {
    void relay.close().then(() => process.exit(0));
  });
}

if (values['serve-ours'] !== undefined) await serveOurs();
else await main();
