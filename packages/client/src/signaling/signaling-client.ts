/**
 * The Node-side signalling client: a `ws` adapter around the shared {@link ClientSession}, with
 * TLS fingerprint pinning (trust on first use, ssh-style refusal of a changed certificate) and
 * reconnection with capped exponential backoff and jitter. Everything protocol-related lives in
 * the session (`client.session`).
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import {
  ClientSession,
  SignalingError,
  backoffDelayMs,
  serverOriginName,
  serverTlsName,
  type BackoffOptions,
  type ClientSessionOptions,
  type Signer,
} from '@parloir/protocol';
import { KnownServers, fingerprintMismatchMessage } from './profile.ts';

/** Errors that end a {@link SignalingClient.connect} attempt at once. */
const CONNECT_FATAL_CODES: ReadonlySet<string> = new Set([
  'SIG_ERR_FINGERPRINT_MISMATCH',
  'SIG_ERR_NAME_TAKEN',
  'SIG_ERR_BAD_NAME',
  'SIG_ERR_BAD_SIGNATURE',
  'SIG_ERR_BAD_PASSWORD',
  'SIG_ERR_SERVER_FULL',
  'SIG_ERR_VERSION',
  'SIG_ERR_REFUSED',
]);

/**
 * Longest wait between reconnect attempts during a call, before jitter, ms: the call is kept
 * for the server's grace period, and a relayed path (or one the server's restart broke) only
 * comes back once we have re-attached and restarted ICE, so a client must not sit out 8-30 s
 * of backoff while the far end hears nothing.
 */
export const IN_CALL_BACKOFF_MAX_MS = 2000;

/** The backoff for the next reconnect: capped at {@link IN_CALL_BACKOFF_MAX_MS} during a call. */
export function reconnectBackoff(
  backoff: BackoffOptions | undefined,
  inCall: boolean,
): BackoffOptions | undefined {
  if (!inCall) return backoff;
  return { ...backoff, maxMs: Math.min(backoff?.maxMs ?? 30_000, IN_CALL_BACKOFF_MAX_MS) };
}

/** Options of {@link SignalingClient}. */
export interface SignalingClientOptions {
  /** Server WebSocket URL (`wss://host:8443/ws`, `ws://` for insecure dev servers). */
  url: string;
  /** Identity. */
  identity: Signer;
  /** Display name. */
  name: string;
  /** Server password. */
  password?: string;
  /**
   * Profile directory holding `known_servers.json` for trust-on-first-use pinning. Without it,
   * {@link fingerprint} must be given for `wss://` (or pinning is skipped with `insecureSkipPin`).
   */
  profileDir?: string;
  /** Expected SHA-256 fingerprint (`AB:CD:…`); overrides the pin file when given. */
  fingerprint?: string;
  /** Accept any certificate (tests of other things only). */
  insecureSkipPin?: boolean;
  /** Reconnect after unexpected closes. Default true. */
  reconnect?: boolean;
  /** Backoff for reconnects. Default 500 ms base, 30 s cap. */
  backoff?: BackoffOptions;
  /** Connection (TCP + TLS + upgrade) timeout, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Extra session options (request timeout, clock). */
  session?: Partial<Pick<ClientSessionOptions, 'requestTimeoutMs' | 'clock' | 'newClientMsgId'>>;
  /** Local address to connect from (e.g. `127.0.0.2` for load tests). */
  localAddress?: string;
  /** Called for reconnect scheduling and pinning notices. */
  onNotice?: (msg: string) => void;
}

/** A signalling connection that reconnects by itself. */
export class SignalingClient {
  /** The protocol session: state, events and actions. */
  readonly session: ClientSession;
  #o: SignalingClientOptions;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #fatal: SignalingError | undefined;
  /** SHA-256 of the certificate the current connection presented (`AB:CD:…`), for the login. */
  #presented: string | undefined;

  constructor(options: SignalingClientOptions) {
    this.#o = options;
    this.session = new ClientSession({
      identity: options.identity,
      name: options.name,
      ...(options.password !== undefined ? { password: options.password } : {}),
      // The login names the server we connect to (issue 17 §2): the certificate this connection
      // presented (pinned below) when the server terminates TLS, else the URL's origin.
      serverName: (hint) =>
        hint === 'tls' && this.#presented !== undefined
          ? serverTlsName(this.#presented)
          : serverOriginName(options.url),
      ...options.session,
    });
    this.session.on('ready', () => {
      this.#attempt = 0;
    });
  }

  /** The error that stopped reconnection for good (refused, auth failed, fingerprint changed). */
  get fatalError(): SignalingError | undefined {
    return this.#fatal;
  }

  /**
   * Connects and resolves once the session is ready (or pending host approval, when
   * `untilReady` is false). Rejects with a {@link SignalingError} on a fatal failure.
   */
  connect(opts: { untilReady?: boolean } = {}): Promise<void> {
    const untilReady = opts.untilReady ?? true;
    this.#stopped = false;
    this.#fatal = undefined;
    return new Promise<void>((resolve, reject) => {
      const offs: (() => void)[] = [];
      const done = (err?: SignalingError) => {
        for (const off of offs) off();
        if (err) reject(err);
        else resolve();
      };
      offs.push(this.session.on('ready', () => done()));
      offs.push(
        this.session.on('connection', (c) => {
          if (!untilReady && c.kind === 'pending-approval') done();
          if (
            c.kind === 'disconnected' &&
            (c.fatal || this.#fatal || this.#o.reconnect === false)
          ) {
            done(
              this.#fatal ??
                new SignalingError(
                  c.closeCode === 4003 ? 'SIG_ERR_REFUSED' : 'SIG_ERR_DISCONNECTED',
                  `connection closed (${c.closeCode ?? 'no code'}${c.closeReason ? `: ${c.closeReason}` : ''})`,
                ),
            );
          }
        }),
      );
      offs.push(
        this.session.on('error', (e) => {
          if (CONNECT_FATAL_CODES.has(e.code)) done(e);
        }),
      );
      this.#open();
    });
  }

  #hostPort(): string {
    const u = new URL(this.#o.url);
    return `${u.hostname}:${u.port || (u.protocol === 'wss:' ? '443' : '80')}`;
  }

  #checkCertificate(res: IncomingMessage): SignalingError | undefined {
    if (!this.#o.url.startsWith('wss:') || this.#o.insecureSkipPin) return undefined;
    const presented = (res.socket as TLSSocket).getPeerCertificate?.().fingerprint256;
    if (!presented)
      return new SignalingError('SIG_ERR_FINGERPRINT_MISMATCH', 'server presented no certificate');
    const hostPort = this.#hostPort();
    if (this.#o.fingerprint !== undefined) {
      if (this.#o.fingerprint.toUpperCase() === presented) return undefined;
      return new SignalingError(
        'SIG_ERR_FINGERPRINT_MISMATCH',
        fingerprintMismatchMessage(
          hostPort,
          this.#o.fingerprint.toUpperCase(),
          presented,
          '--fingerprint',
        ),
      );
    }
    if (this.#o.profileDir === undefined) {
      return new SignalingError(
        'SIG_ERR_FINGERPRINT_MISMATCH',
        `cannot verify ${hostPort}: no profile directory for pinning and no expected fingerprint`,
      );
    }
    const known = new KnownServers(this.#o.profileDir);
    const check = known.check(hostPort, presented);
    if (check.kind === 'new')
      this.#o.onNotice?.(`pinned ${hostPort} certificate SHA256 ${presented} (first use)`);
    if (check.kind === 'changed') {
      // A certificate renewed by a CA (ACME) for the same name is the same server, as a browser
      // sees it: the chain verifies against Node's trust store (with NODE_EXTRA_CA_CERTS) and
      // matches the URL's DNS name. Re-pinned, with a notice. Anything else is refused.
      const host = new URL(this.#o.url).hostname;
      if ((res.socket as TLSSocket).authorized && isIP(host) === 0) {
        known.forget(hostPort);
        known.check(hostPort, presented);
        this.#o.onNotice?.(
          `${hostPort}: certificate renewed, signed by a trusted CA for ${host} (pinned SHA256 ${check.pinned}, now ${presented}); pin updated`,
        );
        return undefined;
      }
      return new SignalingError(
        'SIG_ERR_FINGERPRINT_MISMATCH',
        fingerprintMismatchMessage(hostPort, check.pinned, check.presented, known.path),
      );
    }
    return undefined;
  }

  #open(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.#o.url, {
      rejectUnauthorized: false, // self-signed certificates are checked by pinning instead
      handshakeTimeout: this.#o.connectTimeoutMs ?? 10_000,
      maxPayload: 16 * 1024 * 1024,
      perMessageDeflate: false,
      ...(this.#o.localAddress ? { localAddress: this.#o.localAddress } : {}),
    });
    this.#ws = ws;
    let opened = false;
    ws.on('upgrade', (res) => {
      this.#presented = this.#o.url.startsWith('wss:')
        ? (res.socket as TLSSocket).getPeerCertificate?.().fingerprint256
        : undefined;
      const err = this.#checkCertificate(res);
      if (err) {
        this.#fatal = err;
        this.#stopped = true;
        ws.terminate();
        this.session.handleClose(undefined, err.message);
        // Emitted after handleClose so listeners see the fatal error as the cause.
        setImmediate(() => this.#emitError(err));
      }
    });
    ws.on('open', () => {
      opened = true;
      this.session.handleOpen({
        send: (text) => ws.send(text),
        close: (code, reason) => ws.close(code, reason),
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.session.handleText(data.toString('utf8'));
    });
    ws.on('error', (err) => {
      this.#o.onNotice?.(`signalling connection error: ${err.message}`);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.#ws === ws) this.#ws = undefined;
      if (this.#fatal) return;
      const fatal = code === 4001 || code === 4003 || code === 4009;
      if (opened || !this.#stopped) this.session.handleClose(code, reason.toString('utf8'));
      if (this.#stopped || fatal || this.#o.reconnect === false) return;
      const delay = backoffDelayMs(
        this.#attempt++,
        reconnectBackoff(this.#o.backoff, this.session.call.phase === 'active'),
      );
      this.#o.onNotice?.(`signalling connection lost (${code}); reconnecting in ${delay} ms`);
      this.#timer = setTimeout(() => this.#open(), delay);
    });
  }

  #emitError(err: SignalingError): void {
    // Reuse the session's error channel so apps have one place to listen.
    (this.session as unknown as { handleText(t: string): void }).handleText(
      JSON.stringify({ type: 'error', code: err.code, message: err.message }),
    );
  }

  /** Closes the connection for good (no reconnect). */
  close(code = 1000, reason = 'bye'): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#ws?.close(code, reason);
  }

  /** Drops the TCP connection abruptly (tests: simulate a network failure). */
  terminate(): void {
    this.#ws?.terminate();
  }
}
