/**
 * STUN/TURN wire format (RFC 8489, RFC 8656): message parse and build, attributes,
 * MESSAGE-INTEGRITY, FINGERPRINT, XOR addresses and ChannelData. No state, no sockets: the
 * counterpart of pion/turn's `internal/proto`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { fail, type TurnResult } from './errors.ts';

/** RFC 8489 §5: the fixed magic cookie. */
export const MAGIC_COOKIE = 0x2112a442;
/** Size of the STUN header, bytes. */
export const STUN_HEADER_BYTES = 20;
/**
 * Highest channel number accepted. RFC 8656 §12 allows 0x4000-0x4FFF, but RFC 5766 §11 allowed
 * 0x4000-0x7FFF and clients of that era still use the whole range: coturn's turnutils_uclient
 * picks a random number up to 0x7FFF (coturn's own STUN_VALID_CHANNEL accepts it), so refusing
 * 0x7FFF failed about one uclient ChannelBind in 16,384 with 400 (an intermittent interop failure).
 */
export const MAX_CHANNEL = 0x7fff;
/** Lowest channel number. */
export const MIN_CHANNEL = 0x4000;
/** Size of the ChannelData header, bytes (RFC 8656 §12.4). */
export const CHANNEL_HEADER_BYTES = 4;
/** Largest STUN message or ChannelData frame we accept, bytes (a UDP datagram's practical cap). */
export const MAX_MESSAGE_BYTES = 65_535;

/** STUN methods (RFC 8489 §18.2, RFC 8656 §17). */
export const Method = {
  BINDING: 0x001,
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
  /** RFC 6062 §6.1. */
  CONNECT: 0x00a,
  CONNECTION_BIND: 0x00b,
  CONNECTION_ATTEMPT: 0x00c,
} as const;

/** STUN classes (RFC 8489 §5). */
export const MessageClass = {
  REQUEST: 0,
  INDICATION: 1,
  SUCCESS: 2,
  ERROR: 3,
} as const;

/** Attribute types (RFC 8489 §18.3, RFC 8656 §18). */
export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  CONNECTION_ID: 0x002a,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ICMP: 0x8004,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;

/** Comprehension-required attributes (type < 0x8000) this server understands. */
export const KNOWN_REQUIRED_ATTRIBUTES: ReadonlySet<number> = new Set([
  Attr.MAPPED_ADDRESS,
  Attr.USERNAME,
  Attr.MESSAGE_INTEGRITY,
  Attr.ERROR_CODE,
  Attr.UNKNOWN_ATTRIBUTES,
  Attr.CHANNEL_NUMBER,
  Attr.LIFETIME,
  Attr.XOR_PEER_ADDRESS,
  Attr.DATA,
  Attr.REALM,
  Attr.NONCE,
  Attr.XOR_RELAYED_ADDRESS,
  Attr.REQUESTED_ADDRESS_FAMILY,
  Attr.EVEN_PORT,
  Attr.REQUESTED_TRANSPORT,
  Attr.DONT_FRAGMENT,
  Attr.XOR_MAPPED_ADDRESS,
  Attr.RESERVATION_TOKEN,
  Attr.PRIORITY,
  Attr.USE_CANDIDATE,
  Attr.PADDING,
  Attr.RESPONSE_PORT,
  Attr.CONNECTION_ID,
]);

/** One attribute as found in a message; `value` is a view into the message bytes. */
export interface StunAttribute {
  /** Attribute type. */
  type: number;
  /** Value bytes, without padding. */
  value: Buffer;
}

/** A parsed STUN message. */
export interface StunMessage {
  /** Method, 12 bits (see {@link Method}). */
  method: number;
  /** Class, 0..3 (see {@link MessageClass}). */
  cls: number;
  /** Transaction id, 12 bytes (view into `raw`). */
  transactionId: Buffer;
  /** Attributes in wire order, up to and including MESSAGE-INTEGRITY and FINGERPRINT. */
  attributes: StunAttribute[];
  /** Offset of the MESSAGE-INTEGRITY attribute header in `raw`, or -1 when absent. */
  integrityOffset: number;
  /** The whole message, bytes. */
  raw: Buffer;
}

/** A transport address. */
export interface TransportAddress {
  /** Dotted IPv4 or IPv6 text. */
  ip: string;
  /** UDP/TCP port. */
  port: number;
}

/** Whether the first byte says "STUN" (top two bits 00) rather than ChannelData (01). */
export function looksLikeStun(firstByte: number): boolean {
  return (firstByte & 0xc0) === 0;
}

/** Whether the first byte says "ChannelData" (RFC 8656 §12.4: channel numbers 0x4000-0x7FFF). */
export function looksLikeChannelData(firstByte: number): boolean {
  return (firstByte & 0xc0) === 0x40;
}

/**
 * Parses one STUN message that fills `buf` exactly (RFC 8489 §5/§14). Checks the header, the
 * attribute walk and, if present, FINGERPRINT. Never throws.
 */
export function parseStunMessage(buf: Buffer): TurnResult<StunMessage> {
  if (buf.length < STUN_HEADER_BYTES) return fail('TURN_ERR_TRUNCATED', 'STUN header truncated');
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) return fail('TURN_ERR_NOT_STUN', 'top bits are not 00');
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) return fail('TURN_ERR_NOT_STUN', 'no magic cookie');
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) return fail('TURN_ERR_BAD_LENGTH', 'length not a multiple of 4');
  if (STUN_HEADER_BYTES + length !== buf.length) {
    return fail('TURN_ERR_BAD_LENGTH', `length ${length} does not match ${buf.length} bytes`);
  }
  // RFC 8489 §5: method bits M0-M11 interleaved with class bits C0 (bit 4) and C1 (bit 8).
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type & 0x0010) >> 4) | ((type & 0x0100) >> 7);
  const attributes: StunAttribute[] = [];
  let integrityOffset = -1;
  let offset = STUN_HEADER_BYTES;
  let sawFingerprint = false;
  while (offset < buf.length) {
    if (sawFingerprint) return fail('TURN_ERR_BAD_ATTRIBUTE', 'attribute after FINGERPRINT');
    if (offset + 4 > buf.length) return fail('TURN_ERR_TRUNCATED', 'attribute header truncated');
    const attrType = buf.readUInt16BE(offset);
    const attrLen = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + attrLen;
    if (end > buf.length) return fail('TURN_ERR_TRUNCATED', 'attribute value truncated');
    // RFC 8489 §14.5: only FINGERPRINT may follow MESSAGE-INTEGRITY; later ones are ignored.
    if (integrityOffset < 0 || attrType === Attr.FINGERPRINT) {
      if (attrType === Attr.MESSAGE_INTEGRITY) {
        if (attrLen !== 20) return fail('TURN_ERR_BAD_ATTRIBUTE', 'MESSAGE-INTEGRITY not 20 bytes');
        integrityOffset = offset;
      }
      if (attrType === Attr.FINGERPRINT) {
        if (attrLen !== 4) return fail('TURN_ERR_BAD_ATTRIBUTE', 'FINGERPRINT not 4 bytes');
        const want = (crc32(buf.subarray(0, offset)) ^ 0x5354554e) >>> 0;
        if (buf.readUInt32BE(offset + 4) !== want) {
          return fail('TURN_ERR_BAD_FINGERPRINT', 'FINGERPRINT mismatch');
        }
        sawFingerprint = true;
      }
      attributes.push({ type: attrType, value: buf.subarray(offset + 4, end) });
    }
    offset = end + ((4 - (attrLen % 4)) % 4);
  }
  if (offset !== buf.length) return fail('TURN_ERR_TRUNCATED', 'attribute padding truncated');
  return {
    ok: true,
    value: {
      method,
      cls,
      transactionId: buf.subarray(8, 20),
      attributes,
      integrityOffset,
      raw: buf,
    },
  };
}

/** The first attribute of `type`, or undefined. */
export function getAttribute(msg: StunMessage, type: number): Buffer | undefined {
  for (const a of msg.attributes) if (a.type === type) return a.value;
  return undefined;
}

/** Comprehension-required attribute types this server does not know (RFC 8489 §14). */
export function unknownRequiredAttributes(msg: StunMessage): number[] {
  const out: number[] = [];
  for (const a of msg.attributes) {
    if (a.type < 0x8000 && !KNOWN_REQUIRED_ATTRIBUTES.has(a.type)) out.push(a.type);
  }
  return out;
}

/** RFC 8489 §9.2.2: long-term credential key MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

/**
 * Checks MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to the attribute,
 * with the header length set as if MESSAGE-INTEGRITY were the last attribute.
 */
export function checkIntegrity(msg: StunMessage, key: Buffer): boolean {
  const at = msg.integrityOffset;
  if (at < 0) return false;
  const header = Buffer.from(msg.raw.subarray(0, STUN_HEADER_BYTES));
  header.writeUInt16BE(at + 24 - STUN_HEADER_BYTES, 2);
  const mac = createHmac('sha1', key)
    .update(header)
    .update(msg.raw.subarray(STUN_HEADER_BYTES, at))
    .digest();
  return timingSafeEqual(mac, msg.raw.subarray(at + 4, at + 24));
}

/** Decodes a (XOR-)MAPPED-ADDRESS style value (RFC 8489 §14.1-14.2). */
export function decodeAddress(
  value: Buffer,
  xor: boolean,
  transactionId: Buffer,
): TurnResult<TransportAddress & { family: 4 | 6 }> {
  if (value.length < 4) return fail('TURN_ERR_BAD_ATTRIBUTE', 'address attribute too short');
  const family = value[1];
  let port = value.readUInt16BE(2);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01) {
    if (value.length !== 8) return fail('TURN_ERR_BAD_ATTRIBUTE', 'IPv4 address not 8 bytes');
    let n = value.readUInt32BE(4);
    if (xor) n = (n ^ MAGIC_COOKIE) >>> 0;
    const ip = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    return { ok: true, value: { ip, port, family: 4 } };
  }
  if (family === 0x02) {
    if (value.length !== 20) return fail('TURN_ERR_BAD_ATTRIBUTE', 'IPv6 address not 20 bytes');
    const bytes = Buffer.from(value.subarray(4, 20));
    if (xor) {
      const mask = Buffer.alloc(16);
      mask.writeUInt32BE(MAGIC_COOKIE, 0);
      transactionId.copy(mask, 4);
      for (let i = 0; i < 16; i++) bytes[i] = (bytes[i] ?? 0) ^ (mask[i] ?? 0);
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return { ok: true, value: { ip: groups.join(':'), port, family: 6 } };
  }
  return fail('TURN_ERR_BAD_ATTRIBUTE', `unknown address family ${String(family)}`);
}

/** Encodes an IPv4 transport address, XORed with the cookie when `xor` (RFC 8489 §14.2). */
export function encodeAddress(addr: TransportAddress, xor: boolean): Buffer {
  const out = Buffer.alloc(8);
  out[1] = 0x01;
  out.writeUInt16BE(xor ? addr.port ^ (MAGIC_COOKIE >>> 16) : addr.port, 2);
  const n = parseIPv4(addr.ip) ?? 0;
  out.writeUInt32BE(xor ? (n ^ MAGIC_COOKIE) >>> 0 : n, 4);
  return out;
}

/** Parses a dotted-quad IPv4 address to a 32-bit unsigned integer; undefined if not one. */
export function parseIPv4(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** RFC 8489 §14.8 reason phrases for the codes this server sends. */
export const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  446: 'Connection Already Exists',
  447: 'Connection Timeout or Failure',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** Builds one STUN message. Attributes are appended in call order. */
export class StunBuilder {
  #type: number;
  #transactionId: Buffer;
  #parts: Buffer[] = [];
  #length = 0;

  /**
   * @param method STUN method (see {@link Method}).
   * @param cls class (see {@link MessageClass}).
   * @param transactionId 12 bytes.
   */
  constructor(method: number, cls: number, transactionId: Buffer) {
    this.#type =
      (method & 0x000f) |
      ((method & 0x0070) << 1) |
      ((method & 0x0f80) << 2) |
      ((cls & 1) << 4) |
      ((cls & 2) << 7);
    this.#transactionId = transactionId;
  }

  /** Appends one attribute, padding it to 4 bytes. */
  add(type: number, value: Buffer): this {
    const pad = (4 - (value.length % 4)) % 4;
    const head = Buffer.allocUnsafe(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(value.length, 2);
    this.#parts.push(head, value);
    if (pad > 0) this.#parts.push(Buffer.alloc(pad));
    this.#length += 4 + value.length + pad;
    return this;
  }

  /** Appends a 32-bit unsigned attribute (LIFETIME, REQUESTED-TRANSPORT…). */
  addUint32(type: number, value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(value >>> 0, 0);
    return this.add(type, b);
  }

  /** Appends a UTF-8 string attribute (REALM, NONCE, SOFTWARE, USERNAME). */
  addString(type: number, value: string): this {
    return this.add(type, Buffer.from(value, 'utf8'));
  }

  /** Appends an IPv4 address attribute. */
  addAddress(type: number, addr: TransportAddress, xor = true): this {
    return this.add(type, encodeAddress(addr, xor));
  }

  /** Appends ERROR-CODE (RFC 8489 §14.8). */
  addError(code: number, reason = REASONS[code] ?? 'Error'): this {
    const text = Buffer.from(reason, 'utf8');
    const b = Buffer.alloc(4 + text.length);
    b[2] = Math.floor(code / 100);
    b[3] = code % 100;
    text.copy(b, 4);
    return this.add(Attr.ERROR_CODE, b);
  }

  /**
   * Serialises the message, appending MESSAGE-INTEGRITY when `integrityKey` is given and
   * FINGERPRINT when `fingerprint` (RFC 8489 §14.5, §14.7).
   */
  build(options: { integrityKey?: Buffer; fingerprint?: boolean } = {}): Buffer {
    const extra = (options.integrityKey ? 24 : 0) + (options.fingerprint ? 8 : 0);
    const total = STUN_HEADER_BYTES + this.#length + extra;
    const out = Buffer.allocUnsafe(total);
    out.writeUInt16BE(this.#type, 0);
    out.writeUInt32BE(MAGIC_COOKIE, 4);
    this.#transactionId.copy(out, 8, 0, 12);
    let offset = STUN_HEADER_BYTES;
    for (const p of this.#parts) {
      p.copy(out, offset);
      offset += p.length;
    }
    if (options.integrityKey) {
      out.writeUInt16BE(offset + 24 - STUN_HEADER_BYTES, 2);
      const mac = createHmac('sha1', options.integrityKey).update(out.subarray(0, offset)).digest();
      out.writeUInt16BE(Attr.MESSAGE_INTEGRITY, offset);
      out.writeUInt16BE(20, offset + 2);
      mac.copy(out, offset + 4);
      offset += 24;
    }
    if (options.fingerprint) {
      out.writeUInt16BE(offset + 8 - STUN_HEADER_BYTES, 2);
      const crc = (crc32(out.subarray(0, offset)) ^ 0x5354554e) >>> 0;
      out.writeUInt16BE(Attr.FINGERPRINT, offset);
      out.writeUInt16BE(4, offset + 2);
      out.writeUInt32BE(crc, offset + 4);
      offset += 8;
    }
    out.writeUInt16BE(offset - STUN_HEADER_BYTES, 2);
    return out;
  }
}

/** A parsed ChannelData message (RFC 8656 §12.4). */
export interface ChannelData {
  /** Channel number, {@link MIN_CHANNEL}-{@link MAX_CHANNEL}. */
  channel: number;
  /** Application data (view into the input). */
  data: Buffer;
}

/**
 * Parses a ChannelData message. Over UDP the datagram may carry padding after the data; the
 * length field must not exceed what is there (RFC 8656 §12.5).
 */
export function parseChannelData(buf: Buffer): TurnResult<ChannelData> {
  if (buf.length < CHANNEL_HEADER_BYTES) {
    return fail('TURN_ERR_TRUNCATED', 'ChannelData header truncated');
  }
  const channel = buf.readUInt16BE(0);
  if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) {
    return fail('TURN_ERR_BAD_CHANNEL_DATA', `channel 0x${channel.toString(16)} out of range`);
  }
  const length = buf.readUInt16BE(2);
  if (CHANNEL_HEADER_BYTES + length > buf.length) {
    return fail('TURN_ERR_TRUNCATED', 'ChannelData shorter than its length field');
  }
  return { ok: true, value: { channel, data: buf.subarray(4, 4 + length) } };
}

/**
 * Builds a ChannelData message. With `pad` the frame is padded to 4 bytes, as TCP requires
 * (RFC 8656 §12.5).
 */
export function buildChannelData(channel: number, data: Buffer, pad: boolean): Buffer {
  const padding = pad ? (4 - (data.length % 4)) % 4 : 0;
  const out = Buffer.allocUnsafe(4 + data.length + padding);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  if (padding > 0) out.fill(0, 4 + data.length);
  return out;
}

/** A frame cut from a TCP stream: a STUN message or a ChannelData message (padding removed). */
export interface StreamFrame {
  /** The frame bytes, STUN message or ChannelData header plus data. */
  frame: Buffer;
}

/**
 * Splits a TCP byte stream into STUN and ChannelData frames (RFC 8656 §12.5: ChannelData padded to
 * 4 bytes over TCP; STUN messages carry their own length). Keeps the tail for the next chunk.
 */
export class StreamFramer {
  #pending: Buffer = Buffer.alloc(0);
  #maxFrameBytes: number;

  /** @param maxFrameBytes largest frame accepted, bytes; larger means a broken stream. */
  constructor(maxFrameBytes = MAX_MESSAGE_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet framed (the stream turns raw after an RFC 6062 ConnectionBind). */
  takePending(): Buffer {
    const out = this.#pending;
    this.#pending = Buffer.alloc(0);
    return out;
  }

  /** Feeds one chunk; returns whole frames, or an error if the stream cannot be framed. */
  push(chunk: Buffer): TurnResult<Buffer[]> {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Buffer[] = [];
    while (buf.length >= 4) {
      const first = buf[0] ?? 0;
      const len = buf.readUInt16BE(2);
      let frameLen: number;
      let wireLen: number;
      if (looksLikeStun(first)) {
        frameLen = STUN_HEADER_BYTES + len;
        wireLen = frameLen;
      } else if (looksLikeChannelData(first)) {
        frameLen = CHANNEL_HEADER_BYTES + len;
        wireLen = frameLen + ((4 - (len % 4)) % 4);
      } else {
        return fail('TURN_ERR_NOT_STUN', 'stream carries neither STUN nor ChannelData');
      }
      if (wireLen > this.#maxFrameBytes) {
        return fail('TURN_ERR_FRAME_TOO_LARGE', `frame of ${wireLen} bytes`);
      }
      if (buf.length < wireLen) break;
      frames.push(buf.subarray(0, frameLen));
      buf = buf.subarray(wireLen);
    }
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return { ok: true, value: frames };
  }
}
