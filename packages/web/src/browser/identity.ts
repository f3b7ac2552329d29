/**
 * The browser's Ed25519 identity, one per display name (issue 17): a **non-extractable** Web
 * Crypto private key kept in IndexedDB, so a returning user keeps their name (the server binds a
 * name to its first key) while no script on the page, not even ours, can read the key's bytes —
 * an XSS can at most sign while the page is open, never copy the key away.
 *
 * Earlier versions kept the key in localStorage as PKCS#8 base64 (`parloir.identity.<name>`).
 * Such a key is imported once as non-extractable, stored in IndexedDB, read back, and only then
 * removed from localStorage: the same identity, and no readable copy left.
 *
 * Web Crypto Ed25519 needs a secure context: https, or http on localhost/127.0.0.1.
 */
import { caseFold, fromBase64, type Signer } from '@parloir/protocol';
import { WebError } from '../errors.ts';

/** localStorage prefix of the old, extractable keys (migrated, then removed). */
export const LEGACY_KEY_PREFIX = 'parloir.identity.';
/** IndexedDB database and object store of the identities. */
export const IDENTITY_DB = 'parloir';
/** Object store of {@link StoredIdentity} records, keyed by case-folded name. */
export const IDENTITY_STORE = 'identities';

/** One stored identity. `CryptoKey` is structured-cloneable: IndexedDB keeps it as it is. */
export interface StoredIdentity {
  /** Ed25519 private key, `extractable: false`, usage `sign`. */
  privateKey: CryptoKey;
  /** Raw public key, 32 bytes. */
  publicKey: Uint8Array;
  /** When it was made or migrated, Unix ms. */
  createdAt: number;
  /** Where it came from: generated here or migrated from localStorage. */
  origin: 'generated' | 'migrated';
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let open: IDBOpenDBRequest;
    try {
      open = indexedDB.open(IDENTITY_DB, 1);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains(IDENTITY_STORE))
        open.result.createObjectStore(IDENTITY_STORE);
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error ?? new Error('IndexedDB open failed'));
    open.onblocked = () => reject(new Error('IndexedDB open blocked by another tab'));
  });
}

async function withStore<T>(
  mode: IDBTransactionMode,
  run: (store: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  const db = await openDb();
  try {
    const tx = db.transaction(IDENTITY_STORE, mode);
    const result = await request(run(tx.objectStore(IDENTITY_STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  } finally {
    db.close();
  }
}

function isStoredIdentity(v: unknown): v is StoredIdentity {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<StoredIdentity>;
  return r.privateKey instanceof CryptoKey && r.publicKey instanceof Uint8Array;
}

function signerOf(rec: StoredIdentity): Signer {
  return {
    publicKey: rec.publicKey,
    sign: async (data) =>
      new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, rec.privateKey, data)),
  };
}

/** Reads the old localStorage key of `name`, if there is a well-formed one. */
function legacyKeyOf(
  name: string,
): { storageKey: string; pkcs8: Uint8Array; pub: Uint8Array } | undefined {
  // The old code keyed by name.toLowerCase(); try that and the case-folded form.
  for (const storageKey of new Set([
    LEGACY_KEY_PREFIX + name.toLowerCase(),
    LEGACY_KEY_PREFIX + caseFold(name),
  ])) {
    const stored = localStorage.getItem(storageKey);
    if (stored === null) continue;
    try {
      const parsed = JSON.parse(stored) as { pkcs8?: unknown; publicKey?: unknown };
      const pkcs8 = typeof parsed.pkcs8 === 'string' ? fromBase64(parsed.pkcs8) : undefined;
      const pub = typeof parsed.publicKey === 'string' ? fromBase64(parsed.publicKey) : undefined;
      if (pkcs8 !== undefined && pub !== undefined) return { storageKey, pkcs8, pub };
    } catch {
      // A corrupt entry is ignored (and left for the user to see); a new key is made.
    }
  }
  return undefined;
}

/**
 * Loads the identity stored for `name`; migrates an old localStorage key; otherwise generates a
 * new non-extractable key and stores it. Rejects with `WEB_ERR_CRYPTO` when IndexedDB or Web
 * Crypto Ed25519 is unavailable (no identity that could not be kept is made up).
 */
export async function loadIdentity(name: string): Promise<Signer> {
  const id = caseFold(name);
  try {
    const found: unknown = await withStore('readonly', (s) => s.get(id));
    if (isStoredIdentity(found)) return signerOf(found);

    const legacy = legacyKeyOf(name);
    let rec: StoredIdentity;
    if (legacy !== undefined) {
      const privateKey = await crypto.subtle.importKey(
        'pkcs8',
        legacy.pkcs8,
        { name: 'Ed25519' },
        false,
        ['sign'],
      );
      rec = { privateKey, publicKey: legacy.pub, createdAt: Date.now(), origin: 'migrated' };
    } else {
      const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
      const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
      rec = { privateKey: pair.privateKey, publicKey, createdAt: Date.now(), origin: 'generated' };
    }
    await withStore('readwrite', (s) => s.put(rec, id));
    // Only once the key is known to be in IndexedDB does the readable copy go.
    const back: unknown = await withStore('readonly', (s) => s.get(id));
    if (!isStoredIdentity(back)) throw new Error('the stored identity did not read back');
    if (legacy !== undefined) localStorage.removeItem(legacy.storageKey);
    return signerOf(back);
  } catch (err) {
    throw new WebError(
      'WEB_ERR_CRYPTO',
      `cannot keep a private key in this browser (IndexedDB and Web Crypto Ed25519 are needed): ${String(err)}`,
      { cause: err },
    );
  }
}
