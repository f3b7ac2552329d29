/**
 * `parloir netem`: a UDP proxy that impairs traffic in both directions (loss, burst loss,
 * jitter, reordering, duplication, spikes, route changes, clock drift) with a seeded generator,
 * so end-to-end tests and demos can reproduce bad networks. Runs until SIGINT/SIGTERM, then
 * prints the counters.
 */
import { createInterface } from 'node:readline';
import type { Command, ParsedArgs } from '../command.ts';
import { stringOpt } from '../command.ts';
import { ClientError } from '../errors.ts';
import { NetemProxy } from '../netem/proxy.ts';
import {
  IMPAIRMENT_OPTIONS,
  impairmentFromValues,
  parseControlLine,
  parseDirection,
  parseDurationMs,
  parseHostPort,
} from '../netem/spec.ts';

const usage = `Usage: parloir netem --listen HOST:PORT --to HOST:PORT [impairments]

Forwards UDP datagrams sent to --listen on to --to, and the replies back, impairing both
directions with a seeded generator (the same seed gives the same decisions).

Options:
  --listen HOST:PORT      where clients send (e.g. 127.0.0.1:4000)
  --to HOST:PORT          where datagrams go (e.g. 127.0.0.1:5000)
  --seed N                PRNG seed (default 1; client k, from 0, uses N+2k up, N+2k+1 down)
  --delay 20ms            base one-way delay (default 0)
  --loss 5%               packet loss
  --loss-burst 3          mean loss burst length in packets (Gilbert–Elliott); needs --loss
  --jitter 30ms           jitter (Gaussian σ, or Pareto scale with --jitter-dist pareto)
  --jitter-dist NAME      gaussian (default) or pareto
  --correlation 50%       correlation of consecutive packets' jitter
  --reorder 2%            share of packets held back 40 ms and overtaken
  --duplicate 1%          share of packets delivered twice
  --drift 0.3%            receiver clock drift (also 3000ppm)
  --spike 300ms --spike-every 15s   path stalls (handover) of that length, on average that often
  --route-change 30s:+80ms          step in base delay at a time (repeatable)
  --stats-every 5s        print counters periodically (default: only at exit)
  --direction both|up|down  impair only one direction (up: client -> target); default both
  --control               read commands from stdin, one per line: impairment flags (as above)
                          replace the impairment from then on (an empty line: none), 'stats'
                          prints the counters; each gets a JSON line on stdout ({"applied",
                          "atMs"} with Unix ms, or {"error", "message"})
  --spare-dtls-handshake  never drop DTLS handshake records (still delayed): measures loss
                          during the call apart from call setup`;

export const command: Command = {
  usage,
  options: {
    listen: { type: 'string' },
    to: { type: 'string' },
    ...IMPAIRMENT_OPTIONS,
    'stats-every': { type: 'string' },
    direction: { type: 'string' },
    control: { type: 'boolean', default: false },
    'spare-dtls-handshake': { type: 'boolean', default: false },
  },
  allowPositionals: false,
  async run(args: ParsedArgs): Promise<number> {
    const listen = parseHostPort(stringOpt(args, 'listen', true), '--listen');
    const to = parseHostPort(stringOpt(args, 'to', true), '--to');
    const impairment = impairmentFromValues(args.values);
    const direction = parseDirection(stringOpt(args, 'direction'));
    const statsEvery = stringOpt(args, 'stats-every');
    let proxy: NetemProxy;
    try {
      proxy = await NetemProxy.start({
        listen,
        to,
        impairment,
        direction,
        spareDtlsHandshake: args.values['spare-dtls-handshake'] === true,
      });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new ClientError(
        'NETEM_ERR_BIND',
        `cannot listen on ${listen.host}:${listen.port}: ${msg}`,
        {
          cause: err,
        },
      );
    }
    const a = proxy.address;
    console.log(
      `parloir netem: ${a.host}:${a.port} <-> ${to.host}:${to.port} (seed ${impairment.seed})`,
    );
    const print = () => console.log(JSON.stringify(proxy.stats()));
    const everyMs =
      statsEvery === undefined ? undefined : parseDurationMs(statsEvery, '--stats-every');
    const interval = everyMs ? setInterval(print, Math.max(100, everyMs)) : undefined;
    const control =
      args.values.control === true ? createInterface({ input: process.stdin }) : undefined;
    control?.on('line', (line) => {
      if (line.trim() === 'stats') return print();
      try {
        proxy.setImpairment(parseControlLine(line, impairment.seed));
        console.log(JSON.stringify({ applied: line.trim(), atMs: Date.now() }));
      } catch (err) {
        // A bad line changes nothing and stops nothing: the controller reads why.
        const code = (err as { code?: unknown }).code;
        const message = err instanceof Error ? err.message : String(err);
        console.log(
          JSON.stringify({ error: typeof code === 'string' ? code : 'NETEM_ERR_CONTROL', message }),
        );
      }
    });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    if (interval) clearInterval(interval);
    control?.close();
    print();
    await proxy.close();
    return 0;
  },
};
