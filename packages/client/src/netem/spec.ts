/**
 * Parsing of `parloir netem` impairment options ("5%", "30ms", "2s", "3000ppm", "30s:+80ms")
 * into the media package's {@link ImpairmentOptions}. Pure; bad input is a typed UsageError.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { ImpairmentOptions } from '@parloir/media';
import { UsageError } from '../errors.ts';
import type { NetemDirection } from './proxy.ts';

/** A host and port. */
export interface HostPort {
  /** IPv4 or IPv6 literal, or a host name. */
  host: string;
  /** UDP port, 0..65535 (0 = any, for --listen only). */
  port: number;
}

const bad = (msg: string): never => {
  throw new UsageError('CLI_ERR_BAD_ARGS', `parloir netem: ${msg}`);
};

/** Parses `host:port` (IPv6 as `[::1]:port`). */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) bad(`${what} must be host:port, got '${text}'`);
  return { host: m?.[1] ?? m?.[2] ?? '', port };
}

/** Parses a duration: `30ms`, `2s`, `1.5s` or a bare number of ms. */
export function parseDurationMs(text: string, what: string): number {
  const m = /^(-?\d+(?:\.\d+)?)\s*(ms|s)?$/.exec(text.trim());
  if (!m) return bad(`${what} must be a duration like 30ms or 2s, got '${text}'`);
  const v = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (!Number.isFinite(v)) bad(`${what} is not a number`);
  return v;
}

/** Parses a percentage: `5%` or a bare number of percent; returns a probability 0..1. */
export function parseProbability(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(text.trim());
  const v = Number(m?.[1]) / 100;
  if (!m || !(v >= 0 && v <= 1)) bad(`${what} must be a percentage 0..100%, got '${text}'`);
  return v;
}

/** Parses clock drift: `3000ppm`, `0.3%`, `-0.3%`; returns ppm. */
export function parseDriftPpm(text: string): number {
  const m = /^(-?\d+(?:\.\d+)?)\s*(ppm|%)$/.exec(text.trim());
  if (!m) return bad(`--drift must look like 3000ppm or 0.3%, got '${text}'`);
  const v = Number(m[1]) * (m[2] === '%' ? 10000 : 1);
  if (!(Math.abs(v) <= 50000)) bad('--drift must be within ±5%');
  return v;
}

/** The raw option strings of `parloir netem`. */
export interface NetemFlags {
  seed?: string;
  delay?: string;
  loss?: string;
  lossBurst?: string;
  jitter?: string;
  jitterDist?: string;
  correlation?: string;
  reorder?: string;
  duplicate?: string;
  drift?: string;
  spikeEvery?: string;
  spike?: string;
  routeChange?: string[];
}

/** Builds impairment options from flags. */
export function impairmentFromFlags(f: NetemFlags): ImpairmentOptions {
  const seed = f.seed === undefined ? 1 : Number(f.seed);
  if (!Number.isInteger(seed)) bad(`--seed must be an integer, got '${f.seed}'`);
  const o: ImpairmentOptions = { seed, baseDelayMs: 0 };
  if (f.delay !== undefined) {
    o.baseDelayMs = parseDurationMs(f.delay, '--delay');
    if (o.baseDelayMs < 0) bad('--delay must be ≥ 0');
  }
  if (f.loss !== undefined) {
    const loss = parseProbability(f.loss, '--loss');
    if (f.lossBurst !== undefined) {
      // Gilbert–Elliott with a lossless good state and an all-loss bad state: mean loss
      // p/(p+r), mean burst 1/r packets.
      const burst = Number(f.lossBurst);
      if (!(burst >= 1)) bad('--loss-burst must be a mean burst length ≥ 1 packet');
      if (loss >= 1) bad('--loss must be < 100% with --loss-burst');
      const r = 1 / burst;
      o.loss = { model: 'gilbert-elliott', p: Math.min(1, (r * loss) / (1 - loss)), r };
    } else {
      o.loss = { model: 'bernoulli', probability: loss };
    }
  } else if (f.lossBurst !== undefined) {
    bad('--loss-burst needs --loss');
  }
  if (f.jitter !== undefined) {
    const ms = parseDurationMs(f.jitter, '--jitter');
    if (ms < 0) bad('--jitter must be ≥ 0');
    const dist = f.jitterDist ?? 'gaussian';
    if (dist !== 'gaussian' && dist !== 'pareto') bad('--jitter-dist must be gaussian or pareto');
    const correlation =
      f.correlation === undefined ? 0 : parseProbability(f.correlation, '--correlation');
    o.jitter = { distribution: dist as 'gaussian' | 'pareto', ms, correlation };
  }
  if (f.reorder !== undefined) o.reorder = parseProbability(f.reorder, '--reorder');
  if (f.duplicate !== undefined) o.duplicate = parseProbability(f.duplicate, '--duplicate');
  if (f.drift !== undefined) o.driftPpm = parseDriftPpm(f.drift);
  if (f.spike !== undefined || f.spikeEvery !== undefined) {
    if (f.spike === undefined || f.spikeEvery === undefined)
      bad('--spike and --spike-every go together');
    const heightMs = parseDurationMs(f.spike ?? '', '--spike');
    const meanIntervalMs = parseDurationMs(f.spikeEvery ?? '', '--spike-every');
    if (!(heightMs >= 0 && meanIntervalMs > 0)) bad('--spike must be ≥ 0 and --spike-every > 0');
    o.spikes = { heightMs, meanIntervalMs };
  }
  for (const rc of f.routeChange ?? []) {
    const [at, delta] = rc.split(':');
    if (at === undefined || delta === undefined)
      bad(`--route-change must be AT:DELTA, e.g. 30s:+80ms`);
    o.routeChanges ??= [];
    o.routeChanges.push({
      atMs: parseDurationMs(at ?? '', '--route-change time'),
      deltaMs: parseDurationMs((delta ?? '').replace(/^\+/, ''), '--route-change delta'),
    });
  }
  return o;
}

/** The impairment options of `parloir netem`, as flags (also what a control line takes). */
export const IMPAIRMENT_OPTIONS = {
  seed: { type: 'string' },
  delay: { type: 'string' },
  loss: { type: 'string' },
  'loss-burst': { type: 'string' },
  jitter: { type: 'string' },
  'jitter-dist': { type: 'string' },
  correlation: { type: 'string' },
  reorder: { type: 'string' },
  duplicate: { type: 'string' },
  drift: { type: 'string' },
  spike: { type: 'string' },
  'spike-every': { type: 'string' },
  'route-change': { type: 'string', multiple: true },
} as const satisfies ParseArgsOptionsConfig;

/** Builds impairment options from parsed {@link IMPAIRMENT_OPTIONS} values. */
export function impairmentFromValues(values: Record<string, unknown>): ImpairmentOptions {
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const rc = values['route-change'];
  return impairmentFromFlags({
    seed: str('seed'),
    delay: str('delay'),
    loss: str('loss'),
    lossBurst: str('loss-burst'),
    jitter: str('jitter'),
    jitterDist: str('jitter-dist'),
    correlation: str('correlation'),
    reorder: str('reorder'),
    duplicate: str('duplicate'),
    drift: str('drift'),
    spike: str('spike'),
    spikeEvery: str('spike-every'),
    routeChange: Array.isArray(rc) ? rc.map(String) : undefined,
  });
}

/** Longest control line accepted, characters. */
const MAX_CONTROL_LINE = 1000;

/**
 * Parses one `--control` line: the impairment flags that replace the current impairment
 * (`--loss 5% --loss-burst 3`; an empty set of flags means no impairment). Without `--seed` the
 * line takes `defaultSeed`, so a run stays reproducible.
 */
export function parseControlLine(line: string, defaultSeed: number): ImpairmentOptions {
  if (line.length > MAX_CONTROL_LINE)
    bad(`control line longer than ${MAX_CONTROL_LINE} characters`);
  const args = line.trim() === '' ? [] : line.trim().split(/\s+/);
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options: IMPAIRMENT_OPTIONS, strict: true }).values;
  } catch (err) {
    const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    return bad(`control line: ${msg}`);
  }
  return impairmentFromValues({ seed: String(defaultSeed), ...values });
}

/** Parses `--direction`: both, up or down. */
export function parseDirection(text: string | undefined): NetemDirection {
  if (text === undefined) return 'both';
  if (text === 'both' || text === 'up' || text === 'down') return text;
  return bad(`--direction must be both, up or down, got '${text}'`);
}
