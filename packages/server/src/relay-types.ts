/**
 * The contract between the signalling server and the media relay (TURN). Signalling owns calls;
 * the relay owns allocations. Neither imports the other's implementation.
 */

/** One ICE server entry as handed to a client (same shape as WebRTC's RTCIceServer). */
export interface IceServerInfo {
  /** `stun:host:port`, `turn:host:port?transport=udp|tcp`, `turns:…`. */
  urls: string[];
  /** TURN REST-style username `expiry:callId:userId` (expiry in Unix seconds). */
  username?: string;
  /** base64(HMAC-SHA1(secret, username)), as coturn's `use-auth-secret` expects. */
  credential?: string;
}

/** What the signalling server needs from a media relay. */
export interface MediaRelay {
  /**
   * ICE servers for one party of a live call: STUN plus TURN with credentials valid only for
   * this call and user, expiring after `ttlSec` seconds at most.
   */
  iceServersFor(callId: string, userId: string, nowMs: number): IceServerInfo[];
  /** The call ended: delete its allocations and stop forwarding its packets at once. */
  callEnded(callId: string): void;
  /** Whether clients must use only relayed candidates (`--relay-only`). */
  readonly relayOnly: boolean;
}

/** What the relay needs from signalling, to refuse credentials of calls that are not live. */
export interface CallDirectory {
  /** The two user ids of a live call (ringing or accepted), or undefined if it is not live. */
  partiesOf(callId: string): readonly [string, string] | undefined;
}
