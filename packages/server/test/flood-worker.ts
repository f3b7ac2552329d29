/**
 * The flooder of flood.integration.test.ts, in its own process at the lowest CPU priority (the
 * attacker's CPU is not the server's; on a shared 2-core test box a busy flooder beside the server
 * would otherwise measure the scheduler, not the server): one identity, from its own address, opens as many connections as the
 * server allows and sends chat messages, call invites and pings as fast as its sockets take them
 * for `seconds`, reconnecting whenever the server closes a connection. It reports every answer
 * by code. Bounded: at most `connections` sockets, 64 requests in flight each, `seconds` long.
 */
import { generateIdentity, SignalingError } from '@parloir/protocol';
import { SignalingClient } from '../../client/src/signaling/index.ts';

interface FloodInput {
  url: string;
  /** Address the flooder connects from (another loopback address than the users'). */
  localAddress: string;
  /** Connections to try to hold open. */
  connections: number;
  /** How long to flood, s. */
  seconds: number;
  /** The user the flooder writes to and calls. */
  victimId: string;
}

/** What the flooder saw. */
export interface FloodReport {
  /** Answers by code: 'ok' for results, the error code otherwise. */
  answers: Record<string, number>;
  /** Connections that reached 'ready'. */
  logins: number;
  /** Connection attempts refused or failed before login, by error code or message. */
  refusedConnects: Record<string, number>;
  /** Requests sent. */
  sent: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as FloodInput;
const report: FloodReport = { answers: {}, logins: 0, refusedConnects: {}, sent: 0 };
const count = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
const deadline = Date.now() + input.seconds * 1000;
const identity = await generateIdentity();

async function oneSlot(slot: number): Promise<void> {
  let n = 0;
  while (Date.now() < deadline) {
    const client = new SignalingClient({
      url: input.url,
      identity,
      name: 'flooder',
      reconnect: false,
      localAddress: input.localAddress,
      session: { requestTimeoutMs: 5000 },
    });
    try {
      await client.connect({ untilReady: true });
      report.logins++;
    } catch (err) {
      count(
        report.refusedConnects,
        err instanceof SignalingError ? err.code : String(err).slice(0, 60),
      );
      client.close();
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    let open = true;
    const off = client.session.on('connection', (s) => {
      if (s.kind === 'disconnected') open = false;
    });
    const inFlight = new Set<Promise<void>>();
    while (open && Date.now() < deadline) {
      const kind = n++ % 3;
      const p = (
        kind === 0
          ? client.session.sendChat(input.victimId, `flood ${slot}/${n} ${'x'.repeat(200)}`)
          : kind === 1
            ? client.session.request('call.invite', { to: input.victimId })
            : client.session.request('ping', {})
      ).then(
        () => void count(report.answers, 'ok'),
        (err: unknown) =>
          void count(report.answers, err instanceof SignalingError ? err.code : 'other'),
      );
      report.sent++;
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= 64) await Promise.race(inFlight);
      // Yield to the socket now and then so answers are read while sending.
      if (n % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.race([Promise.allSettled(inFlight), new Promise((r) => setTimeout(r, 1000))]);
    off();
    client.close();
  }
}

await Promise.all(Array.from({ length: input.connections }, (_, i) => oneSlot(i)));
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
