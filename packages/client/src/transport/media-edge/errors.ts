/**
 * The typed error of the media edge: werift (pinned to 0.25.2) or Node no longer has a member the
 * direct edge reads or replaces. The call then runs on the werift edge (edge.ts), and the error
 * is logged, kept in the QoS log's `start` record and in the transport's statistics.
 */
import { ClientError } from '../../errors.ts';

/** Codes of {@link MediaEdgeError}. */
export type MediaEdgeErrorCode = 'MEDIA_EDGE_WERIFT_CHANGED' | 'MEDIA_EDGE_NODE_CHANGED';

/** A werift or Node internal the media edge needs is missing or has another shape. */
export class MediaEdgeError extends ClientError {
  declare readonly code: MediaEdgeErrorCode;
  /** The member, as `Class.field` (`RTCRtpSender.seqOffset`, `SrtpCipher.srtpSessionKey`). */
  readonly member: string;
  constructor(code: MediaEdgeErrorCode, member: string, found: string) {
    super(code, `${member}: ${found}`);
    this.name = 'MediaEdgeError';
    this.member = member;
  }
}

/** werift changed: `member` is missing or not what 0.25.2 has. */
export function weriftChanged(member: string, found: string): MediaEdgeError {
  return new MediaEdgeError('MEDIA_EDGE_WERIFT_CHANGED', member, found);
}

/** Node changed: `member` (of `node:dgram`'s internals) is missing or has another shape. */
export function nodeChanged(member: string, found: string): MediaEdgeError {
  return new MediaEdgeError('MEDIA_EDGE_NODE_CHANGED', member, found);
}

/** How a value looked, for an error message: `undefined`, `number`, `KeyObject`… */
export function shapeOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? name : 'object';
}
