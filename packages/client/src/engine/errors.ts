/**
 * Errors of the call engine, transport, control API and QoS report. Each has a stable literal
 * `code` (shown to control-API clients and on the CLI), a human message and, where one exists, a
 * `cause`.
 */
import { ClientError } from '../errors.ts';

/** Every code this file can raise. */
export type EngineErrorCode =
  | 'TRANSPORT_ERR_CLOSED'
  | 'TRANSPORT_ERR_BAD_SDP'
  | 'TRANSPORT_ERR_BAD_CANDIDATE'
  | 'TRANSPORT_ERR_CONNECT_TIMEOUT'
  | 'ENGINE_ERR_BAD_SETTING'
  | 'ENGINE_ERR_NOT_RUNNING'
  | 'ENGINE_ERR_DEVICE'
  | 'CALL_ERR_REFUSED'
  | 'CALL_ERR_BUSY'
  | 'CALL_ERR_UNANSWERED'
  | 'CALL_ERR_OFFLINE'
  | 'CALL_ERR_FAILED'
  | 'CALL_ERR_SIGNALING'
  | 'CONTROL_ERR_UNAUTHORIZED'
  | 'CONTROL_ERR_BAD_REQUEST'
  | 'CONTROL_ERR_UNKNOWN_COMMAND'
  | 'REPORT_ERR_BAD_LOG'
  | 'REPORT_ERR_IO';

/** An error of the engine layer (transport, engine, control API, report). */
export class EngineError extends ClientError {
  declare readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'EngineError';
  }
}
