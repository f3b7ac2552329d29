/**
 * Load generator process for bench/signaling.ts. Runs a slice of the simulated clients with a
 * minimal protocol client (ws + JSON.parse + a bitset of who is online) so thousands of
 * clients fit in one process; authentication is the real Ed25519 challenge-response.
 * Driven by the parent over IPC.
 */
import {
  PerformanceObserver,
  constants,
  monitorEventLoopDelay,
  type PerformanceEntry,
} from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { schedstat } from './schedstat.ts';
import {
  authSigningText,
  serverOriginName,
  generateIdentity,
  toBase64,
  userIdOf,
  type GeneratedIdentity,
} from '@parloir/protocol';

interface BenchClient {
  index: number;
  identity: GeneratedIdentity;
  userId: string;
  ws?: WebSocket;
  seen: Uint8Array;
  online: number;
  complete: boolean;
  nextId: number;
  onFrame?: (f: Record<string, unknown>) => void;
}

type ParentMsg =
  | { cmd: 'init'; count: number; offset: number }
  | { cmd: 'connect'; url: string; allIds: string[]; concurrency: number }
  | { cmd: 'calls'; calls: number; ratePerSec: number; holdMs: number }
  | { cmd: 'exit' };

const now = () => performance.timeOrigin + performance.now();
const PRESENCE_PREFIX = Buffer.from('{"type":"presence.');
const send = (m: object) => process.send?.(m);

let clients: BenchClient[] = [];
let indexOf = new Map<string, number>();
let total = 0;
let completeCount = 0;
let presenceReported = false;

function handleFrame(c: BenchClient, f: Record<string, unknown>): void {
  const mark = (id: unknown, on: boolean) => {
    const i = typeof id === 'string' ? indexOf.get(id) : undefined;
    if (i === undefined || i === c.index) return;
    if (on && !c.seen[i]) {
      c.seen[i] = 1;
      c.online++;
    } else if (!on && c.seen[i]) {
      c.seen[i] = 0;
      c.online--;
    }
  };
  if (f.type === 'presence.snapshot' && Array.isArray(f.users)) {
    for (const u of f.users as { userId: string }[]) mark(u.userId, true);
  } else if (f.type === 'presence.diff') {
    for (const u of (f.joined as { userId: string }[] | undefined) ?? []) mark(u.userId, true);
    for (const id of (f.left as string[] | undefined) ?? []) mark(id, false);
  }
  if (!c.complete && c.online === total - 1) {
    c.complete = true;
    completeCount++;
    if (completeCount === clients.length && !presenceReported) {
      presenceReported = true;
      send({ ev: 'presence-complete', at: now() });
    }
  }
  c.onFrame?.(f);
}

function connectOne(c: BenchClient, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The server's frames are not checked for valid UTF-8 (ws's per-frame cost; a bench).
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    c.ws = ws;
    let authed = false;
    ws.on('message', (data: Buffer) => {
      // Once every list here is complete, presence frames (in-call status changes) are no
      // longer measured: skip parsing them so the generator's CPU goes to the calls.
      if (presenceReported && data.subarray(0, PRESENCE_PREFIX.length).equals(PRESENCE_PREFIX))
        return;
      const f = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (!authed && f.type === 'hello') {
        const server = serverOriginName(url);
        const text = authSigningText(String(f.challenge), `b${c.index}`, server);
        c.identity.sign(new TextEncoder().encode(text)).then(
          (sig) =>
            ws.send(
              JSON.stringify({
                type: 'auth',
                id: c.nextId++,
                protocolVersion: 1,
                name: `b${c.index}`,
                publicKey: toBase64(c.identity.publicKey),
                signature: toBase64(sig),
                server,
              }),
            ),
          reject,
        );
        return;
      }
      if (!authed && f.type === 'result') {
        authed = true;
        resolve();
      } else if (!authed && f.type === 'error') reject(new Error(String(f.message)));
      handleFrame(c, f);
    });
    ws.on('error', reject);
    ws.on('close', (code) => {
      if (!authed) reject(new Error(`closed ${code}`));
    });
  });
}

async function connectAll(url: string, concurrency: number): Promise<void> {
  let next = 0;
  const failures: string[] = [];
  const lane = async () => {
    while (next < clients.length) {
      const c = clients[next++] as BenchClient;
      try {
        await connectOne(c, url);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  send({ ev: 'connected', at: now(), failures: failures.length, firstFailure: failures[0] });
}

function request(c: BenchClient, type: string, fields: object): void {
  c.ws?.send(JSON.stringify({ ...fields, type, id: c.nextId++ }));
}

async function runCalls(calls: number, ratePerSec: number, holdMs: number): Promise<void> {
  const inviteToRinging: number[] = [];
  const inviteToIncoming: number[] = [];
  /** Wall-clock send time (Unix ms) of each invite, in the order of inviteToRinging. */
  const inviteAt: number[] = [];
  // This process's own stalls (GC, bursts of frames) during the calls: part of every latency.
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  // ...and when: stalls ≥ 4 ms of a 2 ms timer, wall clock (Unix ms), for --trace.
  const stalls: { at: number; ms: number; what?: string }[] = [];
  let lastTick = now();
  // This generator's GC pauses ≥ 2 ms (a major GC of its thousands of clients stalls it).
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[])
      if (e.duration >= 2 && stalls.length < 10_000)
        stalls.push({
          at: performance.timeOrigin + e.startTime,
          ms: e.duration,
          what: e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR ? 'gc-major' : 'gc',
        });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  // With the split of each stall into this thread's time on a CPU and time waiting for one.
  let lastSched = schedstat();
  const stallTimer = setInterval(() => {
    const t = now();
    const sched = schedstat();
    if (t - lastTick - 2 >= 4 && stalls.length < 10_000)
      stalls.push({
        at: lastTick + 2,
        ms: t - lastTick - 2,
        what: `stall (on CPU ${(sched.runMs - lastSched.runMs).toFixed(1)} ms, waiting for a CPU ${(sched.waitMs - lastSched.waitMs).toFixed(1)} ms)`,
      });
    lastTick = t;
    lastSched = sched;
  }, 2);
  const acceptToNotified: number[] = [];
  let failures = 0;
  const one = (caller: BenchClient, callee: BenchClient) =>
    new Promise<void>((resolve) => {
      let tInvite = 0;
      let tAccept = 0;
      let notified = 0;
      const timer = setTimeout(() => {
        failures++;
        finish();
      }, 10_000);
      const finish = () => {
        clearTimeout(timer);
        caller.onFrame = undefined;
        callee.onFrame = undefined;
        resolve();
      };
      const bothNotified = () => {
        if (++notified < 2) return;
        acceptToNotified.push(now() - tAccept);
        const callId = lastCallId;
        request(caller, 'call.hangup', { callId });
      };
      let lastCallId = '';
      caller.onFrame = (f) => {
        if (f.type === 'call.ringing') {
          inviteToRinging.push(now() - tInvite);
          inviteAt.push(tInvite);
        } else if (f.type === 'call.accepted') bothNotified();
        else if (f.type === 'call.ended') finish();
        else if (f.type === 'error') {
          failures++;
          finish();
        }
      };
      callee.onFrame = (f) => {
        if (f.type === 'call.incoming') {
          inviteToIncoming.push(now() - tInvite);
          lastCallId = String(f.callId);
          request(callee, 'call.ring', { callId: f.callId });
          // Answer a moment after ringing, like a person would (not measured).
          setTimeout(() => {
            tAccept = now();
            request(callee, 'call.accept', { callId: lastCallId });
          }, 20);
        } else if (f.type === 'call.accepted') bothNotified();
      };
      tInvite = now();
      request(caller, 'call.invite', { to: callee.userId });
    });
  const pending: Promise<void>[] = [];
  const gapMs = 1000 / ratePerSec;
  const start = now();
  for (let i = 0; i < calls; i++) {
    const caller = clients[2 * i];
    const callee = clients[2 * i + 1];
    if (!caller || !callee) break;
    const due = start + i * gapMs;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(caller, callee));
  }
  await Promise.all(pending);
  // A generator without calls watches its own stalls while the others call.
  if (calls === 0) await new Promise((r) => setTimeout(r, holdMs));
  lag.disable();
  clearInterval(stallTimer);
  gcObserver.disconnect();
  send({
    ev: 'calls-done',
    calls,
    inviteToRinging,
    inviteToIncoming,
    inviteAt,
    acceptToNotified,
    failures,
    loopLagMaxMs: lag.max / 1e6,
    stalls,
  });
}

process.on('message', (m: ParentMsg) => {
  if (m.cmd === 'init') {
    void (async () => {
      const list: BenchClient[] = [];
      for (let i = 0; i < m.count; i++) {
        const identity = await generateIdentity();
        list.push({
          index: m.offset + i,
          identity,
          userId: await userIdOf(identity.publicKey),
          seen: new Uint8Array(0),
          online: 0,
          complete: false,
          nextId: 1,
        });
      }
      clients = list;
      send({ ev: 'ids', ids: list.map((c) => c.userId), offset: m.offset });
    })();
  } else if (m.cmd === 'connect') {
    total = m.allIds.length;
    indexOf = new Map(m.allIds.map((id, i) => [id, i]));
    for (const c of clients) c.seen = new Uint8Array(total);
    void connectAll(m.url, m.concurrency);
  } else if (m.cmd === 'calls') {
    void runCalls(m.calls, m.ratePerSec, m.holdMs);
  } else {
    for (const c of clients) c.ws?.terminate();
    process.exit(0);
  }
});
send({ ev: 'up' });
