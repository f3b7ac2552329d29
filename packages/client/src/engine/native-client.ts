/**
 * What `parloir call`, `answer`, `connect` and `host` share: server address parsing, connecting
 * the signalling client with the profile, the call media, waiting for call outcomes, and the
 * end-of-call summary.
 */
import { readFileSync } from 'node:fs';
import {
  sanitizeForTerminal,
  type CallEndReason,
  type ClientSession,
  type UserInfo,
} from '@parloir/protocol';
import { parseQosLog, type CallSettings } from '../qos-log/qos-log.ts';
import { summarise, type QosSummary } from '../report/report.ts';
import { SignalingClient, defaultProfileDir, loadOrCreateProfile } from '../signaling/index.ts';
import { CallMedia, type MediaState } from './call-media.ts';
import { applySetting, DEFAULT_SETTINGS } from './engine.ts';
import { EngineError, type EngineErrorCode } from './errors.ts';

/** Default signalling port. */
export const DEFAULT_PORT = 8443;

/**
 * `--server` to a WebSocket URL: `host[:port]` and `https://host:port` → `wss://host:port/ws`,
 * `http://host:port` (a server started with `--insecure-http`) → `ws://host:port/ws`.
 */
export function serverToWsUrl(server: string): string {
  const s = server.trim();
  let url: URL;
  try {
    url = /^[a-z]+:\/\//i.test(s) ? new URL(s) : new URL(`https://${s}`);
  } catch (err) {
    throw new EngineError('CALL_ERR_SIGNALING', `bad --server '${server}'`, { cause: err });
  }
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  if (!secure && url.protocol !== 'http:' && url.protocol !== 'ws:') {
    throw new EngineError('CALL_ERR_SIGNALING', `bad --server scheme '${url.protocol}'`);
  }
  const port = url.port === '' ? String(DEFAULT_PORT) : url.port;
  return `${secure ? 'wss' : 'ws'}://${url.hostname}:${port}/ws`;
}

/** Options of {@link NativeClient.open}. */
export interface NativeClientOptions {
  /** `--server`. */
  server: string;
  /** `--user`. */
  user: string;
  /** `--password`. */
  password?: string | undefined;
  /** `--profile` (default XDG config dir). */
  profileDir?: string | undefined;
  /** `--in` device spec. */
  input: string;
  /** `--out` device spec. */
  output: string;
  /** `--relay`. */
  relayOnly?: boolean;
  /** Initial settings. */
  settings?: Partial<CallSettings>;
  /** Host candidate addresses (tests). */
  hostAddresses?: string[] | undefined;
  /** `--acoustic-room MS` (tests): the paced capture hears the paced playback through a room. */
  acousticRoomMs?: number | undefined;
  /** Notices (reconnects, pinning) go here. */
  onNotice?: (msg: string) => void;
  /** Resolve `open` while still pending host approval. */
  untilReady?: boolean;
}

/** A connected client: signalling + media. */
export class NativeClient {
  /** Signalling (reconnecting). */
  readonly signaling: SignalingClient;
  /** Call media. */
  readonly media: CallMedia;
  /** Profile directory. */
  readonly profileDir: string;

  private constructor(signaling: SignalingClient, media: CallMedia, profileDir: string) {
    this.signaling = signaling;
    this.media = media;
    this.profileDir = profileDir;
  }

  /** The protocol session. */
  get session(): ClientSession {
    return this.signaling.session;
  }

  /** Loads the profile, connects and authenticates. */
  static async open(o: NativeClientOptions): Promise<NativeClient> {
    const profileDir = o.profileDir ?? defaultProfileDir();
    const profile = await loadOrCreateProfile(profileDir);
    const signaling = new SignalingClient({
      url: serverToWsUrl(o.server),
      identity: profile.signer,
      name: o.user,
      profileDir,
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.onNotice === undefined ? {} : { onNotice: o.onNotice }),
      backoff: { baseMs: 250, maxMs: 5000 },
    });
    const media = new CallMedia({
      session: signaling.session,
      input: o.input,
      output: o.output,
      ...(o.settings === undefined ? {} : { settings: o.settings }),
      relayOnly: o.relayOnly === true,
      profileDir,
      hostAddresses: o.hostAddresses,
      acousticRoomMs: o.acousticRoomMs,
    });
    try {
      await signaling.connect({ untilReady: o.untilReady ?? true });
    } catch (err) {
      signaling.close();
      await media.close();
      throw err;
    }
    return new NativeClient(signaling, media, profileDir);
  }

  /** Finds an online user by name, waiting up to `timeoutMs` for presence to show them. */
  async findUser(name: string, timeoutMs = 2000): Promise<UserInfo | undefined> {
    const look = (): UserInfo | undefined =>
      [...this.session.online.values()].find((u) => u.name === name);
    const found = look();
    if (found !== undefined) return found;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
      const off = this.session.on('presence', () => {
        const u = look();
        if (u !== undefined) {
          clearTimeout(timer);
          off();
          resolve(u);
        }
      });
    });
  }

  /** Resolves when media is up, rejects if it fails or the call ends first. */
  waitMediaUp(timeoutMs: number): Promise<MediaState> {
    return new Promise((resolve, reject) => {
      const check = (s: MediaState): boolean => {
        if (s.phase === 'up') {
          done();
          resolve(s);
          return true;
        }
        if (s.phase === 'failed') {
          done();
          reject(new EngineError('CALL_ERR_FAILED', `media failed: ${s.error ?? 'unknown'}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new EngineError('CALL_ERR_FAILED', `media not up after ${timeoutMs} ms`));
      }, timeoutMs);
      const offState = this.media.on('state', (s) => void check(s));
      const offEnd = this.session.on('callEnded', (e) => {
        done();
        reject(callEndError(e.reason));
      });
      const done = (): void => {
        clearTimeout(timer);
        offState();
        offEnd();
      };
      check(this.media.state);
    });
  }

  /**
   * Waits until the call ends (remote hang-up, failure) or `durationMs` passes, then hangs up
   * if still in the call, and resolves once media has stopped with the end reason and log path.
   */
  async talk(
    durationMs: number | undefined,
  ): Promise<{ reason: string; logPath: string | undefined }> {
    const ended = new Promise<{ reason: string; logPath: string | undefined }>((resolve) => {
      const off = this.media.on('ended', (e) => {
        off();
        resolve({ reason: e.reason, logPath: e.logPath });
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<'time'>((resolve) => {
      if (durationMs !== undefined) timer = setTimeout(() => resolve('time'), durationMs);
    });
    const onSigint = (): void => {
      this.session.hangup().catch(() => void this.media.stop('interrupted'));
    };
    process.once('SIGINT', onSigint);
    const first = await Promise.race([ended, timeUp]);
    clearTimeout(timer);
    if (first === 'time') {
      try {
        await this.session.hangup();
      } catch {
        // Signalling down: stop the media ourselves.
        await this.media.stop('duration');
      }
    }
    const r = await ended;
    process.off('SIGINT', onSigint);
    return r;
  }

  /** Closes media and signalling. */
  async close(): Promise<void> {
    await this.media.close();
    this.signaling.close();
  }
}

/** The typed error for a call that ended before or instead of media. */
export function callEndError(reason: CallEndReason): EngineError {
  const map: Record<string, [EngineErrorCode, string]> = {
    rejected: ['CALL_ERR_REFUSED', 'the call was refused'],
    busy: ['CALL_ERR_BUSY', 'the peer is busy in another call'],
    dnd: ['CALL_ERR_BUSY', 'the peer does not want to be disturbed'],
    timeout: ['CALL_ERR_UNANSWERED', 'no answer'],
    cancelled: ['CALL_ERR_FAILED', 'the call was cancelled'],
    disconnected: ['CALL_ERR_OFFLINE', 'the peer went offline'],
    shutdown: ['CALL_ERR_SIGNALING', 'the server shut down'],
  };
  const [code, msg] = map[reason] ?? ['CALL_ERR_FAILED', `the call ended (${reason})`];
  return new EngineError(code, msg);
}

/** The summary printed at the end of `call`/`answer`. */
export interface CallSummary extends QosSummary {
  /** Peer name. */
  peer: string;
  /** Why the call ended. */
  reason: string;
  /** Verification code. */
  sas: string | undefined;
  /** QoS log file. */
  log: string | undefined;
}

/** Builds the summary from the call's QoS log. */
export function callSummary(
  peer: string,
  reason: string,
  sas: string | undefined,
  logPath: string | undefined,
): CallSummary {
  let qos: QosSummary = summarise({ start: undefined, snapshots: [], end: undefined });
  if (logPath !== undefined) {
    try {
      qos = summarise(parseQosLog(readFileSync(logPath, 'utf8')));
    } catch {
      // An unreadable log leaves the empty summary.
    }
  }
  return { peer, reason, sas, log: logPath, ...qos };
}

/** Formats a summary for humans. */
export function formatSummary(s: CallSummary): string {
  const n = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  return [
    `call with ${sanitizeForTerminal(s.peer)} ended (${sanitizeForTerminal(s.reason)}) after ${n(s.durationS, 0)} s, path ${s.paths.join('/') || 'n/a'}`,
    `  verification code: ${s.sas ?? 'n/a'}`,
    `  MOS ${n(s.mosMean, 2)} (min ${n(s.mosMin, 2)}, ${s.grade}), loss ${n(s.lossPct)} %, jitter ${n(s.jitterMeanMs)} ms, RTT ${n(s.rttMeanMs)} ms`,
    `  bitrate sent ${n(s.sendKbpsMean)} / received ${n(s.recvKbpsMean)} kbit/s, buffer ${n(s.bufferMeanMs)} ms, concealed ${n(s.concealedMs, 0)} ms`,
    `  QoS log: ${s.log ?? 'none'} (parloir report ${s.log ?? '<log>'} -o report.html)`,
  ].join('\n');
}

/** Settings from the common CLI flags (`--bitrate`, `--frame-ms`, `--no-adapt`). */
export function settingsFromFlags(values: Record<string, unknown>): Partial<CallSettings> {
  let s: CallSettings = { ...DEFAULT_SETTINGS };
  if (typeof values.bitrate === 'string') s = applySetting(s, 'bitrate', values.bitrate);
  if (typeof values['frame-ms'] === 'string') s = applySetting(s, 'frame', values['frame-ms']);
  if (values['no-adapt'] === true) s = { ...s, adapt: false };
  for (const name of ['aec', 'ns', 'agc', 'audio-engine'] as const) {
    const v = values[name];
    if (typeof v === 'string') s = applySetting(s, name, v);
  }
  return s;
}
