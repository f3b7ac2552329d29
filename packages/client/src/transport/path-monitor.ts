/**
 * When a call's media path needs an ICE restart (RFC 8445 §2.4), decided from observations only:
 * a sans-IO core (no timers, no sockets, no clock — time comes in as an argument), driven by the
 * path keeper (signaling/path-keeper.ts) with what it reads every poll, and tested with a fake
 * clock.
 *
 * - `address-changed`: the selected pair's local host address is no longer on any interface (a
 *   laptop left a Wi-Fi network; an address was removed). Only host candidates: a relayed or
 *   reflexive candidate's address is not ours.
 * - `consent-failed`: the selected pair carries nothing for {@link PathMonitorOptions.silenceMs}
 *   while it should (RFC 7675 §5.1 lets an agent judge consent lost sooner than the 30 s werift
 *   waits, and an audio call sends 50 packets/s, or one every 400 ms in DTX), or werift reports
 *   the ICE transport failed or disconnected.
 *
 * After a restart the monitor waits {@link PathMonitorOptions.holdOffMs} before it judges again,
 * doubled after each restart that did not bring packets back (capped at 8×): a dead network is
 * not flooded with offers.
 */
import type { IceRestartReason } from '@parloir/protocol';

/** What the path keeper observed at one poll. */
export interface PathObservation {
  /** Now, ms on any monotonic clock. */
  nowMs: number;
  /** Packets received by the call so far (cumulative). */
  packetsReceived: number;
  /** The selected pair's local candidate, if one is selected. */
  local?: { address: string; type: string } | undefined;
  /** Addresses on the machine's interfaces now; undefined when unknown (not judged). */
  interfaceAddresses?: readonly string[] | undefined;
  /** werift's ICE connection state. */
  iceState?: string | undefined;
  /** A restart is under way (offer/answer or checks). */
  restarting: boolean;
}

/** Options of {@link PathMonitor}. */
export interface PathMonitorOptions {
  /** No packet received for this long means the pair failed, ms. Default 2000. */
  silenceMs?: number;
  /** After a restart, how long before judging again, ms. Default 3000. */
  holdOffMs?: number;
}

/** Decides when the path needs an ICE restart (see the module comment). */
export class PathMonitor {
  #silenceMs: number;
  #holdOffMs: number;
  #lastPackets = -1;
  #lastPacketAtMs: number | undefined;
  #quietUntilMs = 0;
  #failedRestarts = 0;

  constructor(options: PathMonitorOptions = {}) {
    this.#silenceMs = options.silenceMs ?? 2000;
    this.#holdOffMs = options.holdOffMs ?? 3000;
  }

  /** The reason to restart now, or undefined. Call at every poll. */
  handleInput(o: PathObservation): IceRestartReason | undefined {
    if (o.packetsReceived !== this.#lastPackets) {
      if (this.#lastPackets >= 0 && o.packetsReceived > this.#lastPackets) {
        this.#failedRestarts = 0;
      }
      this.#lastPackets = o.packetsReceived;
      this.#lastPacketAtMs = o.nowMs;
    }
    this.#lastPacketAtMs ??= o.nowMs;
    if (o.restarting || o.nowMs < this.#quietUntilMs) return undefined;
    if (
      o.local !== undefined &&
      o.local.type === 'host' &&
      o.interfaceAddresses !== undefined &&
      !o.interfaceAddresses.includes(o.local.address)
    ) {
      return 'address-changed';
    }
    if (o.iceState === 'failed' || o.iceState === 'disconnected') return 'consent-failed';
    if (o.nowMs - this.#lastPacketAtMs >= this.#silenceMs) return 'consent-failed';
    return undefined;
  }

  /** How long no packet has arrived, ms (as of the last observation's packets). */
  silentForMs(nowMs: number): number {
    return this.#lastPacketAtMs === undefined ? 0 : nowMs - this.#lastPacketAtMs;
  }

  /** A restart began at `nowMs`: hold off judging, longer after restarts that did not help. */
  restarted(nowMs: number): void {
    const factor = 2 ** Math.min(3, this.#failedRestarts);
    this.#failedRestarts++;
    this.#quietUntilMs = nowMs + this.#holdOffMs * factor;
    // Silence is measured from the restart on, not from before it.
    this.#lastPacketAtMs = nowMs;
  }
}
