/**
 * @parloir/media: the sans-IO media core — RTP payloads (Opus, G.711, L16), the adaptive jitter
 * buffer with FEC/PLC, RFC 3550 QoS and the ITU-T G.107 E-model, the adaptation policy, and the
 * seeded network impairment generator. No sockets, timers or clocks: time is passed in (ms).
 * @module
 */
export const PACKAGE_NAME = '@parloir/media';

export * from './errors.ts';
export * from './rtp.ts';
export * from './opus-toc.ts';
export * from './g711.ts';
export * from './payloads.ts';
export * from './delay-estimator.ts';
export * from './time-stretch.ts';
export * from './jitter-buffer.ts';
export * from './emodel.ts';
export * from './qos.ts';
export * from './adaptation.ts';
export * from './impairment.ts';
export * from './trace.ts';
export * from './playout-sim.ts';
export * from './srtp-replay.ts';
export * from './echo-delay.ts';
export * from './room-sim.ts';
