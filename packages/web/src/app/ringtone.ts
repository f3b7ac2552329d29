/**
 * The incoming-call ringtone, synthesized with WebAudio (no audio file to ship): two short
 * two-tone chirps every 2 s, like a desk phone.
 */

/** Plays the ringtone until `stop()`. */
export class Ringtone {
  #ctx: AudioContext | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Starts ringing (no-op if already ringing or WebAudio is missing). */
  start(): void {
    if (this.#ctx !== null || typeof AudioContext === 'undefined') return;
    const ctx = new AudioContext();
    this.#ctx = ctx;
    const ring = (): void => {
      const t0 = ctx.currentTime + 0.02;
      for (const [offsetS, freqHz] of [
        [0, 880],
        [0.12, 1320],
        [0.4, 880],
        [0.52, 1320],
      ] as const) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = freqHz;
        // Short attack/release ramps avoid clicks.
        gain.gain.setValueAtTime(0, t0 + offsetS);
        gain.gain.linearRampToValueAtTime(0.18, t0 + offsetS + 0.01);
        gain.gain.linearRampToValueAtTime(0, t0 + offsetS + 0.11);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t0 + offsetS);
        osc.stop(t0 + offsetS + 0.12);
      }
    };
    ring();
    this.#timer = setInterval(ring, 2000);
  }

  /** Whether it is ringing now. */
  get ringing(): boolean {
    return this.#ctx !== null;
  }

  /** Stops ringing and releases the audio context. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx !== null) void ctx.close();
  }
}
