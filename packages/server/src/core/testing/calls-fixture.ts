/**
 * Test support for the call-routing tests: a fake relay and a routing module over the in-memory
 * store with two users online. Time is what the test passes. Not used by the server.
 * @module
 */
import type { IceServerInfo, MediaRelay } from '../../relay-types.ts';
import { BlockIndex } from '../blocks.ts';
import { CallRouting } from '../call-routing.ts';
import { CallTable } from '../calls.ts';
import type { Session } from '../context.ts';
import { Harness } from './harness.ts';

/** A fixed start time, Unix ms. */
export const T0 = 1_800_000_000_000;

/** A relay that records what it was asked. */
export class FakeRelay implements MediaRelay {
  readonly relayOnly = false;
  issued: [string, string][] = [];
  ended: string[] = [];
  failIssue = false;
  iceServersFor(callId: string, userId: string): IceServerInfo[] {
    if (this.failIssue) throw new Error('relay down');
    this.issued.push([callId, userId]);
    return [{ urls: ['turn:127.0.0.1:3478'], username: `${callId}:${userId}`, credential: 'x' }];
  }
  callEnded(callId: string): void {
    this.ended.push(callId);
  }
}

/**
 * Call routing over a fake store, table, block index and relay, with alice (`ua`, conn 1) and
 * bob (`ub`, conn 2) online; `req` runs one request as the dispatcher does (result, then the
 * events it queued) and drains the frames.
 */
export function setup(
  opts: { ringTimeoutMs?: number; callAttempt?: () => boolean; callGraceMs?: number } = {},
) {
  const h = new Harness();
  const table = new CallTable({ ringTimeoutMs: opts.ringTimeoutMs ?? 30_000 });
  const blocks = new BlockIndex();
  const relay = new FakeRelay();
  const statusChanges: string[] = [];
  let n = 0;
  const calls = new CallRouting(h.ctx, {
    table,
    blocks,
    callAttempt: opts.callAttempt ?? (() => true),
    statusMaybeChanged: (u) => statusChanges.push(u),
    relay,
    randomId: () => `call${++n}`,
    callGraceMs: opts.callGraceMs ?? 30_000,
  });
  const a = h.online(1, 'ua', 'alice');
  const b = h.online(2, 'ub', 'bob');
  /** One request with its after-result events, as the dispatcher runs it. */
  const req = (s: Session, r: Parameters<CallRouting['handleRequest']>[1], nowMs = T0) => {
    const out = calls.handleRequest(s, r, nowMs);
    h.ctx.runAfterResult();
    h.drain();
    return out;
  };
  return { h, table, blocks, relay, statusChanges, calls, a, b, req };
}
