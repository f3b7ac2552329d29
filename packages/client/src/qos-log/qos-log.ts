/**
 * The per-call QoS log: JSON lines, one `start` record, one `qos` snapshot per second, one `end`
 * record. Written by the engine into the profile directory; read back by `parloir report`.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallSettings, EchoState } from '@parloir/protocol';
import { EngineError } from '../engine/errors.ts';

/** A human suggestion in both languages of the project. */
export interface Suggestion {
  /** English text, e.g. "Loss 6%: turn on FEC". */
  en: string;
  /** French text, e.g. "Perte 6 % : activer la FEC". */
  fr: string;
}

/** The call parameters in force when a snapshot was taken (declared once, in the control API). */
export type { CallSettings };

/** Jitter-buffer state in a snapshot. */
export interface JitterBufferSnapshot {
  /** Current buffered delay, ms. */
  delayMs: number;
  /** Target delay, ms. */
  targetMs: number;
  /** Packets that arrived after their playout time, cumulative. */
  latePackets: number;
  /** Audio concealed by PLC, cumulative ms. */
  concealedMs: number;
  /** Frames rebuilt from FEC, cumulative. */
  fecRecovered: number;
  /** Accelerate decisions, cumulative. */
  accelerate: number;
  /** Expand decisions, cumulative. */
  expand: number;
}

/** One second of QoS. */
export interface QosSnapshot {
  /** Record kind. */
  kind: 'qos';
  /** Time since the call's media started, ms. */
  tMs: number;
  /** 'direct', 'relayed' or 'unknown'. */
  path: string;
  /** 'up', or 'restarting' during an ICE restart (issue 21 §5). Absent in older logs. */
  pathState?: 'up' | 'restarting';
  /** ICE restarts of the call so far. Absent in older logs. */
  iceRestarts?: number;
  /** RTCP round-trip time, ms (undefined → null in JSON before the first RR). */
  rttMs: number | null;
  /** Loss of the incoming stream over the last second, percent. */
  lossPct: number;
  /** Loss of the incoming stream since the start, percent. */
  cumulativeLossPct: number;
  /** Loss of our stream as the peer reports it (RTCP RR fraction lost), percent. */
  remoteLossPct: number | null;
  /** Interarrival jitter of the incoming stream (RFC 3550 §A.8), ms. */
  jitterMs: number;
  /** Bitrate sent over the last second, RTP header included, kbit/s. */
  sendKbps: number;
  /** Bitrate received over the last second, RTP header included, kbit/s. */
  recvKbps: number;
  /** Packets received over the last second. */
  recvPackets: number;
  /**
   * Incoming SRTP packets dropped before the jitter buffer as replayed or older than the replay
   * window (RFC 3711 §3.3.2), cumulative since the media started. Absent in older logs.
   */
  packetsReplayed?: number;
  /** Jitter-buffer state. */
  jitterBuffer: JitterBufferSnapshot;
  /** E-model R factor (ITU-T G.107). */
  rFactor: number;
  /** MOS from R. */
  mos: number;
  /** 'excellent' | 'good' | 'fair' | 'poor'. */
  grade: string;
  /** Suggestions that fired this second. */
  suggestions: Suggestion[];
  /** Parameters in force. */
  settings: CallSettings;
  /** Peak capture level since the previous snapshot, dBFS (after gain; −90.3 for silence). */
  inputLevelDb?: number;
  /** The capture's audio processing and its echo canceller (delay, ERLE, converged). */
  echo?: EchoState;
}

/** First record of a log. */
export interface QosStart {
  /** Record kind. */
  kind: 'start';
  /** Wall-clock start, ISO 8601. */
  startedAt: string;
  /** Our user name. */
  user: string;
  /** The peer's user name. */
  peer: string;
  /** 'caller' or 'callee'. */
  role: string;
  /** Short authentication string words. */
  sas: string;
  /** How our audio was sent: `native` (from C) or `javascript (why)`. Absent in older logs. */
  sendPath?: string;
  /** How the peer's audio was received: `fast` or `werift (why)`. Absent in older logs. */
  receivePath?: string;
}

/** Last record of a log. */
export interface QosEnd {
  /** Record kind. */
  kind: 'end';
  /** Media duration, ms. */
  durationMs: number;
  /** Why the call ended, e.g. 'hangup-local', 'hangup-remote', 'duration'. */
  reason: string;
  /** When capture sample 0 was taken, Unix ms (the capture clock's origin). Absent in older logs. */
  captureStartedAtMs?: number;
  /** When playback sample 0 played, Unix ms (the playback clock's origin). Absent in older logs. */
  playbackStartedAtMs?: number;
}

/** Any record. */
export type QosRecord = QosStart | QosSnapshot | QosEnd;

/** Appends records to a JSON-lines file; each write is one line, synchronous so a crash keeps it. */
export class QosLogWriter {
  #path: string;

  /** Creates `<dir>/calls/<timestamp>-<peer>.jsonl`. */
  constructor(options: {
    /** The profile directory. */ profileDir: string;
    /** Peer name, sanitised into the file name. */ peer: string;
  }) {
    const dir = join(options.profileDir, 'calls');
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replaceAll(':', '-').replace(/\..*$/, '');
    const safePeer = options.peer.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    this.#path = join(dir, `${stamp}-${safePeer}.jsonl`);
  }

  /** The log file path. */
  get path(): string {
    return this.#path;
  }

  /** Appends one record. */
  write(record: QosRecord): void {
    appendFileSync(this.#path, `${JSON.stringify(record)}\n`);
  }
}

/** A log, parsed. */
export interface ParsedQosLog {
  /** The start record, when present. */
  start: QosStart | undefined;
  /** Snapshots in order. */
  snapshots: QosSnapshot[];
  /** The end record, when present (absent if the process died). */
  end: QosEnd | undefined;
}

/**
 * Parses a QoS log. Unknown record kinds are skipped (forward compatibility); a line that is not
 * JSON, or a `qos` line without numeric `tMs`, gives `REPORT_ERR_BAD_LOG` with its line number.
 */
export function parseQosLog(text: string): ParsedQosLog {
  const out: ParsedQosLog = { start: undefined, snapshots: [], end: undefined };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? '';
    if (line === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new EngineError('REPORT_ERR_BAD_LOG', `line ${i + 1}: not JSON`, { cause: err });
    }
    if (typeof rec !== 'object' || rec === null || !('kind' in rec)) {
      throw new EngineError('REPORT_ERR_BAD_LOG', `line ${i + 1}: not a QoS record`);
    }
    const r = rec;
    if (r.kind === 'start') out.start = rec as QosStart;
    else if (r.kind === 'end') out.end = rec as QosEnd;
    else if (r.kind === 'qos') {
      const s = rec as Partial<QosSnapshot>;
      if (typeof s.tMs !== 'number' || !Number.isFinite(s.tMs)) {
        throw new EngineError('REPORT_ERR_BAD_LOG', `line ${i + 1}: qos record without tMs`);
      }
      out.snapshots.push(rec as QosSnapshot);
    }
  }
  return out;
}

/** Reads and parses a log file; I/O errors become `REPORT_ERR_IO`. */
export function readQosLog(path: string): ParsedQosLog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EngineError('REPORT_ERR_IO', `cannot read ${path}`, { cause: err });
  }
  return parseQosLog(text);
}
