/**
 * Load-time patch of werift 0.25's SRTP AEAD_AES_128_GCM cipher (RFC 7714) so that RTP packets
 * are sealed and opened by the native addon's {@link NativeSrtpGcm} instead of a
 * `createCipheriv`/`createDecipheriv` per packet.
 *
 * Why: werift's `CipherAesGcm.encryptRtp`/`decryptRtp` (bundle `lib/index.mjs`, "cipher/gcm.ts")
 * build a new node:crypto cipher for every packet, which creates a native CipherBase, imports the
 * key (`prepareSecretKey`, `KeyObject` slots) and expands the AES key schedule each time. `perf`
 * put about 19 % of an answering client's CPU there in a 20 ms Opus call. NativeSrtpGcm keeps one
 * OpenSSL context per session key and only sets a new IV per packet.
 *
 * What stays werift's: the ROC bookkeeping (`SrtpContext`), RTP header parsing, RTCP (SRTCP runs
 * about once a second) and the other profile (AES_CM_128_HMAC_SHA1_80). The patched methods give
 * the same bytes, the same `[packet, header]` tuple and the same `SrtpAuthenticationError`
 * ("Failed to authenticate SRTP packet", what `RTCDtlsTransport` catches to drop a packet).
 *
 * werift's ESM build does not export `CipherAesGcm`: the patch reaches its prototype through an
 * `SrtpSession` built once with throwaway keys and the GCM profile. Before patching it checks that
 * the cipher has the expected shape and that both methods give werift's own output on a probe
 * packet; if anything differs (a werift upgrade), werift is left alone.
 *
 * `PARLOIR_SRTP_JS=1` in the environment skips the patch (werift's JS path, for measurements).
 */
import { NativeSrtpGcm } from '@parloir/native';
import {
  ProtectionProfileAeadAes128Gcm,
  RtpHeader,
  SrtpAuthenticationError,
  SrtpSession,
} from 'werift';

/** werift's SRTP cipher (its class, `CipherAesBase`, is not exported by name). */
type WeriftCipher = SrtpSession['localContext']['cipher'];
type EncryptRtp = WeriftCipher['encryptRtp'];
type DecryptRtp = WeriftCipher['decryptRtp'];

/** What werift's GCM cipher throws on any SRTP authentication failure (cipher/gcm.ts). */
const AUTH_FAILED = 'Failed to authenticate SRTP packet';
/** AES-GCM tag length, in bytes (RFC 7714 §8.2); werift's `aeadAuthTagLen`. */
const TAG_BYTES = 16;
/** Session key length werift's GCM cipher uses ("aes-128-gcm"), in bytes. */
const KEY_BYTES = 16;
/** Bytes of werift's 14-byte session salt that make the GCM IV (RFC 7714 §8.1). */
const SALT_BYTES = 12;
const MIN_HEADER_BYTES = 12;

/** Result of {@link installWeriftSrtpNative}. */
export type WeriftSrtpNativeStatus =
  'native' | 'disabled by PARLOIR_SRTP_JS=1' | `werift left alone: ${string}`;

let status: WeriftSrtpNativeStatus | undefined;
let enabled = true;
/** One native context per werift cipher instance; null when that instance is not eligible. */
const natives = new WeakMap<object, NativeSrtpGcm | null>();

/**
 * Patches werift's GCM cipher prototype. Idempotent; `peer-transport.ts` calls it when it loads.
 * Never throws: any surprise leaves werift as it is and says why.
 * @returns whether packets now go through the addon, or why not
 */
export function installWeriftSrtpNative(): WeriftSrtpNativeStatus {
  if (status !== undefined) return status;
  if (process.env.PARLOIR_SRTP_JS === '1') {
    status = 'disabled by PARLOIR_SRTP_JS=1';
    return status;
  }
  try {
    status = patch();
  } catch (err) {
    status = `werift left alone: ${err instanceof Error ? err.message : String(err)}`;
  }
  return status;
}

/**
 * Routes packets through the addon (true, the default once installed) or werift's own code
 * (false), for packets processed afterwards. Only for the tests that compare the two.
 */
export function setWeriftSrtpNativeEnabled(on: boolean): void {
  enabled = on;
}

function probeSession(): SrtpSession {
  const key = Buffer.alloc(KEY_BYTES, 0x5a);
  const salt = Buffer.alloc(SALT_BYTES, 0xa5);
  return new SrtpSession({
    keys: {
      localMasterKey: key,
      localMasterSalt: salt,
      remoteMasterKey: key,
      remoteMasterSalt: salt,
    },
    profile: ProtectionProfileAeadAes128Gcm,
  });
}

function patch(): WeriftSrtpNativeStatus {
  const probe = probeSession();
  const cipher = probe.localContext.cipher as WeriftCipher & { aeadAuthTagLen?: unknown };
  const proto = Object.getPrototypeOf(cipher) as WeriftCipher | null;
  if (proto === null || proto === Object.prototype) return 'werift left alone: no cipher class';
  if (!Object.hasOwn(proto, 'encryptRtp') || !Object.hasOwn(proto, 'decryptRtp')) {
    return 'werift left alone: the GCM cipher has no own encryptRtp/decryptRtp';
  }
  if (cipher.aeadAuthTagLen !== TAG_BYTES || eligible(cipher) === null) {
    return 'werift left alone: unexpected GCM cipher fields';
  }
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound by .call below
  const encryptRtp: EncryptRtp = proto.encryptRtp;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound by .call below
  const decryptRtp: DecryptRtp = proto.decryptRtp;

  const patchedEncrypt: EncryptRtp = function encryptRtpNative(
    this: WeriftCipher,
    header,
    payload,
    rolloverCounter,
  ) {
    const gcm = enabled ? nativeFor(this) : null;
    if (gcm === null) return encryptRtp.call(this, header, payload, rolloverCounter);
    // werift's IV takes SSRC and SEQ from the header object; serialize() writes those very
    // values (writeUInt16BE/writeUInt32BE throw on anything out of range), the addon reads them.
    return gcm.sealRtp(header.serialize(header.serializeSize), payload, rolloverCounter);
  };
  const patchedDecrypt: DecryptRtp = function decryptRtpNative(
    this: WeriftCipher,
    cipherText,
    rolloverCounter,
    header,
  ) {
    const gcm = enabled && header !== undefined ? nativeFor(this) : null;
    // werift's own call (SrtpContext.decryptRtp) always passes the header it parsed and checked;
    // anything else takes werift's path, which parses it itself.
    if (
      gcm === null ||
      header === undefined ||
      header.payloadOffset < MIN_HEADER_BYTES ||
      header.payloadOffset > cipherText.length - TAG_BYTES
    ) {
      return decryptRtp.call(this, cipherText, rolloverCounter, header);
    }
    const dst = gcm.openRtp(cipherText, header.payloadOffset, rolloverCounter);
    if (dst === null) throw new SrtpAuthenticationError(AUTH_FAILED);
    return [dst, finalizeHeader(header, dst)];
  };

  // Self-check on the probe session before any call uses it: the addon must give werift's
  // bytes, and each side must open what the other sealed.
  const header = new RtpHeader({
    payloadType: 111,
    sequenceNumber: 0xfff3,
    timestamp: 0x12345678,
    ssrc: 0xcafe1234,
    marker: true,
  });
  const payload = Buffer.from('parloir probe payload, odd length.');
  const roc = 3;
  const theirs = encryptRtp.call(cipher, header, payload, roc);
  const ours = patchedEncrypt.call(cipher, header, payload, roc);
  if (!ours.equals(theirs)) return 'werift left alone: sealed probe differs';
  const remote = probe.remoteContext.cipher;
  const parsed = RtpHeader.deSerialize(theirs.subarray(0, theirs.length - TAG_BYTES));
  const [theirPlain] = decryptRtp.call(remote, ours, roc, parsed);
  const [ourPlain] = patchedDecrypt.call(remote, theirs, roc, parsed);
  const plain = Buffer.concat([header.serialize(header.serializeSize), payload]);
  if (!theirPlain.equals(plain) || !ourPlain.equals(plain)) {
    return 'werift left alone: opened probe differs';
  }

  proto.encryptRtp = patchedEncrypt;
  proto.decryptRtp = patchedDecrypt;
  return 'native';
}

/** The addon context of a werift cipher instance, made at its first packet; null: use werift. */
function nativeFor(cipher: WeriftCipher): NativeSrtpGcm | null {
  let gcm = natives.get(cipher);
  if (gcm === undefined) {
    gcm = eligible(cipher);
    natives.set(cipher, gcm);
  }
  return gcm;
}

/**
 * A NativeSrtpGcm for the cipher's SRTP session key and salt, or null if they are not what
 * werift's "aes-128-gcm" path uses (then werift's own code keeps its own behaviour, errors too).
 * The addon frees the OpenSSL context when the werift cipher (and so this object) is collected.
 */
function eligible(cipher: WeriftCipher): NativeSrtpGcm | null {
  const key: unknown = cipher.srtpSessionKey;
  const salt: unknown = cipher.srtpSessionSalt;
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) return null;
  if (!(salt instanceof Uint8Array) || salt.length < SALT_BYTES) return null;
  return new NativeSrtpGcm(key, salt.subarray(0, SALT_BYTES));
}

/** werift's `finalizeSrtpRtpHeader` (srtp/packet.ts, not exported): RTP padding (RFC 3550 §5.1). */
function finalizeHeader(header: RtpHeader, packet: Buffer): RtpHeader {
  if (!header.padding) {
    header.paddingSize = 0;
    return header;
  }
  if (!(packet.length > header.payloadOffset)) throw new SrtpAuthenticationError(AUTH_FAILED);
  const paddingSize = packet[packet.length - 1] ?? 0;
  if (!(paddingSize > 0 && paddingSize <= packet.length - header.payloadOffset)) {
    throw new SrtpAuthenticationError(AUTH_FAILED);
  }
  header.paddingSize = paddingSize;
  return header;
}
