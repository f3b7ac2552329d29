/// <reference types="vite/client" />

/*
 * TypeScript 6's DOM lib types Web Crypto inputs as `BufferSource` over `ArrayBuffer` only, while
 * @parloir/protocol (checked against Node's types) passes `Uint8Array<ArrayBufferLike>`. At run
 * time both are fine (Chromium accepts any ArrayBufferView that is not shared); these overloads
 * let the shared protocol code type-check under the DOM lib too.
 */
interface SubtleCrypto {
  digest(algorithm: AlgorithmIdentifier, data: ArrayBufferView): Promise<ArrayBuffer>;
  importKey(
    format: 'raw' | 'pkcs8' | 'spki',
    keyData: ArrayBufferView,
    algorithm: AlgorithmIdentifier,
    extractable: boolean,
    keyUsages: KeyUsage[],
  ): Promise<CryptoKey>;
  sign(algorithm: AlgorithmIdentifier, key: CryptoKey, data: ArrayBufferView): Promise<ArrayBuffer>;
  verify(
    algorithm: AlgorithmIdentifier,
    key: CryptoKey,
    signature: ArrayBufferView,
    data: ArrayBufferView,
  ): Promise<boolean>;
}
