/**
 * `parloir audio`: list devices, record to a WAV, play a WAV, and the capture → playback loopback
 * (optionally through Opus) that is the project's first milestone.
 */
import type { Command, ParsedArgs } from '../command.ts';
import { stringOpt } from '../command.ts';
import { ClientError, UsageError } from '../errors.ts';
import {
  listAudioDevices,
  openAudioDevice,
  readWav,
  writeWav,
  type CaptureStream,
  type PlaybackStream,
} from '../audio/index.ts';
import { processCommand } from './audio-process.ts';
import { NativeError, OpusDecoder, OpusEncoder, type OpusFrameMs } from '@parloir/native';

const USAGE = `Usage: parloir audio <subcommand> [options]

Subcommands:
  devices                               list audio devices (null, alsa:default, ALSA PCMs)
  record [--device SPEC] --seconds N OUT.wav
                                        record N seconds (fractions allowed) into a WAV file
  play [--device SPEC] IN.wav           play a WAV file
  loopback [--capture SPEC] [--playback SPEC] [--period-ms 10] [--frame-ms 20] [--opus 24k]
                                        capture and play back on this machine, optionally through
                                        an Opus encode/decode; prints xruns and delay every second
  process --far FAR.wav --in CAPTURE.wav --out OUT.wav [--aec] [--ns] [--agc]
          [--engine webrtc|speex] [--json]
                                        echo cancellation / noise suppression / AGC of a capture
                                        against the far end played meanwhile (mono WAVs, same
                                        rate), as fast as it can; finds the bulk delay (0-250 ms)
                                        itself; no flag means --aec --ns

Device specs: alsa:NAME (alsa:default, alsa:hw:0,0, alsa:plughw:1, alsa:pulse), wav:PATH, null.

Options:
  --device SPEC       device for record/play (default alsa:default)
  --capture SPEC      loopback capture device (default alsa:default)
  --playback SPEC     loopback playback device (default alsa:default)
  --rate HZ           sample rate for record/loopback (default 48000)
  --channels N        1 or 2 for record/loopback (default 1)
  --period-ms MS      device period (default 10)
  --buffer-ms MS      device buffer (default 4 periods)
  --frame-ms MS       frame handed to the application (default 20)
  --opus RATE         loopback through Opus at this bitrate (e.g. 24k, 32000)
  --seconds N         record length, or loopback duration (default: until Ctrl-C)
  --fast              wav: devices run as fast as possible instead of in real time`;

function num(args: ParsedArgs, key: string, fallback: number, min: number, max: number): number {
  const v = stringOpt(args, key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      'CLI_ERR_BAD_ARGS',
      `parloir audio: --${key} must be ${min}..${max}, got '${v}'`,
    );
  }
  return n;
}

/** Parses `24k`, `24000`, `1.5M` into bit/s. */
export function parseBitrate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : m[2]?.toLowerCase() === 'k' ? 1000 : 1e6) : NaN;
  if (!(n >= 6000 && n <= 510000)) {
    throw new UsageError('CLI_ERR_BAD_ARGS', `parloir audio: --opus must be 6k..510k, got '${v}'`);
  }
  return Math.round(n);
}

function onePositional(args: ParsedArgs, sub: string, what: string): string {
  const p = args.positionals.slice(1);
  if (p.length !== 1 || p[0] === undefined) {
    throw new UsageError('CLI_ERR_MISSING_ARG', `parloir audio ${sub}: expected one ${what}`);
  }
  return p[0];
}

const pace = (args: ParsedArgs) =>
  args.values.fast === true ? ('fast' as const) : ('realtime' as const);

function devices(): number {
  const list = listAudioDevices();
  const width = Math.max(...list.map((d) => d.spec.length));
  for (const d of list) {
    const dir = d.direction === 'both' ? '' : ` (${d.direction} only)`;
    console.log(`${d.spec.padEnd(width)}  ${d.description}${dir}`);
  }
  return 0;
}

async function record(args: ParsedArgs): Promise<number> {
  const out = onePositional(args, 'record', 'output WAV path');
  const seconds = num(args, 'seconds', NaN, 0.001, 86400);
  if (Number.isNaN(seconds))
    throw new UsageError('CLI_ERR_MISSING_ARG', 'missing required option --seconds');
  const rate = num(args, 'rate', 48000, 8000, 48000);
  const channels = num(args, 'channels', 1, 1, 2);
  const frameMs = num(args, 'frame-ms', 20, 1, 1000);
  const spec = stringOpt(args, 'device') ?? 'alsa:default';
  const need = Math.round(seconds * rate);
  const chunks: Int16Array[] = [];
  let got = 0;
  let stream: CaptureStream | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const finish = () => {
      stream?.close();
      resolve();
    };
    stream = openAudioDevice(spec, { pace: pace(args) }).openCapture({
      sampleRate: rate,
      channels,
      frameSamples: Math.max(1, Math.round((frameMs * rate) / 1000)),
      periodMs: num(args, 'period-ms', 10, 1, 1000),
      ...(stringOpt(args, 'buffer-ms') ? { bufferMs: num(args, 'buffer-ms', 40, 2, 2000) } : {}),
      onFrame: (frame) => {
        if (got >= need) return;
        const take = Math.min(frame.length / channels, need - got);
        chunks.push(take * channels === frame.length ? frame : frame.slice(0, take * channels));
        got += take;
        if (got >= need) finish();
      },
      onError: (err) => {
        stream?.close();
        reject(err);
      },
      onEnd: () => {
        if (pace(args) === 'fast' && got < need) finish();
      },
    });
  });
  await done;
  const st = stream?.stats();
  const samples = new Int16Array(got * channels);
  let off = 0;
  for (const c of chunks) {
    samples.set(c, off);
    off += c.length;
  }
  writeWav(out, { sampleRate: rate, channels, samples });
  console.error(
    `recorded ${got} samples (${(got / rate).toFixed(3)} s, ${rate} Hz × ${channels} ch) from ${spec} to ${out}; xruns ${st?.xruns ?? 0}`,
  );
  return 0;
}

async function play(args: ParsedArgs): Promise<number> {
  const input = onePositional(args, 'play', 'input WAV path');
  const wav = readWav(input);
  const spec = stringOpt(args, 'device') ?? 'alsa:default';
  const stream = openAudioDevice(spec, { pace: pace(args) }).openPlayback({
    sampleRate: wav.sampleRate,
    channels: wav.channels,
    periodMs: num(args, 'period-ms', 10, 1, 1000),
    ...(stringOpt(args, 'buffer-ms') ? { bufferMs: num(args, 'buffer-ms', 40, 2, 2000) } : {}),
    fillSilence: false,
  });
  const step = Math.round(wav.sampleRate / 100) * wav.channels;
  for (let off = 0; off < wav.samples.length;) {
    const frame = wav.samples.subarray(off, Math.min(off + step, wav.samples.length));
    if (stream.write(frame)) off += frame.length;
    else await new Promise((r) => setTimeout(r, 5));
  }
  await stream.drain();
  const st = stream.stats();
  const n = wav.samples.length / wav.channels;
  console.error(
    `played ${n} samples (${(n / wav.sampleRate).toFixed(3)} s) from ${input} on ${spec}; xruns ${st.xruns}`,
  );
  return 0;
}

async function loopback(args: ParsedArgs): Promise<number> {
  const rate = num(args, 'rate', 48000, 8000, 48000);
  const channels = num(args, 'channels', 1, 1, 2) as 1 | 2;
  const frameMs = num(args, 'frame-ms', 20, 2.5, 60);
  const periodMs = num(args, 'period-ms', 10, 1, 1000);
  const seconds = num(args, 'seconds', Infinity, 0.1, 1e9);
  const capSpec = stringOpt(args, 'capture') ?? 'alsa:default';
  const playSpec = stringOpt(args, 'playback') ?? 'alsa:default';
  const opusArg = stringOpt(args, 'opus');
  const bitrate = opusArg === undefined ? undefined : parseBitrate(opusArg);
  const frameSamples = Math.round((frameMs * rate) / 1000);
  let enc: OpusEncoder | undefined;
  let dec: OpusDecoder | undefined;
  if (bitrate !== undefined) {
    if (rate !== 8000 && rate !== 12000 && rate !== 16000 && rate !== 24000 && rate !== 48000) {
      throw new UsageError(
        'CLI_ERR_BAD_ARGS',
        'parloir audio loopback: --opus needs --rate 8k/12k/16k/24k/48k',
      );
    }
    enc = new OpusEncoder({
      sampleRate: rate,
      channels,
      application: 'voip',
      frameMs: frameMs as OpusFrameMs,
      bitrate,
    });
    dec = new OpusDecoder({ sampleRate: rate, channels });
  }
  const bufferMs = stringOpt(args, 'buffer-ms') ? num(args, 'buffer-ms', 40, 2, 2000) : undefined;
  const playback: PlaybackStream = openAudioDevice(playSpec, { pace: pace(args) }).openPlayback({
    sampleRate: rate,
    channels,
    periodMs,
    ...(bufferMs !== undefined ? { bufferMs } : {}),
  });
  let delays: number[] = [];
  let frames = 0;
  let failure: Error | undefined;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let capture: CaptureStream;
  try {
    capture = openAudioDevice(capSpec, { pace: pace(args) }).openCapture({
      sampleRate: rate,
      channels,
      frameSamples,
      periodMs,
      ...(bufferMs !== undefined ? { bufferMs } : {}),
      onFrame: (frame, { sampleIndex }) => {
        const out = enc && dec ? dec.decode(enc.encode(frame)) : frame;
        playback.write(out);
        frames++;
        // Delay of this frame: when its first sample will play minus when it was captured.
        const capStart = capture.startedAtMs;
        const playStart = playback.startedAtMs;
        if (capStart !== undefined && playStart !== undefined) {
          const playAt = playback.consumedSamples + playback.queuedSamples - out.length / channels;
          delays.push(
            playStart + (playAt * 1000) / rate - (capStart + (sampleIndex * 1000) / rate),
          );
        }
      },
      onError: (err) => {
        failure = err;
        stop();
      },
    });
  } catch (err) {
    playback.close();
    throw err;
  }
  console.error(
    `loopback ${capSpec} → ${playSpec}, ${rate} Hz × ${channels} ch, period ${periodMs} ms, frame ${frameMs} ms` +
      (bitrate ? `, Opus ${bitrate / 1000} kbit/s` : ', PCM'),
  );
  const t0 = performance.now();
  const report = setInterval(() => {
    const c = capture.stats();
    const p = playback.stats();
    const mean = delays.length ? delays.reduce((a, b) => a + b, 0) / delays.length : NaN;
    const t = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(
      `t=${t}s frames ${frames} xruns capture ${c.xruns} playback ${p.xruns} ` +
        `silence ${((p.silenceSamples * 1000) / rate).toFixed(0)} ms ` +
        `delay ${Number.isNaN(mean) ? '-' : mean.toFixed(1)} ms`,
    );
    delays = [];
    if (performance.now() - t0 >= seconds * 1000) stop();
  }, 1000);
  const onSig = () => stop();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  await stopped;
  clearInterval(report);
  process.off('SIGINT', onSig);
  process.off('SIGTERM', onSig);
  capture.close();
  playback.close();
  enc?.close();
  dec?.close();
  if (failure) throw failure;
  return 0;
}

export const command: Command = {
  usage: USAGE,
  options: {
    device: { type: 'string' },
    capture: { type: 'string' },
    playback: { type: 'string' },
    rate: { type: 'string' },
    channels: { type: 'string' },
    'period-ms': { type: 'string' },
    'buffer-ms': { type: 'string' },
    'frame-ms': { type: 'string' },
    opus: { type: 'string' },
    seconds: { type: 'string' },
    fast: { type: 'boolean' },
    far: { type: 'string' },
    in: { type: 'string' },
    out: { type: 'string' },
    aec: { type: 'boolean' },
    ns: { type: 'boolean' },
    agc: { type: 'boolean' },
    engine: { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args) {
    try {
      return await runSub(args);
    } catch (err) {
      // Device and codec failures print as one line with their code, like every ClientError.
      if (err instanceof NativeError) throw new ClientError(err.code, err.message, { cause: err });
      throw err;
    }
  },
};

function runSub(args: ParsedArgs): Promise<number> {
  const sub = args.positionals[0];
  switch (sub) {
    case 'devices':
      return Promise.resolve(devices());
    case 'record':
      return record(args);
    case 'play':
      return play(args);
    case 'loopback':
      return loopback(args);
    case 'process':
      return Promise.resolve().then(() => processCommand(args));
    default:
      return Promise.reject(
        new UsageError(
          'CLI_ERR_BAD_ARGS',
          sub === undefined
            ? "parloir audio: missing subcommand (devices, record, play, loopback, process); see 'parloir audio --help'"
            : `parloir audio: unknown subcommand '${sub}' (devices, record, play, loopback, process)`,
        ),
      );
  }
}
