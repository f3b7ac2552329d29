/**
 * Node-side signalling: `SignalingClient` (ws + TLS pinning + reconnect around the shared
 * `ClientSession`), and the profile directory (identity, pinned fingerprints).
 * @module
 */
export { SignalingClient, type SignalingClientOptions } from './signaling-client.ts';
export {
  KnownServers,
  defaultProfileDir,
  fingerprintMismatchMessage,
  loadOrCreateProfile,
  type PinCheck,
  type Profile,
} from './profile.ts';
export {
  SERVER_CLI_OPTIONS,
  SERVER_CLI_USAGE,
  announce,
  runServerCommand,
  serverOptionsFromArgs,
  untilSignal,
} from './run-server.ts';
export {
  approveFromTerminal,
  describeJoinRequest,
  startHost,
  type HostHandle,
  type HostOptions,
} from './host-mode.ts';
