/**
 * @parloir/media: Sans-IO media core: RTP payloads, jitter buffer, QoS, E-model, adaptation policy.
 * @module
 */
export const PACKAGE_NAME = '@parloir/media';
