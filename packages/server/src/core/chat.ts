/**
 * Chat: `chat.send`, `chat.received` and `chat.history`, and the delivery of stored messages
 * when a user comes online. A message is stored through the port before it is acknowledged or
 * delivered, and both frames are marked durable (they leave once the store's chat writes are on
 * disk). A message to someone who blocks the sender is stored but dropped: the sender learns
 * nothing. Sans-IO.
 * @module
 */
import {
  MAX_CHAT_CHARS,
  MAX_HISTORY_PAGE,
  SignalingError,
  type ClientRequest,
  type RequestResult,
} from '@parloir/protocol';
import type { BlockIndex } from './blocks.ts';
import type { CoreContext, Session } from './context.ts';
import type { ChatQuotaVerdict } from './limits.ts';

/** The chat requests a session may make. */
export type ChatRequest = Extract<
  ClientRequest,
  { type: 'chat.send' } | { type: 'chat.received' } | { type: 'chat.history' }
>;

/** The chat quota (limits.ts's CoreLimits). */
export interface ChatQuotaPort {
  /** Whether `userId` may store `text` now. */
  chatCheck(userId: string, text: string, nowMs: number): ChatQuotaVerdict;
  /** Counts a stored message. */
  chatRecord(userId: string, text: string, nowMs: number): void;
}

/** Handles chat. */
export class Chat {
  #ctx: CoreContext;
  #blocks: BlockIndex;
  #quota: ChatQuotaPort;

  constructor(ctx: CoreContext, blocks: BlockIndex, quota: ChatQuotaPort) {
    this.#ctx = ctx;
    this.#blocks = blocks;
    this.#quota = quota;
  }

  /** Handles one request of `s`; the delivery to the recipient follows the result. */
  handleRequest(s: Session, req: ChatRequest, nowMs: number): object | SignalingError {
    switch (req.type) {
      case 'chat.send':
        return this.#send(s, req, nowMs);
      case 'chat.received':
        this.#ctx.store.markDelivered(s.userId, req.msgIds, nowMs);
        return {};
      case 'chat.history': {
        const limit = Math.min(req.limit ?? 50, MAX_HISTORY_PAGE);
        return this.#ctx.store.history(
          s.userId,
          req.with,
          req.before,
          limit,
        ) satisfies RequestResult<'chat.history'>;
      }
    }
  }

  /** Sends `session` the messages stored for it and not yet confirmed. */
  deliverStored(session: Session): void {
    for (const m of this.#ctx.store.undelivered(session.userId))
      this.#ctx.event(session.conn, 'chat.message', m);
  }

  #send(
    s: Session,
    req: Extract<ClientRequest, { type: 'chat.send' }>,
    nowMs: number,
  ): RequestResult<'chat.send'> | SignalingError {
    const ctx = this.#ctx;
    if (req.text.length > MAX_CHAT_CHARS) {
      return new SignalingError(
        'SIG_ERR_MESSAGE_TOO_LONG',
        `a message is at most ${MAX_CHAT_CHARS} characters (got ${req.text.length})`,
      );
    }
    if (req.to === s.userId)
      return new SignalingError('SIG_ERR_SELF', 'you cannot message yourself');
    if (!ctx.store.userById(req.to))
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'this user is unavailable');
    if (this.#blocks.blocks(s.userId, req.to)) {
      return new SignalingError('SIG_ERR_BLOCKED', 'you block this user; unblock them to write');
    }
    const quota = this.#quota.chatCheck(s.userId, req.text, nowMs);
    if (!quota.ok) return new SignalingError('SIG_ERR_CHAT_QUOTA', quota.message);
    // Dropped (not refused) when the recipient blocks the sender: the sender learns nothing.
    const dropped = this.#blocks.blocks(req.to, s.userId);
    const { message, duplicate } = ctx.store.insertMessage(
      { from: s.userId, to: req.to, clientMsgId: req.clientMsgId, text: req.text, ts: nowMs },
      dropped,
    );
    // Even a duplicate's answer waits: its first copy may not be on disk yet.
    ctx.chatWritten = true;
    if (!duplicate) {
      ctx.counters.chatMessages++;
      this.#quota.chatRecord(s.userId, req.text, nowMs);
    }
    const recipient = ctx.sessions.get(req.to);
    if (recipient && !dropped && !duplicate) {
      ctx.afterResult(() => ctx.event(recipient.conn, 'chat.message', message));
    }
    return { msgId: message.msgId, ts: message.ts };
  }
}
