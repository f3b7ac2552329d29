/**
 * Errors of the audio device layer. Native failures keep their own class (`AlsaError`,
 * `OpusError` from @parloir/native); these cover specs, files and stream misuse.
 * @module
 */
import { ClientError } from '../errors.ts';

/** Codes of {@link AudioError}. */
export type AudioErrorCode =
  | 'AUDIO_ERR_BAD_SPEC'
  | 'AUDIO_ERR_BAD_ARG'
  | 'AUDIO_ERR_FORMAT'
  | 'AUDIO_ERR_FILE'
  | 'AUDIO_ERR_CLOSED';

/** A device spec, WAV file or stream call was wrong. */
export class AudioError extends ClientError {
  declare readonly code: AudioErrorCode;
  constructor(code: AudioErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AudioError';
  }
}
