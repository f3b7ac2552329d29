/**
 * Writes the seed corpora of the C fuzz harnesses (fuzz/corpus/<harness>/), from real packets:
 * Opus packets made by libopus from a tone with a gliding pitch (jitter buffer, Opus TOC), and
 * the TURN messages a relayed call sends (ChannelData, Send indications with and without
 * FINGERPRINT). Run it again after changing a harness's input format:
 *
 *   node packages/native/fuzz/make-seeds.ts
 *
 * Seeds are small (a few hundred bytes each) and committed; libFuzzer grows its working corpus
 * elsewhere (scripts/fuzz.ts copies these into a scratch directory).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { OpusEncoder, type OpusFrameMs } from '../index.ts';

const corpus = resolve(import.meta.dirname, 'corpus');

function write(harness: string, name: string, bytes: Uint8Array): void {
  const dir = resolve(corpus, harness);
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, name), bytes);
}

/** `count` Opus packets of a 300-500 Hz glide at `frameMs` and `bitrate` bit/s, FEC on. */
function opusPackets(frameMs: OpusFrameMs, count: number, bitrate: number): Uint8Array[] {
  const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, application: 'voip', frameMs });
  enc.bitrate = bitrate;
  enc.fec = true;
  enc.packetLossPerc = 20;
  const n = (48000 * frameMs) / 1000;
  const out: Uint8Array[] = [];
  let phase = 0;
  for (let k = 0; k < count; k++) {
    const pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      phase += (2 * Math.PI * (300 + ((k * n + i) % 48000) / 240)) / 48000;
      pcm[i] = Math.round(8000 * Math.sin(phase));
    }
    out.push(enc.encode(pcm));
  }
  enc.close();
  return out;
}

/** fuzz_jitter.c's input: 4 option bytes, then insert/pull ops (see the harness header). */
function jitterProgram(
  opts: number[],
  packets: Uint8Array[],
  frameMs: number,
  pattern: string,
): Uint8Array {
  const bytes: number[] = [...opts];
  let seq = 65530; // wraps inside the seed
  let ts = 0xfffff000;
  const step = (48000 * frameMs) / 1000;
  packets.forEach((p, i) => {
    const c = pattern[i % pattern.length];
    if (c !== 'x') {
      // insert: op 0 (8 = marker on the first), seq, ts, ssrc switch no, dt, len, payload
      const dt = c === 'j' ? 40 : frameMs;
      bytes.push(i === 0 ? 8 : 0, (seq >> 8) & 0xff, seq & 0xff);
      bytes.push((ts >>> 24) & 0xff, (ts >>> 16) & 0xff, (ts >>> 8) & 0xff, ts & 0xff);
      bytes.push(0, dt, p.length, ...p);
      if (c === 'd')
        bytes.push(
          0,
          (seq >> 8) & 0xff,
          seq & 0xff,
          (ts >>> 24) & 0xff,
          (ts >>> 16) & 0xff,
          (ts >>> 8) & 0xff,
          ts & 0xff,
          0,
          0,
          p.length,
          ...p,
        );
    }
    bytes.push(5, frameMs); // pull one tick later
    seq = (seq + 1) & 0xffff;
    ts = (ts + step) >>> 0;
  });
  return Uint8Array.from(bytes);
}

const MAGIC = 0x2112a442;

/** A STUN Send indication to 10.0.0.1:`port` carrying `data`, with or without FINGERPRINT. */
function sendIndication(port: number, data: Uint8Array, fingerprint: boolean): Uint8Array {
  const pad = (4 - (data.length % 4)) % 4;
  const body = 12 + 4 + data.length + pad + (fingerprint ? 8 : 0);
  const b = Buffer.alloc(20 + body);
  b.writeUInt16BE(0x0016, 0);
  b.writeUInt16BE(body, 2);
  b.writeUInt32BE(MAGIC, 4);
  b.fill(7, 8, 20);
  b.writeUInt16BE(0x0012, 20);
  b.writeUInt16BE(8, 22);
  b.writeUInt8(1, 25);
  b.writeUInt16BE(port ^ (MAGIC >>> 16), 26);
  b.writeUInt32BE((0x0a000001 ^ MAGIC) >>> 0, 28);
  b.writeUInt16BE(0x0013, 32);
  b.writeUInt16BE(data.length, 34);
  Buffer.from(data).copy(b, 36);
  if (fingerprint) {
    const off = 36 + data.length + pad;
    b.writeUInt16BE(0x8028, off);
    b.writeUInt16BE(4, off + 2);
    b.writeUInt32BE((crc32(b.subarray(0, off)) ^ 0x5354554e) >>> 0, off + 4);
  }
  return b;
}

/** fuzz_relay.c's input: datagrams [from, len_hi, len_lo, bytes]. */
function relayProgram(datagrams: Array<[number, Uint8Array]>): Uint8Array {
  const bytes: number[] = [];
  for (const [from, d] of datagrams) bytes.push(from, d.length >> 8, d.length & 0xff, ...d);
  return Uint8Array.from(bytes);
}

rmSync(corpus, { recursive: true, force: true });
const p20 = opusPackets(20, 6, 24000);
const p10 = opusPackets(10, 6, 16000);
const p60 = opusPackets(60, 2, 12000);
write('jitter', 'clean-20ms', jitterProgram([0x02, 20, 50, 30], p20, 20, '.'));
write('jitter', 'loss-fec-10ms', jitterProgram([0x11, 0, 60, 20], p10, 10, '..x.x..xx.'));
write('jitter', 'jitter-dup-20ms', jitterProgram([0x06, 10, 100, 50], p20, 20, '.j.d.jj..'));
write('jitter', 'long-60ms', jitterProgram([0x03, 40, 120, 60], p60, 60, '.'));
for (const [i, p] of [p20[3], p10[5], p60[1]].entries()) write('opus_toc', `packet-${i}`, p!);
write('opus_toc', 'code3', Uint8Array.from([0xfb, 0x83, 1, 2, 3]));
const rtpLike = p20[4]!;
const chan = new Uint8Array(4 + rtpLike.length);
chan.set([0x40, 0x00, rtpLike.length >> 8, rtpLike.length & 0xff]);
chan.set(rtpLike, 4);
// from byte: low 3 bits = source ip index, next 3 = port index; 0x80 = arrives on a relay port.
write(
  'relay',
  'channeldata',
  relayProgram([
    [0x00 | (0 << 3), chan],
    [0x80 | (4 << 3) | 4, rtpLike],
  ]),
);
write('relay', 'send-fingerprint', relayProgram([[0x09, sendIndication(50000, rtpLike, true)]]));
write(
  'relay',
  'send-plain',
  relayProgram([
    [0x00, sendIndication(50001, rtpLike, false)],
    [0x83 | (3 << 3), rtpLike],
  ]),
);
/** fuzz_receiver.c's input: records [op, len_hi, len_lo, bytes]. */
function receiverProgram(records: Array<[number, Uint8Array]>): Uint8Array {
  const bytes: number[] = [];
  for (const [op, d] of records) bytes.push(op, d.length >> 8, d.length & 0xff, ...d);
  return Uint8Array.from(bytes);
}

/** A plaintext RTP packet (payload type 111) of SSRC `ssrc`. */
function rtp(seq: number, ts: number, ssrc: number, payload: Uint8Array, padding = 0): Uint8Array {
  const b = Buffer.alloc(12 + payload.length + padding);
  b[0] = 0x80 | (padding > 0 ? 0x20 : 0);
  b[1] = 111;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  Buffer.from(payload).copy(b, 12);
  if (padding > 0) b[b.length - 1] = padding;
  return b;
}

// op 1 = seal with ROC (op >> 2) then receive; 2 = pull (op >> 2) * 5 ms; 3 = replay the last.
const PULL_20MS = 2 | (4 << 2);
write(
  'receiver',
  'in-order-replays',
  receiverProgram(
    p20.flatMap((p, i): Array<[number, Uint8Array]> => [
      [1, rtp(101 + i, 960 * i, 0x1234, p)],
      [i % 2 === 0 ? 3 : PULL_20MS, new Uint8Array(0)],
    ]),
  ),
);
write(
  'receiver',
  'roc-wrap-padding',
  receiverProgram(
    p10.flatMap((p, i): Array<[number, Uint8Array]> => [
      [1 | ((i + 65530 > 65535 ? 8 : 7) << 2), rtp(65530 + i, 480 * i, 0xabcd, p, i % 3)],
      [PULL_20MS, new Uint8Array(0)],
    ]),
  ),
);
write('receiver', 'forged', receiverProgram([[0, rtp(102, 960, 0x1234, p20[0]!)]]));
console.log(`seeds written under ${corpus}`);
