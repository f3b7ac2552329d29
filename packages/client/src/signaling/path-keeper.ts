/**
 * Keeps a native call's media path alive with ICE restarts (RFC 8445 §2.4) through signalling
 * (issue 21 §2): the adapter around {@link PathMonitor} and the transport's restart methods.
 *
 * Triggers: the monitor's (the selected pair's host address went away, or the pair carries
 * nothing: consent lost), and a signalling re-attach after which the path is silent (the server
 * may have restarted, and a relayed path with it).
 *
 * Glare: only the caller ever sends a restart offer. The callee asks for one with a
 * `restart-request` signal; a request that arrives while the caller's own restart is under way
 * joins it. So two ends that notice the same failure at once make one restart, and the caller's
 * offer always wins (docs/engine.md "ICE restart").
 *
 * The offer and answer carry a signed media binding like the first ones, and the peer checks it
 * before applying them (call-media.ts): the DTLS association and its certificate are kept, so the
 * same identity checks hold for the new path.
 */
import { networkInterfaces } from 'node:os';
import type { CallSignal, IceRestartReason, MediaBinding } from '@parloir/protocol';
import { PathMonitor, type PathMonitorOptions } from '../transport/path-monitor.ts';
import type { PathEvent, PeerTransport } from '../transport/peer-transport.ts';

/** What the keeper needs from the transport. {@link PeerTransport} fits. */
export type RestartableTransport = Pick<
  PeerTransport,
  | 'on'
  | 'restartOffer'
  | 'setHostAddresses'
  | 'releaseCandidates'
  | 'pathInfo'
  | 'packetsReceivedNow'
  | 'state'
>;

/** Path state changes, as the CLI and the UI show them. */
export type PathKeeperEvent =
  | { state: 'restarting'; reason: IceRestartReason }
  | { state: 'up'; path: string; edge: string; note?: string | undefined; afterMs: number }
  | { state: 'failed'; reason: string };

/** Options of {@link PathKeeper}. */
export interface PathKeeperOptions {
  /** The call's transport, connected. */
  transport: RestartableTransport;
  /** Whether we are the caller (we make the restart offers) or the callee (we ask for them). */
  role: 'offerer' | 'answerer';
  /** Sends a call signal to the peer. */
  sendSignal: (signal: CallSignal) => Promise<void>;
  /** Our signed media binding for an offer. */
  binding: () => Promise<MediaBinding>;
  /**
   * The host addresses the call may use (`--host-address`); a restart gathers on those still
   * present. Undefined: werift's own choice of interfaces.
   */
  hostAddresses?: readonly string[] | undefined;
  /** Addresses on the machine's interfaces now; default `os.networkInterfaces()`. */
  interfaceAddresses?: () => string[];
  /** How often the path is looked at, ms. Default 500. */
  pollMs?: number;
  /** The monitor's thresholds. */
  monitor?: PathMonitorOptions;
  /** State changes. */
  onEvent?: (event: PathKeeperEvent) => void;
}

/** After a re-attach, a path silent this long is restarted, ms. */
const REATTACH_SILENCE_MS = 500;

/** Every IPv4 and IPv6 address on the machine's interfaces now. */
export function currentInterfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address);
  }
  return out;
}

/**
 * Of the allowed host addresses, those on an interface now (all of them if none is, so that the
 * call still tries); undefined stays undefined (werift chooses).
 */
export function presentHostAddresses(
  allowed: readonly string[] | undefined,
  present: readonly string[] = currentInterfaceAddresses(),
): string[] | undefined {
  if (allowed === undefined) return undefined;
  const usable = allowed.filter((a) => present.includes(a));
  return usable.length > 0 ? usable : [...allowed];
}

/** A restart not done after this long is given up (the next poll may start another), ms. */
const RESTART_TIMEOUT_MS = 10_000;

/** Watches the path and restarts ICE when it fails (see the module comment). */
export class PathKeeper {
  #o: PathKeeperOptions;
  #monitor: PathMonitor;
  #timer: ReturnType<typeof setInterval> | undefined;
  #offs: (() => void)[] = [];
  #restarting = false;
  #restartStartedAt = 0;
  #stopped = false;
  /** When our last restart offer was sent, and when the peer's signalling last came back. */
  #offerSentAt = 0;
  #peerBackAt = 0;
  /** Offers one at a time: a new one waits for the last to be out. */
  #offerChain: Promise<void> = Promise.resolve();

  constructor(options: PathKeeperOptions) {
    this.#o = options;
    this.#monitor = new PathMonitor(options.monitor);
    this.#offs.push(options.transport.on('path', (e) => this.#onPath(e)));
  }

  /** Starts watching. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => this.#poll(), this.#o.pollMs ?? 500);
    this.#timer.unref();
  }

  /** Stops watching (the call ended). Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const off of this.#offs) off();
    this.#offs = [];
  }

  /** Whether a restart is under way. */
  get restarting(): boolean {
    return this.#restarting;
  }

  /**
   * Our signalling re-attached to the call (`self`), or the peer's did: restart if the path went
   * quiet meanwhile. When the peer comes back during our own restart, the offer may have gone to
   * a server that had nobody to forward it to: the caller makes a new one.
   */
  reattached(who: 'self' | 'peer' = 'self'): void {
    this.#observe();
    if (who === 'peer') this.#peerBackAt = performance.now();
    if (this.#monitor.silentForMs(performance.now()) >= REATTACH_SILENCE_MS) {
      this.#trigger('reattached', this.#offerLost());
    }
  }

  /** Our last restart offer went out before the peer's signalling came back: it was lost. */
  #offerLost(): boolean {
    return this.#o.role === 'offerer' && this.#restarting && this.#offerSentAt < this.#peerBackAt;
  }

  /**
   * The peer asked for a restart (we are the caller): make one. During ours, a new offer: the
   * peer asking means it has not had ours (it went out while the peer was away, or was lost).
   */
  requested(reason: IceRestartReason): void {
    if (this.#o.role !== 'offerer') return;
    this.#trigger(reason, this.#offerLost());
  }

  /** Before the peer's restart offer is applied (we are the callee): gather where we can. */
  beforeAcceptingRestart(): void {
    this.#applyHostAddresses();
  }

  /** The addresses a restart may gather on: the allowed ones still present. */
  #applyHostAddresses(): readonly string[] | undefined {
    const list = presentHostAddresses(this.#o.hostAddresses, this.#interfaces());
    if (list !== undefined) this.#o.transport.setHostAddresses(list);
    return list;
  }

  #interfaces(): string[] {
    return (this.#o.interfaceAddresses ?? currentInterfaceAddresses)();
  }

  #observe(): ReturnType<PathMonitor['handleInput']> {
    const info = this.#o.transport.pathInfo();
    const pair = info.pair;
    return this.#monitor.handleInput({
      nowMs: performance.now(),
      packetsReceived: this.#o.transport.packetsReceivedNow(),
      local: pair === undefined ? undefined : { address: pair.localAddress, type: pair.localType },
      interfaceAddresses: this.#interfaces(),
      iceState: this.#o.transport.state,
      restarting: this.#restarting,
    });
  }

  #poll(): void {
    if (this.#stopped) return;
    if (this.#restarting && performance.now() - this.#restartStartedAt > RESTART_TIMEOUT_MS) {
      this.#restarting = false;
      this.#o.onEvent?.({ state: 'failed', reason: `no new path after ${RESTART_TIMEOUT_MS} ms` });
    }
    const reason = this.#observe();
    if (reason !== undefined) this.#trigger(reason);
  }

  #trigger(reason: IceRestartReason, again = false): void {
    if (this.#stopped || (this.#restarting && !again)) return;
    this.#restarting = true;
    this.#restartStartedAt = performance.now();
    this.#monitor.restarted(this.#restartStartedAt);
    this.#o.onEvent?.({ state: 'restarting', reason });
    const run =
      this.#o.role === 'offerer'
        ? this.#offer()
        : this.#o.sendSignal({ kind: 'restart-request', reason });
    run.catch((err: unknown) => {
      // Signalling down: the re-attach (or the next poll) tries again.
      this.#restarting = false;
      this.#o.onEvent?.({
        state: 'failed',
        reason: err instanceof Error ? err.message : String(err),
      });
    });
    if (this.#o.role === 'answerer') {
      // The caller's offer comes back through signalling; if it does not, judge again later.
      run.then(
        () => {
          this.#restarting = false;
        },
        () => undefined,
      );
    }
  }

  #offer(): Promise<void> {
    const run = this.#offerChain.then(async () => {
      if (this.#stopped) return;
      const t = this.#o.transport;
      const hosts = this.#applyHostAddresses();
      const offer = await t.restartOffer(hosts);
      const binding = await this.#o.binding();
      await this.#o.sendSignal({ kind: 'offer', sdp: offer.sdp, binding });
      this.#offerSentAt = performance.now();
      t.releaseCandidates();
    });
    this.#offerChain = run.catch(() => undefined);
    return run;
  }

  #onPath(e: PathEvent): void {
    if (this.#stopped) return;
    if (e.state === 'restarting') {
      if (!this.#restarting) {
        // The peer's offer (we are the callee): the same restart, seen from this side.
        this.#restarting = true;
        this.#restartStartedAt = performance.now();
        this.#monitor.restarted(this.#restartStartedAt);
      }
      return;
    }
    this.#restarting = false;
    if (e.state === 'failed') {
      this.#o.onEvent?.({ state: 'failed', reason: e.reason });
      return;
    }
    this.#o.onEvent?.({
      state: 'up',
      path: e.path,
      edge: e.edge,
      note: e.note,
      afterMs: Math.round(performance.now() - this.#restartStartedAt),
    });
  }
}
