/**
 * What the native app remembers in the profile directory, each in its own file (mode 0600,
 * written atomically, validated with the control API's schemas when read back; a damaged file
 * counts as empty): the host's remembered join decisions (`host-decisions.json`) and the servers
 * connected to (`recent-servers.json`, most recent first).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  hostDecisionListSchema,
  MAX_RECENT_SERVERS,
  recentServerListSchema,
  validate,
  type HostDecision,
} from '@parloir/protocol';

function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The host's remembered join decisions, by key fingerprint. */
export class HostDecisions {
  #path: string;

  constructor(profileDir: string) {
    this.#path = join(profileDir, 'host-decisions.json');
  }

  /** Every remembered decision. */
  list(): HostDecision[] {
    const v = validate(hostDecisionListSchema, readJson(this.#path));
    return v.ok ? v.value : [];
  }

  /** The decision about `fingerprint`, if remembered. */
  get(fingerprint: string): HostDecision | undefined {
    return this.list().find((d) => d.fingerprint === fingerprint);
  }

  /** Remembers a decision (replacing any earlier one about the same key). */
  set(d: HostDecision): void {
    writeJson(this.#path, [...this.list().filter((x) => x.fingerprint !== d.fingerprint), d]);
  }

  /** Forgets the decision about `fingerprint`. */
  forget(fingerprint: string): void {
    writeJson(
      this.#path,
      this.list().filter((x) => x.fingerprint !== fingerprint),
    );
  }
}

/** Servers connected to, most recent first. */
export class RecentServers {
  #path: string;

  constructor(profileDir: string) {
    this.#path = join(profileDir, 'recent-servers.json');
  }

  /** The list, most recent first. */
  list(): string[] {
    const v = validate(recentServerListSchema, readJson(this.#path));
    return v.ok ? v.value : [];
  }

  /** Puts `server` first. */
  add(server: string): void {
    const next = [server, ...this.list().filter((s) => s !== server)];
    writeJson(this.#path, next.slice(0, MAX_RECENT_SERVERS));
  }
}
