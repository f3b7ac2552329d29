/**
 * Registered names by confusable skeleton (Unicode TS #39, issue 17): which user already owns a
 * name that looks like a new one. In memory, loaded from the store at start and kept in step
 * with registrations and renames by the signalling core.
 * @module
 */
import { nameSkeletons } from '@parloir/protocol';

/** Index of registered names by their confusable skeletons. */
export class NameIndex {
  /** skeleton → user id of the first user whose name has it. */
  #bySkeleton = new Map<string, string>();
  /** user id → the name indexed for them. */
  #nameOf = new Map<string, string>();

  /**
   * Indexes `name` as `userId`'s, replacing the user's previous name.
   * @param skeletons `nameSkeletons(name)`, when the caller has them already.
   */
  set(userId: string, name: string, skeletons = nameSkeletons(name)): void {
    const old = this.#nameOf.get(userId);
    if (old !== undefined)
      for (const s of nameSkeletons(old))
        if (this.#bySkeleton.get(s) === userId) this.#bySkeleton.delete(s);
    this.#nameOf.set(userId, name);
    for (const s of skeletons) if (!this.#bySkeleton.has(s)) this.#bySkeleton.set(s, userId);
  }

  /**
   * The user, other than `userId`, whose registered name looks like `name` (shares a skeleton),
   * with that name; undefined if none.
   * @param skeletons `nameSkeletons(name)`, when the caller has them already.
   */
  lookAlikeOf(
    name: string,
    userId: string,
    skeletons = nameSkeletons(name),
  ): { userId: string; name: string } | undefined {
    for (const s of skeletons) {
      const owner = this.#bySkeleton.get(s);
      if (owner !== undefined && owner !== userId)
        return { userId: owner, name: this.#nameOf.get(owner) ?? '' };
    }
    return undefined;
  }

  /** Number of users indexed. */
  get size(): number {
    return this.#nameOf.size;
  }
}
