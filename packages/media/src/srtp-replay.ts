/**
 * The SRTP replay list of RFC 3711 §3.3.2 for one receive session, one list per SSRC, shared by
 * the JavaScript receive paths of a call (werift's and the fast path). The C receiver
 * (`packages/native/src/receiver.c`) keeps the same list for the packets it opens itself.
 *
 * A packet is named by its 48-bit index `ROC · 2^16 + SEQ` (RFC 3711 §3.3.1). A receiver first
 * {@link SrtpReplayList.check}s the index (before the cost of authenticating), then, once the tag
 * has verified, {@link SrtpReplayList.commit}s it; a packet that does not authenticate changes
 * nothing. Verdicts:
 * - `fresh`: never received, and not older than the window: pass it on;
 * - `replayed`: this index was received already (a duplicate or a replay);
 * - `too-old`: more than the window behind the highest index received: whether it was received
 *   is no longer known, so it is dropped (RFC 3711 §3.3.2). Such a packet would reach the jitter
 *   buffer as a jump back that resets it (more than 2,048 behind) or as a late packet.
 *
 * The window is a ring of the last {@link SRTP_REPLAY_WINDOW} indices (slot `index mod W` holds
 * the index last received there), which is the bitmask of the RFC without the shifting.
 *
 * Sans-IO: no clock, no sockets.
 */
import { MediaError } from './errors.ts';

/** Default window: packets, as libsrtp's (RFC 3711 §3.3.2 asks for at least 64). */
export const SRTP_REPLAY_WINDOW = 128;
/** SSRCs a list keeps at most; the least recently received goes first. */
export const SRTP_REPLAY_MAX_SSRCS = 16;

/** What {@link SrtpReplayList.check} says of a packet index. */
export type SrtpReplayVerdict = 'fresh' | 'replayed' | 'too-old';

/** Options of {@link SrtpReplayList}. */
export interface SrtpReplayListOptions {
  /** Window size, packets: 64 to 32,768. Default {@link SRTP_REPLAY_WINDOW}. */
  windowPackets?: number;
}

/** Counters of a {@link SrtpReplayList}. */
export interface SrtpReplayStats {
  /** Packets whose index had been received already. */
  replayed: number;
  /** Packets more than the window behind the highest index received. */
  tooOld: number;
}

/** The packet index of RFC 3711 §3.3.1: `roc · 2^16 + seq` (exact in a double up to 2^53). */
export function srtpIndex(rolloverCounter: number, sequenceNumber: number): number {
  return (rolloverCounter >>> 0) * 0x10000 + (sequenceNumber & 0xffff);
}

/**
 * RFC 3711 Appendix A: the ROC of `seq` given the highest sequence number `highestSeq` received
 * with `roc`. A packet more than 2^15 behind is guessed a cycle ahead (and fails to authenticate).
 */
export function guessRolloverCounter(roc: number, highestSeq: number, seq: number): number {
  if (highestSeq < 0x8000) return seq - highestSeq > 0x8000 ? (roc - 1) >>> 0 : roc >>> 0;
  return highestSeq - 0x8000 > seq ? (roc + 1) >>> 0 : roc >>> 0;
}

interface Stream {
  highest: number;
  seen: Float64Array;
}

/** RFC 3711 §3.3.2 replay lists of one receive session, by SSRC. */
export class SrtpReplayList {
  #window: number;
  #streams = new Map<number, Stream>();
  #replayed = 0;
  #tooOld = 0;

  /** @throws MediaError `MEDIA_ERR_BAD_OPTION` for a window outside 64..32,768 packets */
  constructor(options: SrtpReplayListOptions = {}) {
    const w = options.windowPackets ?? SRTP_REPLAY_WINDOW;
    if (!Number.isInteger(w) || w < 64 || w > 0x8000) {
      throw new MediaError('MEDIA_ERR_BAD_OPTION', `windowPackets must be 64..32768, got ${w}`);
    }
    this.#window = w;
  }

  /**
   * The verdict on packet `index` of `ssrc` (see {@link srtpIndex}), without recording it. An SSRC
   * never committed or seeded is `fresh`. Counts `replayed` and `too-old` verdicts in
   * {@link stats}: call it once per received packet.
   */
  check(ssrc: number, index: number): SrtpReplayVerdict {
    const s = this.#streams.get(ssrc >>> 0);
    if (s === undefined || index > s.highest) return 'fresh';
    if (s.highest - index >= this.#window) {
      this.#tooOld++;
      return 'too-old';
    }
    if (s.seen[index % this.#window] === index) {
      this.#replayed++;
      return 'replayed';
    }
    return 'fresh';
  }

  /** Records packet `index` of `ssrc` as received; call once its tag has verified. */
  commit(ssrc: number, index: number): void {
    const key = ssrc >>> 0;
    let s = this.#streams.get(key);
    if (s === undefined) {
      if (this.#streams.size >= SRTP_REPLAY_MAX_SSRCS) {
        const oldest = this.#streams.keys().next();
        if (oldest.done !== true) this.#streams.delete(oldest.value);
      }
      s = { highest: index, seen: new Float64Array(this.#window).fill(-1) };
    } else {
      this.#streams.delete(key); // re-inserted below: the map's order is recency
    }
    this.#streams.set(key, s);
    s.seen[index % this.#window] = index;
    if (index > s.highest) s.highest = index;
  }

  /**
   * The indices of `ssrc` received within the window, oldest first (to hand the list over to
   * another receiver, such as the C one).
   */
  received(ssrc: number): number[] {
    const s = this.#streams.get(ssrc >>> 0);
    if (s === undefined) return [];
    const out: number[] = [];
    for (const index of s.seen) if (index >= 0 && s.highest - index < this.#window) out.push(index);
    return out.sort((a, b) => a - b);
  }

  /** The highest index committed for `ssrc`, or undefined. */
  highest(ssrc: number): number | undefined {
    return this.#streams.get(ssrc >>> 0)?.highest;
  }

  /** Packets refused so far. */
  get stats(): SrtpReplayStats {
    return { replayed: this.#replayed, tooOld: this.#tooOld };
  }
}
