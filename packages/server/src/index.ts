/**
 * @parloir/server: signalling server, presence, calls, chat, persistence and TURN relay.
 *
 * `startServer(options)` → `{url, httpUrl, port, fingerprint, core, close()}`.
 * @module
 */
export const PACKAGE_NAME = '@parloir/server';
export {
  startServer,
  defaultDataDir,
  defaultWebRoot,
  type ServerOptions,
  type RunningServer,
} from './server.ts';
export {
  SignalingCore,
  type SignalingCoreOptions,
  type CoreInput,
  type CoreOutput,
  type CoreStats,
  type HostModeOptions,
} from './core/signaling-core.ts';
export { CallTable, type LiveCall } from './core/calls.ts';
export type { StorePort } from './core/store-port.ts';
export {
  Store,
  SCHEMA_VERSION,
  type UserRow,
  type CallRow,
  type DataCheckResult,
} from './store.ts';
export {
  generateSelfSigned,
  loadOrCreateCertificate,
  loadCertificate,
  type TlsMaterial,
} from './tls-cert.ts';
export { ServerError, type ServerErrorCode } from './errors.ts';
export { AcmeCertificates, LETS_ENCRYPT_DIRECTORY, type AcmeOptions } from './acme.ts';
export {
  createBackup,
  readBackup,
  restoreBackup,
  type BackupFile,
  type BackupManifest,
  type BackupResult,
} from './backup.ts';
export {
  applySecurityHeaders,
  CONTENT_SECURITY_POLICY,
  SECURITY_HEADERS,
  originAllowed,
  normalizeOrigin,
  metricsAllowed,
} from './http-security.ts';
export {
  securePrivateDir,
  securePrivateFile,
  securePrivateDatabase,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
} from './file-modes.ts';
export type { MediaRelay, CallDirectory, IceServerInfo } from './relay-types.ts';
export {
  createTurnRelay,
  TURN_CLI_OPTIONS,
  turnOptionsFromFlags,
  TurnError,
  type TurnRelay,
  type TurnRelayOptions,
  type TurnFlagValues,
} from './turn/index.ts';
/** The prom-client registry class, so one registry can be shared by signalling and the relay. */
export { Registry } from 'prom-client';
