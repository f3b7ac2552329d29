/**
 * Interop with coturn's `turnutils_uclient` using call-scoped credentials: a real server with our
 * relay (not `--turn-bench`, which accepts any credential made with the secret), two users in a
 * real call, and uclient given the `username` / `credential` that `call.accepted` handed each of
 * them over signalling, as a client gets them. Asserted from uclient's own output:
 *
 * - with a party's credentials, UDP and TCP client-to-client runs pass with zero loss;
 * - `-R` (uclient corrupts some of its own messages on purpose): the relay drops or refuses the
 *   corrupted ones, allocates for the rest, relays what uclient sends, and then serves a clean run;
 * - `-N` (uclient's negative tests) passes;
 * - a wrong password, and the call's own credentials once the call has ended, are refused: no
 *   allocation, nothing sent, and the relay counts the 401s.
 *
 * uclient `-y` pairs two allocations made with the same credentials with each other. The call
 * rule lets an allocation reach only the *other* party of the call, so these runs need the
 * relay's `allowLoopbackPeers` test option; credentials are still checked against the live call.
 * The strict peer rule is covered with werift (turn-werift.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { IceServer } from '@parloir/protocol';
import { createTurnRelay, type TurnRelay } from '../../src/turn/index.ts';
import { connectUser, next, startTestServer, until } from '../helpers.ts';

const HAVE_UCLIENT = spawnSync('turnutils_uclient', ['-h']).error === undefined;

/** What uclient printed, read back. */
interface UclientRun {
  /** Exit code (null when we had to kill it). */
  code: number | null;
  /** Whether we killed it (it reached its totals and hung, as it does after `-R`). */
  killed: boolean;
  /** Relayed addresses it reported ("Received relay addr"). */
  relayAddrs: number;
  /** Last progress totals (`tot_send_msgs`, `tot_recv_msgs`), -1 if none printed. */
  sent: number;
  received: number;
  /** "Total lost packets", -1 if not printed. */
  lost: number;
  output: string;
}

function parseTotals(output: string): { sent: number; received: number } {
  const all = [...output.matchAll(/tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)];
  const last = all.at(-1);
  return { sent: Number(last?.[1] ?? -1), received: Number(last?.[2] ?? -1) };
}

/**
 * Runs uclient (verbose, so it prints each relayed address) against 127.0.0.1:`port` with a TURN
 * username and password. With `stopWhenStuck`, a run that does not exit by itself is stopped once
 * its totals have held for two progress lines (one a second), or once it has printed nothing for
 * `stopWhenStuck` ms: after `-R` corrupts a request, uclient can wait for an answer for ever (it
 * does against coturn too). `timeoutMs` bounds every run.
 */
function uclient(
  port: number,
  cred: { username: string; credential: string },
  args: string[],
  opts: { stopWhenStuck?: number; timeoutMs?: number } = {},
): Promise<UclientRun> {
  return new Promise((resolve) => {
    const child = spawn('turnutils_uclient', [
      ...['-v', '-u', cred.username, '-w', cred.credential, '-p', String(port)],
      ...args,
      '127.0.0.1',
    ]);
    let output = '';
    let killed = false;
    let stableLines = 0;
    let lastTotals = '';
    const stop = (): void => {
      killed = true;
      child.kill('SIGKILL');
    };
    let idle: ReturnType<typeof setTimeout> | undefined;
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (opts.stopWhenStuck === undefined || killed) return;
      clearTimeout(idle);
      idle = setTimeout(stop, opts.stopWhenStuck);
      const t = parseTotals(output);
      const key = `${t.sent}/${t.received}`;
      if (t.sent > 0 && key === lastTotals) stableLines++;
      else stableLines = 0;
      lastTotals = key;
      if (stableLines >= 2) stop();
    };
    if (opts.stopWhenStuck !== undefined) idle = setTimeout(stop, opts.stopWhenStuck);
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(stop, opts.timeoutMs ?? 45_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(idle);
      const t = parseTotals(output);
      const lost = /Total lost packets (\d+)/.exec(output);
      resolve({
        code,
        killed,
        relayAddrs: output.match(/Received relay addr/g)?.length ?? 0,
        sent: t.sent,
        received: t.received,
        lost: Number(lost?.[1] ?? -1),
        output,
      });
    });
  });
}

/** The TURN credentials of a `call.accepted` (the `turn:` entry). */
function turnCredential(servers: IceServer[]): { username: string; credential: string } {
  const s = servers.find((x) => x.urls.some((u) => u.startsWith('turn:')));
  assert.ok(s?.username !== undefined && s.credential !== undefined, 'no TURN credential');
  return { username: s.username, credential: s.credential };
}

test(
  'turnutils_uclient with the credentials of a real call: UDP and TCP pass, -R and -N are read back, a wrong password and an ended call are refused',
  { skip: !HAVE_UCLIENT, timeout: 180_000 },
  async (t) => {
    let relay: TurnRelay | undefined;
    const ref: { partiesOf?: (id: string) => readonly [string, string] | undefined } = {};
    relay = await createTurnRelay({
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 54000, max: 54999 },
      secret: 'uclient-call-secret',
      calls: { partiesOf: (id) => ref.partiesOf?.(id) },
      allowLoopbackPeers: true,
      // -R runs stopped while stuck leave their allocations until they expire.
      maxAllocationsPerUser: 64,
      maxAllocationsPerCall: 128,
      logger: { info() {}, warn() {} },
    });
    const server = await startTestServer({ relay });
    ref.partiesOf = (id) => server.core.partiesOf(id);
    const alice = await connectUser(server, 'alice-uclient');
    const bob = await connectUser(server, 'bob-uclient');
    try {
      // A real call: invite, accept, and the credentials each side gets with call.accepted.
      const incoming = next(bob.session, 'incomingCall');
      const accA = next(alice.session, 'callAccepted');
      const accB = next(bob.session, 'callAccepted');
      const callId = await alice.session.invite(bob.userId);
      await incoming;
      await bob.session.accept();
      const [ca, cb] = await Promise.all([accA, accB]);
      const credA = turnCredential(ca.iceServers);
      const credB = turnCredential(cb.iceServers);
      assert.match(credA.username, new RegExp(`^\\d+:${callId}:${alice.userId}$`));
      assert.match(credB.username, new RegExp(`^\\d+:${callId}:${bob.userId}$`));
      const port = relay.port;

      // Clean runs, one per party (each uclient -y run makes at least 4 allocations: 2 clients ×
      // RTP and RTCP; uclient sometimes reports one twice; a party may hold 8).
      const [udp, tcp] = await Promise.all([
        uclient(port, credA, ['-y', '-n', '20']),
        uclient(port, credB, ['-t', '-y', '-n', '20']),
      ]);
      for (const [name, r] of [
        ['udp', udp],
        ['tcp', tcp],
      ] as const) {
        const tail = r.output.slice(-2000);
        assert.equal(r.code, 0, `${name}: uclient exited ${r.code}\n${tail}`);
        assert.ok(r.relayAddrs >= 4, `${name}: ${r.relayAddrs} relayed addresses\n${tail}`);
        assert.equal(r.sent, 4 * 20, `${name}: messages sent\n${tail}`);
        assert.equal(r.received, r.sent, `${name}: messages received\n${tail}`);
        assert.equal(r.lost, 0, `${name}: lost\n${tail}`);
      }

      // -R: uclient corrupts some of its own requests and data on purpose. Our relay must drop
      // or refuse the corrupted requests (RFC 8489 §6.3: a malformed message is discarded) and
      // serve the rest. uclient often then waits for ever for the answer to a dropped request,
      // so three runs go at once and are read together: the relay saw corrupted messages, the
      // runs got relayed addresses, and any run that reached its data got at least half of its
      // messages back (the corrupted ones are its loss; over TCP one bad length can also cost
      // the messages framed behind it: 60 of 80 seen). The -N run of uclient's negative tests
      // passes with zero loss.
      const droppedBefore = relay.stats().malformed + (relay.stats().refusals['400'] ?? 0);
      const stuck = { stopWhenStuck: 3000, timeoutMs: 40_000 };
      const [negative, ...corrupt] = await Promise.all([
        uclient(port, credB, ['-y', '-N', '-n', '10']),
        uclient(port, credA, ['-y', '-R', '-n', '20'], stuck),
        uclient(port, credB, ['-y', '-R', '-n', '20'], stuck),
        uclient(port, credA, ['-t', '-y', '-R', '-n', '20'], stuck),
      ]);
      const dropped =
        relay.stats().malformed + (relay.stats().refusals['400'] ?? 0) - droppedBefore;
      for (const r of corrupt) {
        t.diagnostic(
          `-R: ${r.relayAddrs} relayed addresses, sent ${r.sent}, received ${r.received}` +
            (r.killed ? ' (stopped: stuck)' : ` (exit ${r.code})`),
        );
      }
      t.diagnostic(`-R: the relay dropped or refused ${dropped} corrupted messages`);
      const rTail = corrupt.map((r) => r.output.slice(-1000)).join('\n----\n');
      assert.ok(dropped > 0, `the relay saw no corrupted message\n${rTail}`);
      assert.ok(
        corrupt.some((r) => r.relayAddrs > 0),
        `no -R run got an allocation\n${rTail}`,
      );
      for (const r of corrupt.filter((x) => x.sent > 0)) {
        assert.ok(
          r.received >= 0.5 * r.sent && r.received > 0,
          `-R: ${r.received} of ${r.sent} came back\n${rTail}`,
        );
      }
      const nTail = negative.output.slice(-2000);
      assert.equal(negative.code, 0, `-N: exit ${negative.code}\n${nTail}`);
      assert.ok(negative.sent >= 20 && negative.received === negative.sent, `-N\n${nTail}`);
      assert.equal(negative.lost, 0, `-N: lost\n${nTail}`);

      // Still serving after -R: a clean run with bob's credentials.
      const after = await uclient(port, credB, ['-y', '-n', '10']);
      assert.equal(after.code, 0, after.output.slice(-2000));
      assert.equal(after.received, after.sent);
      assert.equal(after.sent, 4 * 10);

      // A wrong password for a live call's username: refused.
      const refusedBefore = relay.stats().refusals['401'] ?? 0;
      const wrong = await uclient(
        port,
        { username: credB.username, credential: 'not-the-password' },
        ['-y', '-n', '5'],
        { timeoutMs: 20_000 },
      );
      assert.equal(wrong.relayAddrs, 0, `wrong password allocated\n${wrong.output.slice(-2000)}`);
      assert.ok(wrong.sent <= 0, `wrong password sent ${wrong.sent}`);
      assert.ok((relay.stats().refusals['401'] ?? 0) > refusedBefore, 'relay counted a 401');

      // The call ends: its (unexpired, correctly signed) credentials no longer allocate.
      const endedA = next(alice.session, 'callEnded');
      await bob.session.hangup();
      await endedA;
      await until(() => server.core.partiesOf(callId) === undefined, 3000, 'call gone');
      const refusedBeforeEnd = relay.stats().refusals['401'] ?? 0;
      const late = await uclient(port, credA, ['-y', '-n', '5'], { timeoutMs: 20_000 });
      assert.equal(late.relayAddrs, 0, `ended call allocated\n${late.output.slice(-2000)}`);
      assert.ok(late.sent <= 0, `ended call sent ${late.sent}`);
      assert.ok(
        (relay.stats().refusals['401'] ?? 0) > refusedBeforeEnd,
        `relay counted a 401 for the ended call: ${JSON.stringify(relay.stats().refusals)}`,
      );
    } finally {
      alice.client.close();
      bob.client.close();
      await server.cleanup();
      await relay.close();
      relay = undefined;
    }
  },
);
