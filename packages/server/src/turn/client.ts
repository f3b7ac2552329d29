/**
 * A minimal sans-IO TURN client: builds requests with long-term credentials and reads responses.
 * Used by the relay's own tests and the hang-up/open-relay checks; real clients are browsers,
 * werift and coturn's uclient.
 */
import { randomBytes } from 'node:crypto';
import {
  Attr,
  MessageClass,
  Method,
  StunBuilder,
  decodeAddress,
  getAttribute,
  longTermKey,
  parseStunMessage,
  type StunMessage,
  type TransportAddress,
} from './stun.ts';

/** A decoded response. */
export interface TurnResponse {
  /** The parsed message. */
  msg: StunMessage;
  /** Error code (e.g. 401), or 0 on success. */
  errorCode: number;
  /** XOR-RELAYED-ADDRESS, if present. */
  relayed?: TransportAddress;
  /** XOR-MAPPED-ADDRESS, if present. */
  mapped?: TransportAddress;
  /** LIFETIME in seconds, if present. */
  lifetimeSec?: number;
  /** CONNECTION-ID (RFC 6062), if present. */
  connectionId?: number;
}

/** Builds TURN requests for one username/password pair. */
export class TurnTestClient {
  #username: string;
  #password: string;
  #realm = '';
  #nonce = '';

  /** @param credentials TURN REST username and password. */
  constructor(credentials: { username: string; password: string }) {
    this.#username = credentials.username;
    this.#password = credentials.password;
  }

  /** Whether a realm and nonce were learnt (from a 401/438). */
  get ready(): boolean {
    return this.#nonce !== '';
  }

  /** Overrides the nonce (to test stale/replayed nonces). */
  set nonce(value: string) {
    this.#nonce = value;
  }

  /** The last nonce learnt. */
  get nonce(): string {
    return this.#nonce;
  }

  /**
   * Builds a request. `add` appends method attributes; credentials are added when a nonce is
   * known (or `auth` is forced false to send an unauthenticated one).
   */
  request(method: number, add?: (b: StunBuilder) => void, auth = true): Buffer {
    const b = new StunBuilder(method, MessageClass.REQUEST, randomBytes(12));
    add?.(b);
    if (!auth || !this.ready) return b.build({ fingerprint: true });
    b.addString(Attr.USERNAME, this.#username)
      .addString(Attr.REALM, this.#realm)
      .addString(Attr.NONCE, this.#nonce);
    const key = longTermKey(this.#username, this.#realm, this.#password);
    return b.build({ integrityKey: key, fingerprint: true });
  }

  /** An Allocate request for a UDP relay. */
  allocate(lifetimeSec?: number): Buffer {
    return this.request(Method.ALLOCATE, (b) => {
      b.addUint32(Attr.REQUESTED_TRANSPORT, 17 << 24);
      if (lifetimeSec !== undefined) b.addUint32(Attr.LIFETIME, lifetimeSec);
    });
  }

  /** An Allocate request for a TCP relay (RFC 6062). */
  allocateTcp(): Buffer {
    return this.request(Method.ALLOCATE, (b) => b.addUint32(Attr.REQUESTED_TRANSPORT, 6 << 24));
  }

  /** A Connect request (RFC 6062 §5.2). */
  connect(peer: TransportAddress): Buffer {
    return this.request(Method.CONNECT, (b) => b.addAddress(Attr.XOR_PEER_ADDRESS, peer));
  }

  /** A ConnectionBind request (RFC 6062 §5.4). */
  connectionBind(connectionId: number): Buffer {
    return this.request(Method.CONNECTION_BIND, (b) =>
      b.addUint32(Attr.CONNECTION_ID, connectionId),
    );
  }

  /** A Refresh request. */
  refresh(lifetimeSec: number): Buffer {
    return this.request(Method.REFRESH, (b) => b.addUint32(Attr.LIFETIME, lifetimeSec));
  }

  /** A CreatePermission request for `peers`. */
  createPermission(...peers: TransportAddress[]): Buffer {
    return this.request(Method.CREATE_PERMISSION, (b) => {
      for (const p of peers) b.addAddress(Attr.XOR_PEER_ADDRESS, p);
    });
  }

  /** A ChannelBind request. */
  channelBind(channel: number, peer: TransportAddress): Buffer {
    return this.request(Method.CHANNEL_BIND, (b) => {
      b.addUint32(Attr.CHANNEL_NUMBER, channel << 16);
      b.addAddress(Attr.XOR_PEER_ADDRESS, peer);
    });
  }

  /** A Send indication. */
  send(peer: TransportAddress, data: Buffer): Buffer {
    return new StunBuilder(Method.SEND, MessageClass.INDICATION, randomBytes(12))
      .addAddress(Attr.XOR_PEER_ADDRESS, peer)
      .add(Attr.DATA, data)
      .build();
  }

  /** Reads a response, learning realm and nonce from 401/438. Undefined if it does not parse. */
  read(buf: Buffer): TurnResponse | undefined {
    const parsed = parseStunMessage(buf);
    if (!parsed.ok) return undefined;
    const msg = parsed.value;
    const err = getAttribute(msg, Attr.ERROR_CODE);
    const errorCode = err && err.length >= 4 ? (err[2] ?? 0) * 100 + (err[3] ?? 0) : 0;
    const realm = getAttribute(msg, Attr.REALM);
    const nonce = getAttribute(msg, Attr.NONCE);
    if (realm) this.#realm = realm.toString('utf8');
    if (nonce) this.#nonce = nonce.toString('utf8');
    const out: TurnResponse = { msg, errorCode };
    const relayed = getAttribute(msg, Attr.XOR_RELAYED_ADDRESS);
    if (relayed) {
      const a = decodeAddress(relayed, true, msg.transactionId);
      if (a.ok) out.relayed = { ip: a.value.ip, port: a.value.port };
    }
    const mapped = getAttribute(msg, Attr.XOR_MAPPED_ADDRESS);
    if (mapped) {
      const a = decodeAddress(mapped, true, msg.transactionId);
      if (a.ok) out.mapped = { ip: a.value.ip, port: a.value.port };
    }
    const lifetime = getAttribute(msg, Attr.LIFETIME);
    if (lifetime && lifetime.length === 4) out.lifetimeSec = lifetime.readUInt32BE(0);
    const id = getAttribute(msg, Attr.CONNECTION_ID);
    if (id && id.length === 4) out.connectionId = id.readUInt32BE(0);
    return out;
  }
}
