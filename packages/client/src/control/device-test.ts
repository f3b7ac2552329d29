/**
 * "Test my microphone and speaker" (issue 19 §3): records a few seconds from the capture device,
 * then plays them back on the playback device, and reports the recording's peak level. Record
 * then play, not a live loopback: a live loop through a laptop's speaker and microphone howls.
 * Runs outside calls (the call's C pipeline holds the devices while it runs).
 */
import { ControlApiError } from '@parloir/protocol';
import { openAudioDevice, type CaptureStream } from '../audio/index.ts';

const RATE = 48_000;

/** Options of {@link testDevices}. */
export interface DeviceTestOptions {
  /** Capture device spec. */
  input: string;
  /** Playback device spec. */
  output: string;
  /** Recording length, s. */
  seconds: number;
}

/** What the test measured. */
export interface DeviceTestResult {
  /** Recording length, s. */
  seconds: number;
  /** Peak level of the recording, dBFS (−90.3 for digital silence). */
  peakDb: number;
}

/** Records `seconds` from `input`, plays them on `output`, resolves when played. */
export async function testDevices(o: DeviceTestOptions): Promise<DeviceTestResult> {
  const want = Math.round(o.seconds * RATE);
  const recorded = new Int16Array(want);
  let got = 0;
  let peak = 0;
  let capture: CaptureStream | undefined;
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(
      () => {
        reject(new ControlApiError('CONTROL_ERR_INTERNAL', `${o.input}: no audio captured`));
      },
      o.seconds * 1000 + 5000,
    );
    try {
      capture = openAudioDevice(o.input).openCapture({
        sampleRate: RATE,
        channels: 1,
        frameSamples: 960,
        periodMs: 10,
        onFrame: (frame) => {
          if (got >= want) return;
          const n = Math.min(frame.length, want - got);
          recorded.set(frame.subarray(0, n), got);
          for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(frame[i] ?? 0));
          got += n;
          if (got >= want) {
            clearTimeout(guard);
            resolve();
          }
        },
        onError: (err) => {
          clearTimeout(guard);
          reject(err);
        },
      });
    } catch (err) {
      clearTimeout(guard);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  }).finally(() => capture?.close());
  const playback = openAudioDevice(o.output).openPlayback({
    sampleRate: RATE,
    channels: 1,
    periodMs: 10,
  });
  try {
    // Queued a frame at a time as the device takes it (write refuses when its queue is full).
    const deadline = performance.now() + o.seconds * 1000 + 5000;
    for (let at = 0; at < recorded.length;) {
      const frame = recorded.subarray(at, at + 960);
      if (playback.write(frame)) {
        at += frame.length;
        continue;
      }
      if (performance.now() > deadline) {
        throw new ControlApiError('CONTROL_ERR_INTERNAL', `${o.output}: playback stalled`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await playback.drain();
  } finally {
    playback.close();
  }
  return {
    seconds: o.seconds,
    peakDb: Math.round(20 * Math.log10(Math.max(1, peak) / 32768) * 10) / 10,
  };
}
