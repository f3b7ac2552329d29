/**
 * Interop with coturn's `turnutils_uclient` (Debian package coturn): our relay in bench mode with
 * TURN REST credentials (`-W secret`), UDP and TCP, client-to-client (`-y`), many clients (`-m`),
 * Send indications (`-s`), RFC 6062 TCP relay allocations (`-T`), and uclient's negative tests
 * (`-N`, `-R`). The relay forwards UDP with
 * the native forwarding thread (the default); src/turn/relay-*.integration.test.ts cover the dgram
 * fallback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTurnRelay } from '../../src/turn/index.ts';

const SECRET = 'uclient-secret';
const HAVE_UCLIENT = spawnSync('turnutils_uclient', ['-h']).error === undefined;

interface UclientResult {
  sent: number;
  received: number;
  lost: number;
  rttMs: number;
  output: string;
  code: number | null;
}

/** Runs uclient to completion (async, so the relay in this process keeps serving). */
function uclient(port: number, args: string[], timeoutMs = 45_000): Promise<UclientResult> {
  return new Promise((resolve) => {
    const child = spawn('turnutils_uclient', [
      '-W',
      SECRET,
      '-p',
      String(port),
      ...args,
      '127.0.0.1',
    ]);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(output);
      const lost = /Total lost packets (\d+)/.exec(output);
      const rtt = /Average round trip delay ([\d.]+) ms/.exec(output);
      resolve({
        sent: Number(totals?.[1] ?? -1),
        received: Number(totals?.[2] ?? -1),
        lost: Number(lost?.[1] ?? -1),
        rttMs: Number(rtt?.[1] ?? -1),
        output,
        code,
      });
    });
  });
}

test(
  'turnutils_uclient: UDP, TCP, -y, -s, -m 100, -N and TCP relays (-T) all pass with zero loss',
  { skip: !HAVE_UCLIENT, timeout: 90_000 },
  async () => {
    const warnings: string[] = [];
    const relay = await createTurnRelay({
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 55000, max: 57999 },
      secret: SECRET,
      bench: true,
      logger: { info() {}, warn: (_o, m) => warnings.push(m) },
    });
    // The UDP runs go through the addon's forwarding thread, not the dgram fallback.
    assert.equal(relay.forwarding, 'native');
    try {
      const runs: [string, string[], number][] = [
        // name, args, expected messages (clients × -n; -y pairs each client with another)
        ['udp -y', ['-y', '-n', '20'], 2 * 20],
        ['tcp -y', ['-t', '-y', '-n', '20'], 2 * 20],
        ['udp -y -s (Send/Data indications)', ['-y', '-s', '-n', '20'], 2 * 20],
        ['udp -y -m 100', ['-y', '-m', '100', '-n', '10'], 100 * 10],
        ['tcp -y -m 100', ['-t', '-y', '-m', '100', '-n', '10'], 100 * 10],
        ['udp -y -N (negative tests)', ['-y', '-N', '-n', '10'], -1],
        // RFC 6062 TCP relay allocations (-T implies -t -y -c): Connect, ConnectionAttempt and
        // ConnectionBind between two uclient clients.
        ['tcp relay -T', ['-T', '-n', '20'], 2 * 20],
        ['tcp relay -T -m 50', ['-T', '-m', '50', '-n', '10'], 50 * 10],
      ];
      const results = await Promise.all(runs.map(([, args]) => uclient(relay.port, args)));
      results.forEach((r, i) => {
        const [name, , expected] = runs[i]!;
        assert.equal(r.code, 0, `${name}: uclient exited ${r.code}\n${r.output.slice(-2000)}`);
        assert.equal(r.lost, 0, `${name}: lost packets\n${r.output.slice(-2000)}`);
        assert.ok(
          r.sent > 0 && r.received === r.sent,
          `${name}: sent ${r.sent}, received ${r.received}`,
        );
        // uclient counts RTP and RTCP sessions: at least the RTP messages must all be there.
        if (expected > 0)
          assert.ok(r.sent >= expected, `${name}: only ${r.sent} of ${expected} sent`);
        assert.ok(r.rttMs >= 0, `${name}: no RTT reported`);
      });
      assert.ok(relay.stats().packetsRelayed >= 2 * (40 + 40 + 40 + 1000 + 1000));
    } finally {
      await relay.close();
    }
  },
);

test(
  'turnutils_uclient -R (randomly corrupted packets): the relay survives and serves the next client',
  { skip: !HAVE_UCLIENT, timeout: 90_000 },
  async () => {
    const relay = await createTurnRelay({
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 58000, max: 58999 },
      secret: SECRET,
      bench: true,
    });
    try {
      // -R corrupts one message in ten on purpose, so some loss or even a failed allocation is
      // uclient's own doing; what matters is that our side answers or drops, never crashes.
      // uclient itself may hang after a corrupted Allocate (it does against coturn too), hence
      // the short timeout. The corrupted requests must show in the relay's counters (dropped as
      // malformed or refused with 400); turn-uclient-call.test.ts reads uclient's own totals.
      const dropped = (): number => relay.stats().malformed + (relay.stats().refusals['400'] ?? 0);
      const before = dropped();
      await Promise.all([
        uclient(relay.port, ['-y', '-R', '-n', '20'], 8_000),
        uclient(relay.port, ['-t', '-y', '-R', '-n', '20'], 8_000),
      ]);
      assert.ok(dropped() > before, `corrupted messages counted: ${JSON.stringify(relay.stats())}`);
      const clean = await uclient(relay.port, ['-y', '-n', '20']);
      assert.equal(clean.code, 0);
      assert.equal(clean.lost, 0);
      assert.equal(clean.received, clean.sent);
      assert.ok(clean.sent >= 40);
    } finally {
      await relay.close();
    }
  },
);

test(
  'turnutils_uclient against `parloir server --turn-bench` (the CLI wiring): UDP, TCP, -y, -m 100, zero loss',
  { skip: !HAVE_UCLIENT, timeout: 90_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parloir-turn-cli-'));
    const cli = resolve(import.meta.dirname, '../../../client/src/cli.ts');
    const server = spawn(process.execPath, [
      ...[cli, 'server', '--bind', '127.0.0.1', '--port', '0', '--insecure-http', '--no-web'],
      ...['--data-dir', dataDir, '--log-level', 'warn', '--turn-bench', '--turn-secret', SECRET],
      ...['--turn-port', '0', '--turn-relay-ports', '58000-58999'],
    ]);
    try {
      const port = await new Promise<number>((resolvePort, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no TURN port printed:\n${out}`)), 60_000);
        server.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /TURN relay on port (\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolvePort(Number(m[1]));
          }
        });
        server.on('exit', () => reject(new Error(`server exited:\n${out}`)));
      });
      const results = await Promise.all([
        uclient(port, ['-y', '-n', '20']),
        uclient(port, ['-t', '-y', '-n', '20']),
        uclient(port, ['-y', '-m', '100', '-n', '10']),
      ]);
      for (const r of results) {
        assert.equal(r.code, 0, r.output.slice(-2000));
        assert.equal(r.lost, 0, r.output.slice(-2000));
        assert.ok(r.sent >= 40 && r.received === r.sent, `sent ${r.sent}, received ${r.received}`);
      }
    } finally {
      server.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
