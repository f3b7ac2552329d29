/**
 * The set of TURN allocations: indexes by client 5-tuple, relayed port, call and user; the quotas;
 * creation and deletion (with the change hook that the native forwarding thread mirrors); expiry
 * of allocations, permissions and channels. Pure: time comes in as `nowMs`. The counterpart of
 * pion/turn's `internal/allocation/allocation_manager.go`; the requests that drive it are
 * dispatched by `turn-core.ts`.
 */
import { isLive, newAllocation, type Allocation, type AllocationInit } from './allocation.ts';
import type { Refusal, TurnLogger } from './allocation.ts';
import { expireChannels } from './channel-bind.ts';
import { expirePermissions } from './permission.ts';

/** Options of {@link AllocationManager}. */
export interface AllocationManagerOptions {
  /** Max allocations per user of a call. */
  maxAllocationsPerUser: number;
  /** Max allocations per call. */
  maxAllocationsPerCall: number;
  /** Max allocations in total. */
  maxAllocations: number;
  /** Per-allocation bandwidth cap, bytes/s: a new allocation's bucket starts full. */
  bandwidthBytesPerSec: number;
  /** Bench mode: no per-user or per-call quota (no calls behind the credentials). */
  bench: boolean;
  /** Logger of creations and deletions. */
  logger: TurnLogger;
  /**
   * Called when an allocation is created (`deleted` false) and when it is deleted (`deleted`
   * true, before the deletion is logged, so the hook may add to `packets`).
   */
  onChange: (allocation: Allocation, deleted: boolean) => void;
}

/** The live allocations of one relay. */
export class AllocationManager {
  #opts: AllocationManagerOptions;
  #byClient = new Map<string, Allocation>();
  #byRelayPort = new Map<number, Allocation>();
  #byCall = new Map<string, Set<Allocation>>();
  #byUser = new Map<string, number>();

  constructor(options: AllocationManagerOptions) {
    this.#opts = { ...options };
  }

  /** Number of live allocations. */
  get size(): number {
    return this.#byClient.size;
  }

  /** The allocation of a client 5-tuple, if any. */
  byClient(clientKey: string): Allocation | undefined {
    return this.#byClient.get(clientKey);
  }

  /** The allocation whose relayed port is `port`, if any. */
  byRelayPort(port: number): Allocation | undefined {
    return this.#byRelayPort.get(port);
  }

  /** The live allocations of a call. */
  ofCall(callId: string): ReadonlySet<Allocation> | undefined {
    return this.#byCall.get(callId);
  }

  /** All live allocations (a snapshot). */
  all(): Allocation[] {
    return [...this.#byClient.values()];
  }

  /**
   * Whether `port` of the relay address is a live allocation's relay port that can take what
   * `kind` sends: datagrams (a UDP relay socket) or a TCP connection (an RFC 6062 listener).
   */
  isLiveRelayPort(port: number, kind: 'udp' | 'tcp', nowMs: number): boolean {
    const t = this.#byRelayPort.get(port);
    return t !== undefined && isLive(t, nowMs) && t.tcpRelay === (kind === 'tcp');
  }

  /**
   * The quota a new allocation of `userId` in `callId` would break (486), or undefined: the total
   * cap, then (outside bench mode) per user of the call and per call.
   */
  quotaRefusal(callId: string, userId: string): Refusal | undefined {
    if (this.#byClient.size >= this.#opts.maxAllocations) {
      return { code: 486, why: 'server allocation quota' };
    }
    if (this.#opts.bench) return undefined;
    const perUser = this.#byUser.get(`${callId}\n${userId}`) ?? 0;
    const perCall = this.#byCall.get(callId)?.size ?? 0;
    if (perUser >= this.#opts.maxAllocationsPerUser) {
      return { code: 486, why: 'per-user allocation quota' };
    }
    if (perCall >= this.#opts.maxAllocationsPerCall) {
      return { code: 486, why: 'per-call allocation quota' };
    }
    return undefined;
  }

  /** Creates and indexes an allocation at `nowMs`, and logs it. */
  create(init: AllocationInit, nowMs: number): Allocation {
    const a = newAllocation(init, nowMs, this.#opts.bandwidthBytesPerSec);
    this.#byClient.set(a.client.key, a);
    this.#byRelayPort.set(a.relay.port, a);
    let set = this.#byCall.get(a.callId);
    if (!set) this.#byCall.set(a.callId, (set = new Set()));
    set.add(a);
    const userKey = `${a.callId}\n${a.userId}`;
    this.#byUser.set(userKey, (this.#byUser.get(userKey) ?? 0) + 1);
    this.#opts.onChange(a, false);
    this.#opts.logger.info(
      {
        client: `${a.client.transport}:${a.client.ip}:${a.client.port}`,
        relay: `${a.relay.ip}:${a.relay.port}`,
        callId: a.callId,
        userId: a.userId,
      },
      'turn allocation created',
    );
    return a;
  }

  /** Deletes `a` (once; later calls do nothing) and logs why. */
  delete(a: Allocation, reason: string): void {
    if (a.deleted) return;
    a.deleted = true;
    this.#byClient.delete(a.client.key);
    if (this.#byRelayPort.get(a.relay.port) === a) this.#byRelayPort.delete(a.relay.port);
    const set = this.#byCall.get(a.callId);
    if (set) {
      set.delete(a);
      if (set.size === 0) this.#byCall.delete(a.callId);
    }
    const userKey = `${a.callId}\n${a.userId}`;
    const n = (this.#byUser.get(userKey) ?? 1) - 1;
    if (n <= 0) this.#byUser.delete(userKey);
    else this.#byUser.set(userKey, n);
    this.#opts.onChange(a, true);
    this.#opts.logger.info(
      { relay: `${a.relay.ip}:${a.relay.port}`, callId: a.callId, packets: a.packets, reason },
      'turn allocation deleted',
    );
  }

  /** Deletes every allocation of `callId` (hang-up) and returns them. */
  deleteCall(callId: string): Allocation[] {
    const set = this.#byCall.get(callId);
    if (!set) return [];
    const gone = [...set];
    for (const a of gone) this.delete(a, 'call ended');
    return gone;
  }

  /**
   * Expires allocations (deleted and returned), permissions and channels (RFC 8656 §9, §12) due at
   * `nowMs`.
   */
  expire(nowMs: number): Allocation[] {
    const gone: Allocation[] = [];
    for (const a of this.#byClient.values()) {
      if (a.expiresAtMs <= nowMs) {
        gone.push(a);
        continue;
      }
      expirePermissions(a, nowMs);
      expireChannels(a, nowMs);
    }
    for (const a of gone) this.delete(a, 'lifetime expired');
    return gone;
  }

  /**
   * When the next allocation, permission or channel expires, ms on the core's clock (undefined:
   * nothing to expire).
   */
  nextExpiryMs(): number | undefined {
    let next = Infinity;
    for (const a of this.#byClient.values()) {
      next = Math.min(next, a.expiresAtMs);
      for (const exp of a.permissions.values()) next = Math.min(next, exp);
      for (const c of a.channels.values()) next = Math.min(next, c.expiresAtMs);
    }
    return next === Infinity ? undefined : next;
  }
}
