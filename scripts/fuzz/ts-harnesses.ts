/**
 * Property fuzzers for the TypeScript parsers of untrusted bytes. Each harness takes any bytes
 * and must return normally: the parsers return a result or a typed error and never throw. A
 * harness also checks what it can of the result (a parsed RTP packet serialises back to the same
 * bytes; a parsed Opus TOC has a legal duration). Seeds are real messages built with the project's
 * own encoders; scripts/fuzz.ts mutates them.
 */
import { Buffer } from 'node:buffer';
import { parseOpusToc, parseRtp, serializeRtp } from '@parloir/media';
import { parseClientMessage, parseServerMessage } from '@parloir/protocol';
import {
  buildChannelData,
  parseChannelData,
  parseStunMessage,
} from '../../packages/server/src/turn/stun.ts';

/** One TypeScript fuzz target. */
export interface TsHarness {
  /** Harness name, as printed by `npm run fuzz`. */
  name: string;
  /** Source files whose block coverage is reported, relative to the repository root. */
  files: string[];
  /** Well-formed inputs to start mutating from. */
  seeds: () => Uint8Array[];
  /** Runs one input; throws only on a real failure (a thrown parser, a broken invariant). */
  run: (input: Uint8Array) => void;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`invariant broken: ${what}`);
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export const TS_HARNESSES: TsHarness[] = [
  {
    name: 'ts-rtp',
    files: ['packages/media/src/rtp.ts'],
    seeds: () => [
      serializeRtp({
        version: 2,
        padding: false,
        marker: true,
        payloadType: 111,
        sequenceNumber: 65535,
        timestamp: 0xfffffff0,
        ssrc: 0x1234,
        payload: Uint8Array.from([0x78, 1, 2, 3]),
      } as Parameters<typeof serializeRtp>[0]),
    ],
    run: (input) => {
      const r = parseRtp(input);
      if (r.ok) {
        check(r.value.payload.length <= input.length, 'payload inside the packet');
        check(r.value.sequenceNumber >= 0 && r.value.sequenceNumber <= 0xffff, 'sequence number');
      }
    },
  },
  {
    name: 'ts-opus-toc',
    files: ['packages/media/src/opus-toc.ts'],
    seeds: () => [Uint8Array.from([0x78, 1, 2]), Uint8Array.from([0xfb, 0x83, 1, 2, 3])],
    run: (input) => {
      const r = parseOpusToc(input);
      if (r.ok) check(r.value.durationMs > 0 && r.value.durationMs <= 120, 'duration 2.5..120 ms');
    },
  },
  {
    name: 'ts-stun',
    files: ['packages/server/src/turn/stun.ts'],
    seeds: () => {
      const b = Buffer.alloc(28);
      b.writeUInt16BE(0x0001, 0); // Binding request
      b.writeUInt16BE(8, 2);
      b.writeUInt32BE(0x2112a442, 4);
      b.fill(9, 8, 20);
      b.writeUInt16BE(0x8022, 20); // SOFTWARE
      b.writeUInt16BE(4, 22);
      b.write('test', 24);
      return [b, buildChannelData(0x4000, Buffer.from([1, 2, 3]), true)];
    },
    run: (input) => {
      const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
      parseStunMessage(buf);
      const c = parseChannelData(buf);
      if (c.ok) check(c.value.data.length <= input.length - 4, 'channel data inside the packet');
    },
  },
  {
    name: 'ts-signaling',
    files: ['packages/protocol/src/messages.ts', 'packages/protocol/src/schema.ts'],
    seeds: () =>
      [
        '{"type":"auth","id":1,"protocolVersion":1,"name":"alice","publicKey":"AAAA","signature":"BBBB"}',
        '{"type":"invite","id":2,"to":"bob","sdp":"v=0\\r\\n"}',
        '{"type":"chat.send","id":3,"to":"bob","text":"salut"}',
        '{"type":"hello","challenge":"abc","serverVersion":"0.1.0"}',
      ].map((s) => utf8.encode(s)),
    run: (input) => {
      const s = text.decode(input);
      parseClientMessage(s);
      parseServerMessage(s);
    },
  },
];
