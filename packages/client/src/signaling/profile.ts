/**
 * The client's profile directory: its Ed25519 identity (`identity.json`, mode 0600) and the TLS
 * fingerprints of servers pinned on first use (`known_servers.json`), the way ssh keeps
 * `known_hosts`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  SignalingError,
  fromBase64,
  generateIdentity,
  signerFromPkcs8,
  toBase64,
  userIdOf,
  type Signer,
} from '@parloir/protocol';

/** Default profile directory: `$XDG_CONFIG_HOME/parloir` or `~/.config/parloir`. */
export function defaultProfileDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.config'), 'parloir');
}

/** A loaded profile. */
export interface Profile {
  /** The directory. */
  dir: string;
  /** The identity. */
  signer: Signer;
  /** Our user id (key fingerprint). */
  userId: string;
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

/** Loads the identity in `dir`, creating the directory and a new key pair the first time. */
export async function loadOrCreateProfile(dir: string = defaultProfileDir()): Promise<Profile> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by the umask and leaves an existing directory alone (issue 17).
  chmodSync(dir, 0o700);
  const path = join(dir, 'identity.json');
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new SignalingError('SIG_ERR_INTERNAL', `cannot read identity ${path}`, { cause: err });
    }
    const rec = parsed as { publicKey?: unknown; privateKeyPkcs8?: unknown };
    const pub = typeof rec.publicKey === 'string' ? fromBase64(rec.publicKey) : undefined;
    const pkcs8 =
      typeof rec.privateKeyPkcs8 === 'string' ? fromBase64(rec.privateKeyPkcs8) : undefined;
    if (!pub || !pkcs8)
      throw new SignalingError('SIG_ERR_INTERNAL', `identity file ${path} is malformed`);
    const signer = await signerFromPkcs8(pkcs8, pub);
    return { dir, signer, userId: await userIdOf(pub) };
  }
  const id = await generateIdentity();
  writeAtomic(
    path,
    `${JSON.stringify({ type: 'ed25519', publicKey: toBase64(id.publicKey), privateKeyPkcs8: toBase64(id.pkcs8) }, null, 2)}\n`,
    0o600,
  );
  chmodSync(path, 0o600);
  return { dir, signer: id, userId: await userIdOf(id.publicKey) };
}

/** Result of checking a server's certificate against the pins. */
export type PinCheck =
  | { kind: 'match' }
  | { kind: 'new'; fingerprint: string }
  | { kind: 'changed'; pinned: string; presented: string };

/** TLS fingerprints pinned on first use, by `host:port`. */
export class KnownServers {
  #path: string;

  constructor(profileDir: string) {
    this.#path = join(profileDir, 'known_servers.json');
  }

  /** The file the pins live in. */
  get path(): string {
    return this.#path;
  }

  #read(): Record<string, string> {
    try {
      const v: unknown = JSON.parse(readFileSync(this.#path, 'utf8'));
      return typeof v === 'object' && v !== null ? (v as Record<string, string>) : {};
    } catch {
      return {};
    }
  }

  /** The pinned fingerprint for `hostPort`. */
  get(hostPort: string): string | undefined {
    return this.#read()[hostPort];
  }

  /** Compares `fingerprint` with the pin for `hostPort`; pins it when there is none (TOFU). */
  check(hostPort: string, fingerprint: string): PinCheck {
    const pins = this.#read();
    const pinned = pins[hostPort];
    if (pinned === undefined) {
      pins[hostPort] = fingerprint;
      mkdirSync(join(this.#path, '..'), { recursive: true, mode: 0o700 });
      writeAtomic(this.#path, `${JSON.stringify(pins, null, 2)}\n`, 0o600);
      return { kind: 'new', fingerprint };
    }
    return pinned === fingerprint
      ? { kind: 'match' }
      : { kind: 'changed', pinned, presented: fingerprint };
  }

  /** Removes the pin for `hostPort` (the user accepted a new certificate). */
  forget(hostPort: string): void {
    const pins = this.#read();
    if (!Object.hasOwn(pins, hostPort)) return;
    delete pins[hostPort];
    writeAtomic(this.#path, `${JSON.stringify(pins, null, 2)}\n`, 0o600);
  }
}

/** The ssh-style message for a changed certificate. */
export function fingerprintMismatchMessage(
  hostPort: string,
  pinned: string,
  presented: string,
  file: string,
): string {
  return [
    `the TLS certificate of ${hostPort} has CHANGED since you first connected.`,
    `  pinned:    SHA256 ${pinned}`,
    `  presented: SHA256 ${presented}`,
    'Someone could be intercepting the connection, or the server got a new certificate.',
    `If you trust the change, remove the "${hostPort}" entry from ${file} and connect again.`,
  ].join('\n');
}
