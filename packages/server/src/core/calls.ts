/**
 * The server's authoritative call state machine, one per call, and the table of live calls.
 * Pure: no I/O, time comes in as `nowMs`. The signalling core routes its results to clients.
 *
 *   inviting ──ring──► ringing ──accept──► accepted ──end──► (removed)
 *       └──────────────────┴──── end (rejected|cancelled|timeout|disconnected|…) ──► (removed)
 */
import { SignalingError, type CallEndReason } from '@parloir/protocol';

/** Where a live call is. */
export type ServerCallState = 'inviting' | 'ringing' | 'accepted';

/** A live call. */
export interface LiveCall {
  readonly callId: string;
  readonly caller: string;
  readonly callee: string;
  state: ServerCallState;
  /** Invite time, Unix ms. */
  readonly createdAt: number;
  /** Accept time, Unix ms. */
  answeredAt?: number;
  /** When an unanswered call times out, Unix ms. */
  readonly ringDeadline: number;
}

/** Inputs of the call machine. */
export type CallAction =
  | { kind: 'ring'; by: string }
  | { kind: 'accept'; by: string }
  | { kind: 'reject'; by: string }
  | { kind: 'cancel'; by: string }
  | { kind: 'hangup'; by: string };

/** What an action did. */
export type CallActionResult =
  | { ok: true; call: LiveCall; effect: 'rang' | 'accepted' | 'ended'; reason?: CallEndReason }
  | { ok: false; error: SignalingError };

/** Options of {@link CallTable}. */
export interface CallTableOptions {
  /** How long an unanswered call rings before ending with `timeout`, ms. */
  ringTimeoutMs: number;
}

/** Live calls by id and by user. One call per user. */
export class CallTable {
  #byId = new Map<string, LiveCall>();
  #byUser = new Map<string, LiveCall>();
  #ringTimeoutMs: number;

  constructor(options: CallTableOptions) {
    this.#ringTimeoutMs = options.ringTimeoutMs;
  }

  /** Number of live calls per state. */
  countByState(): Record<ServerCallState, number> {
    const out = { inviting: 0, ringing: 0, accepted: 0 };
    for (const c of this.#byId.values()) out[c.state]++;
    return out;
  }

  /** Every live call. */
  values(): IterableIterator<LiveCall> {
    return this.#byId.values();
  }

  /** The live call with this id. */
  get(callId: string): LiveCall | undefined {
    return this.#byId.get(callId);
  }

  /** The live call `userId` is in. */
  ofUser(userId: string): LiveCall | undefined {
    return this.#byUser.get(userId);
  }

  /** Creates a call; both parties must be free (the caller checks). */
  create(callId: string, caller: string, callee: string, nowMs: number): LiveCall {
    const call: LiveCall = {
      callId,
      caller,
      callee,
      state: 'inviting',
      createdAt: nowMs,
      ringDeadline: nowMs + this.#ringTimeoutMs,
    };
    this.#byId.set(callId, call);
    this.#byUser.set(caller, call);
    this.#byUser.set(callee, call);
    return call;
  }

  /**
   * Puts back an accepted call the server had when it last stopped (restored from the store at
   * start, issue 21 §3). Both parties must be free (the caller checks).
   */
  restore(
    c: { callId: string; caller: string; callee: string; createdAt: number; answeredAt: number },
    nowMs: number,
  ): LiveCall {
    const call: LiveCall = {
      callId: c.callId,
      caller: c.caller,
      callee: c.callee,
      state: 'accepted',
      createdAt: c.createdAt,
      answeredAt: c.answeredAt,
      ringDeadline: nowMs,
    };
    this.#byId.set(call.callId, call);
    this.#byUser.set(call.caller, call);
    this.#byUser.set(call.callee, call);
    return call;
  }

  /** Removes a call (it ended). */
  remove(call: LiveCall): void {
    this.#byId.delete(call.callId);
    if (this.#byUser.get(call.caller) === call) this.#byUser.delete(call.caller);
    if (this.#byUser.get(call.callee) === call) this.#byUser.delete(call.callee);
  }

  /** Marks a call accepted directly (glare merge). */
  forceAccept(call: LiveCall, nowMs: number): void {
    call.state = 'accepted';
    call.answeredAt = nowMs;
  }

  /** Applies a party's action to call `callId`. Illegal ones return a typed error. */
  apply(callId: string, action: CallAction, nowMs: number): CallActionResult {
    const call = this.#byId.get(callId);
    if (!call || (call.caller !== action.by && call.callee !== action.by)) {
      return {
        ok: false,
        error: new SignalingError('SIG_ERR_NOT_IN_CALL', `no call ${callId} of yours`),
      };
    }
    const isCallee = call.callee === action.by;
    const bad = (): CallActionResult => ({
      ok: false,
      error: new SignalingError(
        'SIG_ERR_ILLEGAL_TRANSITION',
        `cannot ${action.kind} call ${callId} as ${isCallee ? 'callee' : 'caller'} while ${call.state}`,
      ),
    });
    switch (action.kind) {
      case 'ring':
        if (!isCallee || call.state !== 'inviting') return bad();
        call.state = 'ringing';
        return { ok: true, call, effect: 'rang' };
      case 'accept':
        if (!isCallee || call.state === 'accepted') return bad();
        call.state = 'accepted';
        call.answeredAt = nowMs;
        return { ok: true, call, effect: 'accepted' };
      case 'reject':
        if (!isCallee || call.state === 'accepted') return bad();
        this.remove(call);
        return { ok: true, call, effect: 'ended', reason: 'rejected' };
      case 'cancel':
        if (isCallee || call.state === 'accepted') return bad();
        this.remove(call);
        return { ok: true, call, effect: 'ended', reason: 'cancelled' };
      case 'hangup':
        if (call.state !== 'accepted') return bad();
        this.remove(call);
        return { ok: true, call, effect: 'ended', reason: 'hangup' };
    }
  }

  /** Removes and returns the unanswered calls whose ring deadline has passed. */
  expire(nowMs: number): LiveCall[] {
    const out: LiveCall[] = [];
    for (const c of this.#byId.values()) {
      if (c.state !== 'accepted' && c.ringDeadline <= nowMs) out.push(c);
    }
    for (const c of out) this.remove(c);
    return out;
  }
}
