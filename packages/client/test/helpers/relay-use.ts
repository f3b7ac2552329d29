/**
 * The relay proven per call, from the server's own counter (issue 25): the relay's
 * `bytesRelayed` must rise during a relayed call by about both directions' bitrate × the call's
 * duration.
 *
 * What the counter counts (server/src/turn/data-path.ts): the bytes of every datagram an
 * allocation sends to a peer and of every datagram it receives from one (RTP header and SRTP tag
 * included, UDP/IP and TURN framing not). When both ends are relayed, each packet leaves the
 * sender's allocation and arrives at the receiver's: two counts per packet (`legs` = 2).
 */
import assert from 'node:assert/strict';

/**
 * Lower bound of the rise, as a fraction of 2 × bitrate × duration: Opus VBR spends less than
 * the target on speech pauses (espeak's test speech is ~25 % pauses), and the first packets of
 * each side start up to a few hundred ms after the other's.
 */
export const RELAYED_MIN_RATIO = 0.8;
/**
 * Upper bound: RTP header (12 bytes), SRTP GCM tag (16), header extensions and RTCP add ≈ 35 %
 * at 20 ms frames (measured 1.34 at 32 kbit/s); 1.8 leaves room for FEC bits on lossy paths,
 * while a third leg (duplicated forwarding, another call's traffic) would be ≥ 2.
 */
export const RELAYED_MAX_RATIO = 1.8;

/**
 * Asserts that `bytes` relayed during a call of `durationMs` at `bitrateBps` (per direction,
 * Opus target) is about legs × 2 directions × bitrate × duration. Returns a line for
 * diagnostics.
 */
export function assertRelayedCall(
  bytes: number,
  durationMs: number,
  bitrateBps: number,
  legs = 2,
): string {
  const expected = (legs * 2 * bitrateBps * durationMs) / 1000 / 8;
  const ratio = bytes / expected;
  const line = `relayed ${bytes} bytes in ${(durationMs / 1000).toFixed(1)} s = ${ratio.toFixed(2)} × ${legs} legs × 2 directions × ${bitrateBps / 1000} kbit/s`;
  assert.ok(ratio >= RELAYED_MIN_RATIO && ratio <= RELAYED_MAX_RATIO, line);
  return line;
}
