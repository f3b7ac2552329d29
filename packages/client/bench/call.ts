/**
 * `npm run bench:call [-- --json] [-- --cpu-seconds 30]`
 *
 * Every call runs the same C pipeline; only the network edge differs. Each figure is given for
 * the `direct` edge (C on the ICE socket, loopback pair) and the `relayed` one (both ends
 * relay-only through the built-in TURN relay: werift makes and opens the packets).
 *
 * 1. One-way latency: clicks (5 ms bursts, every 400 ms) are written into the caller's capture;
 *    the latency of each is the callee's playback device clock at the click's first loud sample
 *    minus the caller's capture device clock at the click's onset (both device clocks are
 *    anchored to the same monotonic clock). Probes from the C threads split it into capture
 *    (frame fill), encode (Opus + hand-off to the edge), network (edge to edge), jitter buffer
 *    (waiting for playout) and playback (from the pull to the sample's device time). Median over
 *    the clicks; direct at 10 and 20 ms frames, relayed at 10 ms. Baseline, measured in the same
 *    run: raw PCM in 10 ms frames over a plain UDP socket between paced devices (no codec, no
 *    SRTP, no buffer).
 * 2. CPU per client: a 30 s call between `parloir answer` and `parloir call` (separate
 *    processes, real server, 20 ms frames, 32 kbit/s, speech in, null out), direct and with
 *    `--relay`; process CPU seconds (/proc/PID/stat utime+stime) over wall seconds between
 *    "connected" and just before the hang-up, averaged over the two clients. Floor, measured in
 *    the same run and the same way: two bare Node processes (`udp-floor.ts`) exchanging a
 *    108-byte datagram every 20 ms each way from a timer.
 *
 * --json prints one object: latencyMs {direct {"10", "20"}, relayed {"10"}}, breakdownMs
 * {direct, relayed} (at 10 ms), cpuPctPerClient {direct, relayed}, cpuFloorPct, cpuRatio,
 * baselineMs and ratio (latency against the raw-UDP baseline). `--cpu-seconds 0` skips the CPU
 * part; `BENCH_DEBUG=1` prints per-click figures, the receiver's non-normal pulls and its
 * jitter-buffer state.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CallEngine } from '../src/engine/engine.ts';
import { openAudioDevice, startPlayout, writeWav } from '../src/audio/index.ts';
import { DeviceCapture, DevicePlayback } from '../src/engine/audio-devices.ts';
import { NativeCallPipeline } from '../src/engine/call-pipeline.ts';
import { MediaQualityModel } from '../src/engine/media-quality.ts';
import type { PeerTransport } from '../src/transport/peer-transport.ts';
import { createTurnRelay } from '../../server/src/turn/index.ts';
import { connectedPair } from '../test/helpers/pair.ts';
import { answerThenCall, waitForOutput, waitForStderr } from '../test/helpers/cli.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { makeSpeech } from '../test/helpers/speech.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'cpu-seconds': { type: 'string', default: '30' },
    clicks: { type: 'string', default: '12' },
  },
});
const RATE = 48;
const CLICK_EVERY_MS = 400;
const CLICK_MS = 5;
const THRESHOLD = 4000;
const clicks = Number(values.clicks);

/** Silence with a 5 ms 2 kHz burst every 400 ms, starting at 600 ms; onsets in samples. */
function clickTrack(): { pcm: Int16Array; onsets: number[] } {
  const total = (600 + clicks * CLICK_EVERY_MS + 1000) * RATE;
  const pcm = new Int16Array(total);
  const onsets: number[] = [];
  for (let k = 0; k < clicks; k++) {
    const start = (600 + k * CLICK_EVERY_MS) * RATE;
    onsets.push(start);
    for (let i = 0; i < CLICK_MS * RATE; i++) {
      pcm[start + i] = Math.round(20000 * Math.sin((2 * Math.PI * 2000 * i) / 48000));
    }
  }
  return { pcm, onsets };
}

/** The click track as a `wav:` device spec (real-time paced, device frame clock). */
function clickSpec(pcm: Int16Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-bench-clicks-'));
  const path = join(dir, 'clicks.wav');
  writeWav(path, { sampleRate: 48_000, channels: 1, samples: pcm });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return `wav:${path}`;
}

/** A connected pair: on loopback (`direct`), or both ends relay-only through the built-in TURN relay. */
async function pairFor(edge: 'direct' | 'relayed'): Promise<{
  pair: [PeerTransport, PeerTransport];
  close: () => Promise<void>;
}> {
  if (edge === 'direct') {
    const pair = await connectedPair();
    return { pair, close: async () => void (await Promise.all(pair.map((t) => t.close()))) };
  }
  // The built-in relay in its bench mode (loopback only, no call directory: any credential of
  // its secret may allocate), as bench:turn runs it.
  const relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    relayAddress: '127.0.0.1',
    port: 0,
    secret: randomBytes(16).toString('hex'),
    bench: true,
  });
  const pair = await connectedPair({
    iceServers: relay.iceServersFor('bench', 'bench', Date.now()),
    relayOnly: true,
  });
  return {
    pair,
    close: async () => {
      await Promise.all(pair.map((t) => t.close()));
      await relay.close();
    },
  };
}

/** Index of the latest click onset (device time) before `t`, or -1. */
function latestOnset(onsets: number[], captureStartMs: number, t: number): number {
  let k = -1;
  for (let i = 0; i < onsets.length; i++) {
    if (captureStartMs + (onsets[i] ?? 0) / RATE < t) k = i;
  }
  return k;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0
    ? Number.NaN
    : s.length % 2
      ? (s[m] ?? 0)
      : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

interface Breakdown {
  capture: number;
  encode: number;
  network: number;
  jitterBuffer: number;
  playback: number;
}

/** One latency run with our engine at `frameMs`, on a direct or relayed pair. */
async function engineLatency(
  frameMs: number,
  edge: 'direct' | 'relayed',
): Promise<{ total: number; breakdown: Breakdown }> {
  const { pcm, onsets } = clickTrack();
  const { pair, close } = await pairFor(edge);
  const [ta, tb] = pair;
  const capture = new DeviceCapture({ spec: clickSpec(pcm), frameSamples: frameMs * RATE });
  const playback = new DevicePlayback({ spec: 'null' });
  // A clean loopback needs no buffer floor; the paced devices run a 1 ms period (the lowest the
  // receiver takes: its queue is then the 1 ms minimum plus the 2 ms arrival margin).
  const settings = { frameMs, adapt: false, jbMinMs: 0, periodMs: 1 };
  // Per click k: times (performance.now, ms) along the path.
  const delivered = new Map<number, number>();
  const sent = new Map<number, number>();
  const received = new Map<number, number>();
  const pulled = new Map<number, number>();
  const played = new Map<number, number>();
  const clickOfFrame = (clock: number, len: number): number =>
    onsets.findIndex((o) => o >= clock && o < clock + len);
  let firstTs: number | undefined;
  let firstClock: number | undefined;
  const frameLen = frameMs * RATE;
  const sender = new CallEngine({
    pipeline: new NativeCallPipeline({
      transport: ta,
      capture,
      playback: new DevicePlayback({ spec: 'null' }),
    }),
    quality: new MediaQualityModel(),
    settings,
    probes: {
      captured(_p, clock, now) {
        firstClock ??= clock;
        const k = clickOfFrame(clock, frameLen);
        if (k >= 0) delivered.set(k, now);
      },
      sent(clock, now) {
        const k = clickOfFrame(clock, frameLen);
        if (k >= 0) sent.set(k, now);
      },
    },
  });
  let lastClick = -1;
  const receiver = new CallEngine({
    pipeline: new NativeCallPipeline({
      transport: tb,
      capture: new DeviceCapture({ spec: 'null', frameSamples: frameLen }),
      playback,
    }),
    quality: new MediaQualityModel(),
    settings,
    probes: {
      received(p, now) {
        firstTs ??= p.timestamp;
        const clock = ((p.timestamp - firstTs) >>> 0) + (firstClock ?? 0);
        const k = clickOfFrame(clock, frameLen);
        if (k >= 0) received.set(k, now);
      },
      played(out, clock, now, decision) {
        if (process.env.BENCH_DEBUG && decision !== 'normal') {
          console.error('pull', decision, Math.round(now - (playback.startedAtMs ?? 0)), clock);
        }
        for (let i = 0; i < out.length; i++) {
          if (Math.abs(out[i] ?? 0) > THRESHOLD) {
            const t = (playback.startedAtMs ?? 0) + (clock + i) / RATE;
            // The click this is: the latest onset before it (a lost click must not shift the
            // mapping); one detection per click.
            const k = latestOnset(onsets, capture.startedAtMs ?? 0, t);
            if (k > lastClick) {
              played.set(k, t);
              pulled.set(k, now);
              lastClick = k;
            }
            break;
          }
        }
      },
    },
  });
  receiver.start();
  sender.start();
  if (sender.edge !== edge) {
    throw new Error(`${edge} run on the ${sender.edge} edge`);
  }
  await sleep(600 + clicks * CLICK_EVERY_MS + 600);
  if (process.env.BENCH_DEBUG) console.error('jb', (await receiver.snapshotNow()).jitterBuffer);
  await Promise.all([sender.stop(), receiver.stop()]);
  await close();
  const totals: number[] = [];
  const parts: Breakdown[] = [];
  for (let k = 0; k < onsets.length; k++) {
    const onset = (capture.startedAtMs ?? 0) + (onsets[k] ?? 0) / RATE;
    const [d, s, r, p, y] = [delivered, sent, received, pulled, played].map((m) => m.get(k));
    if (d === undefined || s === undefined || r === undefined || p === undefined || y === undefined)
      continue;
    totals.push(y - onset);
    parts.push({
      capture: d - onset,
      encode: s - d,
      network: r - s,
      jitterBuffer: p - r,
      playback: y - p,
    });
  }
  const keys: (keyof Breakdown)[] = ['capture', 'encode', 'network', 'jitterBuffer', 'playback'];
  const breakdown = Object.fromEntries(
    keys.map((key) => [key, median(parts.map((x) => x[key]))]),
  ) as unknown as Breakdown;
  if (process.env.BENCH_DEBUG) console.error(frameMs, totals, parts);
  return { total: median(totals), breakdown };
}

/**
 * Baseline: raw PCM in 10 ms frames over a plain UDP socket between paced devices (`src/audio`'s
 * `wav:` capture and `null` playback in JavaScript, 5 ms period, two periods queued).
 */
async function baselineLatency(): Promise<number> {
  const { pcm, onsets } = clickTrack();
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const port = rx.address().port;
  const fifo: Int16Array[] = [];
  let offset = 0;
  rx.on('message', (m) =>
    fifo.push(new Int16Array(m.buffer.slice(m.byteOffset, m.byteOffset + m.byteLength))),
  );
  const times: number[] = [];
  let last = -1e9;
  const playback = openAudioDevice('null').openPlayback({
    sampleRate: 48_000,
    channels: 1,
    periodMs: 5,
    fillSilence: true,
  });
  const playout = startPlayout(playback, {
    frameSamples: 240,
    targetQueuedSamples: 240,
    pull: (out, clock) => {
      let w = 0;
      while (w < out.length && fifo.length > 0) {
        const head = fifo[0];
        if (head === undefined) break;
        const n = Math.min(out.length - w, head.length - offset);
        out.set(head.subarray(offset, offset + n), w);
        w += n;
        offset += n;
        if (offset === head.length) {
          fifo.shift();
          offset = 0;
        }
      }
      for (let i = 0; i < out.length; i++) {
        if (Math.abs(out[i] ?? 0) > THRESHOLD) {
          const t = (playback.startedAtMs ?? 0) + (clock + i) / RATE;
          if (t - last > CLICK_EVERY_MS / 2) {
            times.push(t);
            last = t;
          }
          break;
        }
      }
    },
  });
  const capture = openAudioDevice(clickSpec(pcm)).openCapture({
    sampleRate: 48_000,
    channels: 1,
    frameSamples: 10 * RATE,
    periodMs: 5,
    onFrame: (frame) => {
      tx.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), port, '127.0.0.1');
    },
  });
  await sleep(600 + clicks * CLICK_EVERY_MS + 600);
  playout.stop();
  capture.close();
  playback.close();
  rx.close();
  tx.close();
  const lat = times.flatMap((t) => {
    const k = latestOnset(onsets, capture.startedAtMs ?? 0, t);
    return k < 0 ? [] : [t - ((capture.startedAtMs ?? 0) + (onsets[k] ?? 0) / RATE)];
  });
  if (process.env.BENCH_DEBUG) console.error('baseline', lat, times.length);
  return median(lat);
}

/** utime+stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; USER_HZ is 100 on Linux
}

/** Samples the CPU of `pids` over `seconds` (after a 1 s warm-up), % of one core each. */
async function cpuOver(pids: number[], seconds: number): Promise<number[]> {
  await sleep(1000);
  const c0 = pids.map(cpuSeconds);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = pids.map(cpuSeconds);
  const wall = (performance.now() - t0) / 1000;
  return c1.map((c, i) => (100 * (c - (c0[i] ?? 0))) / wall);
}

/**
 * The floor: two bare Node processes exchanging one 108-byte datagram (an SRTP packet at
 * 32 kbit/s, 20 ms) per 20 ms each way from a timer, the I/O pattern of a call and nothing else.
 * Average CPU per process, measured as the clients are.
 */
async function cpuFloor(seconds: number): Promise<number> {
  const script = join(import.meta.dirname, 'udp-floor.ts');
  const kids = [0, 1].map(() => {
    const k = spawn(process.execPath, [script, '20', '108'], { stdio: 'pipe' });
    const out = { stdout: '', stderr: '' };
    k.stdout.on('data', (d: Buffer) => (out.stdout += d.toString('utf8')));
    k.stderr.on('data', (d: Buffer) => (out.stderr += d.toString('utf8')));
    return { k, out, exited: once(k, 'exit') };
  });
  try {
    const ports: number[] = [];
    for (const { out, k } of kids) {
      for (let i = 0; i < 400 && !/port=\d+/.test(out.stdout); i++) {
        if (k.exitCode !== null) throw new Error(`udp-floor exited: ${out.stderr}`);
        await sleep(25);
      }
      ports.push(Number(/port=(\d+)/.exec(out.stdout)?.[1]));
    }
    kids[0]?.k.stdin.write(`${ports[1]}\n`);
    kids[1]?.k.stdin.write(`${ports[0]}\n`);
    const pct = await cpuOver(
      kids.map(({ k }) => k.pid ?? 0),
      seconds,
    );
    for (const { k } of kids) k.stdin.end();
    await Promise.all(kids.map(({ exited }) => exited));
    // Each must have received about one datagram per 20 ms, or the floor is not the call's I/O.
    for (const { out } of kids) {
      const received = Number(/received=(\d+)/.exec(out.stderr)?.[1] ?? 0);
      if (received < (seconds * 1000 * 0.9) / 20) {
        throw new Error(`udp-floor received only ${received} datagrams: ${out.stderr}`);
      }
    }
    return pct.reduce((a, b) => a + b, 0) / pct.length;
  } finally {
    for (const { k } of kids) if (k.exitCode === null) k.kill();
  }
}

/** CPU per client of a CLI call, direct or with both ends relayed (`--relay`). */
async function cpuPerClient(seconds: number, relay: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-bench-'));
  const srv = await startTestServer(relay ? { turn: true } : {});
  try {
    const speech = makeSpeech(
      dir,
      's',
      'Measuring the processor time of a call that lasts half a minute.',
      seconds + 5,
    );
    const common = [
      '--server',
      srv.serverArg,
      '--host-address',
      '127.0.0.1',
      '--bitrate',
      '32k',
      '--frame-ms',
      '20',
      '--duration',
      String(seconds + 2),
      ...(relay ? ['--relay'] : []),
    ];
    const { alice, bob } = await answerThenCall({
      common,
      dir,
      bobIn: `wav:${speech}`,
      bobOut: 'null',
      aliceIn: `wav:${speech}`,
      aliceOut: 'null',
      timeoutMs: (seconds + 60) * 1000,
    });
    await waitForStderr(alice, /connected to bob/);
    await waitForOutput(bob, /connected to alice/, 'stderr');
    // The first second is skipped (jitter-buffer warm-up, first RTCP).
    const pct = await cpuOver([alice.child.pid ?? 0, bob.child.pid ?? 0], seconds);
    await Promise.all([alice.done, bob.done]);
    return pct.reduce((a, b) => a + b, 0) / pct.length;
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const direct10 = await engineLatency(10, 'direct');
const direct20 = await engineLatency(20, 'direct');
const relayed10 = await engineLatency(10, 'relayed');
const baseline = await baselineLatency();
// --cpu-seconds 0 skips the CPU measurement (latency only).
const cpuSecs = Number(values['cpu-seconds']);
const cpuDirect = cpuSecs > 0 ? await cpuPerClient(cpuSecs, false) : Number.NaN;
const cpuRelayed = cpuSecs > 0 ? await cpuPerClient(cpuSecs, true) : Number.NaN;
const floor = cpuSecs > 0 ? await cpuFloor(cpuSecs) : Number.NaN;
const round = (v: number): number => Math.round(v * 10) / 10;
const roundAll = (b: Breakdown): Record<string, number> =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, round(v as number)]));
const result = {
  latencyMs: {
    direct: { '10': round(direct10.total), '20': round(direct20.total) },
    relayed: { '10': round(relayed10.total) },
  },
  breakdownMs: { direct: roundAll(direct10.breakdown), relayed: roundAll(relayed10.breakdown) },
  cpuPctPerClient: { direct: round(cpuDirect), relayed: round(cpuRelayed) },
  cpuFloorPct: round(floor),
  cpuRatio: { direct: round(cpuDirect / floor), relayed: round(cpuRelayed / floor) },
  baselineMs: round(baseline),
  ratio: { direct: round(direct10.total / baseline), relayed: round(relayed10.total / baseline) },
};
if (values.json) console.log(JSON.stringify(result));
else {
  const l = result.latencyMs;
  console.log(
    `one-way latency, 10 ms frames: direct ${l.direct['10']} ms, relayed ${l.relayed['10']} ms (target ≤ 25 ms)`,
  );
  console.log(`one-way latency, 20 ms frames, direct: ${l.direct['20']} ms`);
  for (const edge of ['direct', 'relayed'] as const) {
    console.log(
      `  breakdown at 10 ms, ${edge}: ${Object.entries(result.breakdownMs[edge])
        .map(([k, v]) => `${k} ${v} ms`)
        .join(', ')}`,
    );
  }
  console.log(
    `baseline (raw PCM over UDP, paced devices): ${result.baselineMs} ms; ratio direct ${result.ratio.direct}×, relayed ${result.ratio.relayed}×`,
  );
  console.log(
    `CPU per client, ${values['cpu-seconds']} s call at 20 ms / 32 kbit/s: direct ${result.cpuPctPerClient.direct} %, relayed ${result.cpuPctPerClient.relayed} % of one core (target ≤ 2.5 %)`,
  );
  console.log(
    `  floor (bare Node, same datagram rate and size each way, no media): ${result.cpuFloorPct} %`,
  );
}
