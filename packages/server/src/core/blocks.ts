/**
 * Blocks: who blocks whom. {@link BlockIndex} is the in-memory index the other modules read
 * (presence hides a blocker from the blocked, calls refuse, chat drops); {@link Blocks} handles
 * `block.add`, `block.remove` and `block.list`, writes through the storage port, and shows the
 * blocked user the blocker leave (or come back). Sans-IO.
 * @module
 */
import {
  SignalingError,
  type ClientRequest,
  type RequestResult,
  type UserInfo,
} from '@parloir/protocol';
import type { CoreContext, Session } from './context.ts';
import type { StorePort } from './store-port.ts';

/** Who blocks whom, in memory; loaded from the store at start. */
export class BlockIndex {
  /** blocker → users they block. */
  #blocks = new Map<string, Set<string>>();
  /** blocked user → how many users block them. */
  #blockedBy = new Map<string, number>();

  /** Loads every stored block. */
  load(store: Pick<StorePort, 'allBlocks'>): void {
    for (const b of store.allBlocks()) this.add(b.blocker, b.blocked);
  }

  /** Whether `blocker` blocks `blocked`. */
  blocks(blocker: string, blocked: string): boolean {
    return this.#blocks.get(blocker)?.has(blocked) === true;
  }

  /** The users `blocker` blocks. */
  blockedBy(blocker: string): ReadonlySet<string> {
    return this.#blocks.get(blocker) ?? EMPTY;
  }

  /** How many users block `userId`. */
  blockerCount(userId: string): number {
    return this.#blockedBy.get(userId) ?? 0;
  }

  /** Adds a block; false if it was there already. */
  add(blocker: string, blocked: string): boolean {
    let set = this.#blocks.get(blocker);
    if (!set) this.#blocks.set(blocker, (set = new Set()));
    if (set.has(blocked)) return false;
    set.add(blocked);
    this.#blockedBy.set(blocked, this.blockerCount(blocked) + 1);
    return true;
  }

  /** Removes a block; false if there was none. */
  remove(blocker: string, blocked: string): boolean {
    if (this.#blocks.get(blocker)?.delete(blocked) !== true) return false;
    const n = this.blockerCount(blocked) - 1;
    if (n > 0) this.#blockedBy.set(blocked, n);
    else this.#blockedBy.delete(blocked);
    return true;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** The presence operations blocks need (presence.ts). */
export interface BlockPresence {
  /** `s` as the others see it in presence. */
  infoOf(s: Session): UserInfo;
}

/** The block requests a session may make. */
export type BlockRequest = Extract<
  ClientRequest,
  { type: 'block.add' } | { type: 'block.remove' } | { type: 'block.list' }
>;

/** Handles the block requests. */
export class Blocks {
  #ctx: CoreContext;
  #index: BlockIndex;
  #presence: BlockPresence;

  constructor(ctx: CoreContext, index: BlockIndex, presence: BlockPresence) {
    this.#ctx = ctx;
    this.#index = index;
    this.#presence = presence;
  }

  /** Handles one request of `s`; events to others follow the result (ctx.afterResult). */
  handleRequest(s: Session, req: BlockRequest, nowMs: number): object | SignalingError {
    switch (req.type) {
      case 'block.add':
        return this.#block(s, req.userId, nowMs);
      case 'block.remove':
        return this.#unblock(s, req.userId);
      case 'block.list': {
        const users = [...this.#index.blockedBy(s.userId)].map((userId) => ({
          userId,
          name: this.#ctx.store.userById(userId)?.name ?? 'unknown',
        }));
        return { users } satisfies RequestResult<'block.list'>;
      }
    }
  }

  #block(s: Session, target: string, nowMs: number): object | SignalingError {
    if (target === s.userId) return new SignalingError('SIG_ERR_SELF', 'you cannot block yourself');
    const ctx = this.#ctx;
    if (!ctx.store.userById(target))
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'unknown user');
    ctx.store.addBlock(s.userId, target, nowMs);
    if (!this.#index.add(s.userId, target)) return {};
    // The blocked user now sees us leave.
    const victim = ctx.sessions.get(target);
    if (victim)
      ctx.afterResult(() => ctx.event(victim.conn, 'presence.diff', { left: [s.userId] }));
    return {};
  }

  #unblock(s: Session, target: string): object | SignalingError {
    const ctx = this.#ctx;
    ctx.store.removeBlock(s.userId, target);
    if (!this.#index.remove(s.userId, target)) return {};
    const victim = ctx.sessions.get(target);
    if (victim) {
      ctx.afterResult(() =>
        ctx.event(victim.conn, 'presence.diff', { joined: [this.#presence.infoOf(s)] }),
      );
    }
    return {};
  }
}
