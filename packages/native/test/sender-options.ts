/** Sender options for tests: a sender on `fd` to 127.0.0.1:`port`, all keys zero, 20 ms frames. */
import type { NativeRtpSenderOptions } from '../sender.ts';

export function senderOptions(
  fd: number,
  port = 9,
  over: Partial<NativeRtpSenderOptions> = {},
): NativeRtpSenderOptions {
  return {
    fd,
    address: '127.0.0.1',
    port,
    ssrc: 1,
    payloadType: 111,
    sequenceNumber: 0,
    rolloverCounter: 0,
    timestampOffset: 0,
    key: new Uint8Array(16),
    salt: new Uint8Array(12),
    frameSamples: 960,
    bitrateBps: 32_000,
    ...over,
  };
}
