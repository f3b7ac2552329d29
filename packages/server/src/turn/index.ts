/**
 * The built-in TURN relay (RFC 8656 over UDP and TCP, RFC 8489 STUN Binding). Public API:
 * `createTurnRelay(options)` → {@link TurnRelay} (a `MediaRelay` plus `close()` and `stats()`),
 * the CLI flags (`TURN_CLI_OPTIONS`, `turnOptionsFromFlags`) and the REST credential helpers.
 * @module
 */
export { createTurnRelay } from './relay.ts';
export type { TurnRelay, TurnRelayOptions, TurnRelayStats } from './relay.ts';
export {
  TURN_CLI_OPTIONS,
  loadOrCreateTurnSecret,
  turnOptionsFromFlags,
  type TurnFlagContext,
  type TurnFlagValues,
} from './flags.ts';
export {
  checkTurnPassword,
  issueTurnCredential,
  parseTurnUsername,
  turnPassword,
} from './credentials.ts';
export { TurnError, type TurnErrorCode } from './errors.ts';
export type { TurnLogger } from './turn-core.ts';
