/**
 * Certificates by ACME (RFC 8555) for a server with a public name (`--domain`): obtained at
 * start, kept in the data directory, renewed before expiry. The protocol is acme-client's (a
 * maintained client, pinned); this module keeps the account key and certificate on disk,
 * answers HTTP-01 challenges (RFC 8555 §8.3) on a plain-HTTP port (80 by default), and decides
 * when to renew. The server hands a renewed certificate to new connections (setSecureContext);
 * connections already up, and so live calls, keep theirs.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client, crypto as acmeCrypto } from 'acme-client';
import { ServerError } from './errors.ts';
import type { TlsMaterial } from './tls-cert.ts';

/** Let's Encrypt's production directory, the default CA. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/** Options of {@link AcmeCertificates}. */
export interface AcmeOptions {
  /** The public DNS name the certificate is for, e.g. `talk.example.org`. */
  domain: string;
  /** ACME directory URL. Default {@link LETS_ENCRYPT_DIRECTORY}. */
  directoryUrl?: string;
  /** Contact e-mail given to the CA (expiry notices). */
  email?: string;
  /** Where the account key and certificates are kept (`<dataDir>/acme`). */
  dataDir: string;
  /** Port of the HTTP-01 challenge listener; 0 picks a free one. Default 80. */
  httpPort?: number;
  /** Address of the challenge listener. Default `0.0.0.0`. */
  httpBind?: string;
  /** Renew when the certificate expires in less than this, ms. Default 30 days. */
  renewBeforeMs?: number;
  /** Told of progress and errors. */
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

const DAY_MS = 86_400_000;

/** An ACME certificate manager: {@link start}, then {@link current}, {@link renew}. */
export class AcmeCertificates {
  #o: Required<Omit<AcmeOptions, 'email' | 'log'>> & Pick<AcmeOptions, 'email' | 'log'>;
  #dir: string;
  #tokens = new Map<string, string>();
  #http: Server | undefined;
  #current: TlsMaterial | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<TlsMaterial> | undefined;
  #onRenewed: ((m: TlsMaterial) => void) | undefined;
  #acme: Client | undefined;

  constructor(options: AcmeOptions) {
    if (
      !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(options.domain)
    ) {
      throw new ServerError('SRV_ERR_BAD_OPTIONS', `--domain: not a DNS name: ${options.domain}`);
    }
    this.#o = {
      directoryUrl: LETS_ENCRYPT_DIRECTORY,
      httpPort: 80,
      httpBind: '0.0.0.0',
      renewBeforeMs: 30 * DAY_MS,
      ...options,
    };
    this.#dir = join(options.dataDir, 'acme');
  }

  /** The HTTP-01 listener's port (after {@link start}). */
  get httpPort(): number {
    return (this.#http?.address() as AddressInfo | null)?.port ?? this.#o.httpPort;
  }

  /** The certificate in use (after {@link start}). */
  get current(): TlsMaterial {
    if (!this.#current) throw new ServerError('SRV_ERR_TLS', 'ACME: no certificate yet');
    return this.#current;
  }

  /**
   * Opens the challenge listener and returns a certificate: the stored one if it is for this
   * domain and not due for renewal, a new one otherwise. Checks twice a day afterwards, and
   * calls `onRenewed` with each renewed certificate.
   */
  async start(onRenewed?: (m: TlsMaterial) => void): Promise<TlsMaterial> {
    this.#onRenewed = onRenewed;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    this.#http = createServer((req, res) => {
      const m = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
      const answer = m ? this.#tokens.get(m[1] as string) : undefined;
      if (answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer);
    });
    await new Promise<void>((resolve, reject) => {
      this.#http?.once('error', (err) =>
        reject(
          new ServerError(
            'SRV_ERR_LISTEN',
            `ACME HTTP-01 listener on port ${this.#o.httpPort}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      this.#http?.listen(this.#o.httpPort, this.#o.httpBind, () => resolve());
    });
    const stored = this.#load();
    this.#current = stored && !this.#due(stored) ? stored : await this.#obtain();
    this.#timer = setInterval(() => {
      if (this.#current && this.#due(this.#current)) void this.renew().catch(() => undefined);
    }, DAY_MS / 2);
    this.#timer.unref();
    return this.#current;
  }

  /** Obtains a new certificate now (also what the twice-daily check calls when one is due). */
  renew(): Promise<TlsMaterial> {
    this.#renewing ??= this.#obtain()
      .then((m) => {
        this.#current = m;
        this.#onRenewed?.(m);
        return m;
      })
      .catch((err: unknown) => {
        this.#o.log?.warn({ err }, 'ACME renewal failed; the current certificate stays');
        throw err;
      })
      .finally(() => {
        this.#renewing = undefined;
      });
    return this.#renewing;
  }

  /** Stops the timer and the challenge listener. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const http = this.#http;
    this.#http = undefined;
    if (http) await new Promise<void>((r) => http.close(() => r()));
  }

  #due(m: TlsMaterial): boolean {
    const x = new X509Certificate(m.cert);
    return Date.parse(x.validTo) - Date.now() < this.#o.renewBeforeMs;
  }

  #load(): TlsMaterial | undefined {
    const cert = join(this.#dir, `${this.#o.domain}.crt`);
    const key = join(this.#dir, `${this.#o.domain}.key`);
    if (!existsSync(cert) || !existsSync(key)) return undefined;
    try {
      const pem = readFileSync(cert, 'utf8');
      const x = new X509Certificate(pem);
      if (!x.checkHost(this.#o.domain)) return undefined;
      return { cert: pem, key: readFileSync(key, 'utf8'), fingerprint: x.fingerprint256 };
    } catch {
      return undefined;
    }
  }

  async #accountKey(): Promise<Buffer> {
    const path = join(this.#dir, 'account.key');
    if (existsSync(path)) return readFileSync(path);
    const key = await acmeCrypto.createPrivateEcdsaKey('P-256');
    writeFileSync(path, key, { mode: 0o600 });
    return key;
  }

  /**
   * One ACME client for the life of the process, given the account URL saved at registration:
   * registering again with a known key makes acme-client send an empty account update, which
   * RFC 8555 §7.3.2 servers (Pebble) refuse.
   */
  async #client(): Promise<Client> {
    if (this.#acme) return this.#acme;
    const urlPath = join(this.#dir, 'account.url');
    const accountUrl = existsSync(urlPath) ? readFileSync(urlPath, 'utf8').trim() : undefined;
    const client = new Client({
      directoryUrl: this.#o.directoryUrl,
      accountKey: await this.#accountKey(),
      backoffAttempts: 10,
      ...(accountUrl ? { accountUrl } : {}),
    });
    if (!accountUrl) {
      await client.createAccount({
        termsOfServiceAgreed: true,
        ...(this.#o.email !== undefined ? { contact: [`mailto:${this.#o.email}`] } : {}),
      });
      writeFileSync(urlPath, `${client.getAccountUrl()}\n`);
    }
    this.#acme = client;
    return client;
  }

  async #obtain(): Promise<TlsMaterial> {
    const domain = this.#o.domain;
    this.#o.log?.info(
      { domain, directory: this.#o.directoryUrl },
      'ACME: requesting a certificate',
    );
    try {
      const client = await this.#client();
      const [key, csr] = await acmeCrypto.createCsr(
        { commonName: domain, altNames: [domain] },
        await acmeCrypto.createPrivateEcdsaKey('P-256'),
      );
      const chain = await client.auto({
        csr,
        ...(this.#o.email !== undefined ? { email: this.#o.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA checks the challenge itself; acme-client's own pre-check would fetch
        // http://DOMAIN/ from here, which behind NAT without hairpinning fails for no reason.
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) => {
          this.#tokens.set(challenge.token, keyAuthorization);
          return Promise.resolve();
        },
        challengeRemoveFn: (_authz, challenge) => {
          this.#tokens.delete(challenge.token);
          return Promise.resolve();
        },
      });
      const fingerprint = new X509Certificate(chain).fingerprint256;
      // Key first, then the certificate, each by rename: a crash leaves a matching pair or the
      // old one (a new key with the old certificate is caught by the server's key check).
      const certPath = join(this.#dir, `${domain}.crt`);
      const keyPath = join(this.#dir, `${domain}.key`);
      writeFileSync(`${keyPath}.new`, key, { mode: 0o600 });
      writeFileSync(`${certPath}.new`, chain);
      renameSync(`${keyPath}.new`, keyPath);
      renameSync(`${certPath}.new`, certPath);
      this.#o.log?.info({ domain, fingerprint }, 'ACME: certificate obtained');
      return { cert: chain, key: key.toString(), fingerprint };
    } catch (err) {
      throw new ServerError(
        'SRV_ERR_TLS',
        `ACME: no certificate for ${domain} from ${this.#o.directoryUrl}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
