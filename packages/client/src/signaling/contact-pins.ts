/**
 * Contact keys pinned at the first call (issue 17 §1), like a Signal safety number:
 * `contacts.json` in the profile directory maps a contact's name to the identity key its first
 * call was signed with. The decision is protocol's `checkPin`; this file only stores pins.
 * Without a profile directory the pins live as long as the object.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPin, MediaAuthError, type ContactPin } from '@parloir/protocol';

/** Pins of one profile. */
export class ContactPins {
  #path: string | undefined;
  #pins: Record<string, ContactPin> = {};

  /** `profileDir`: where `contacts.json` lives; undefined keeps the pins in memory only. */
  constructor(profileDir: string | undefined) {
    this.#path = profileDir === undefined ? undefined : join(profileDir, 'contacts.json');
    if (this.#path === undefined) return;
    try {
      const parsed = JSON.parse(readFileSync(this.#path, 'utf8')) as unknown;
      if (typeof parsed === 'object' && parsed !== null) {
        this.#pins = parsed as Record<string, ContactPin>;
      }
    } catch {
      // No file yet (first call), or unreadable: start empty and rewrite it.
    }
  }

  /** The pin file, if any. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Checks `peer` against its pin and pins it on first use. Throws `MEDIA_AUTH_ERR_KEY_CHANGED`
   * (with where to remove the old pin) when the key differs. Returns whether it was pinned now.
   */
  check(peer: { name: string; userId: string; identityKey: Uint8Array }): boolean {
    const existing = this.#pins[peer.name];
    let pin: ContactPin;
    try {
      pin = checkPin(existing, peer, new Date().toISOString());
    } catch (err) {
      if (err instanceof MediaAuthError && this.#path !== undefined) {
        throw new MediaAuthError(
          err.code,
          `${err.message}. To accept the new key, remove "${peer.name}" from ${this.#path}.`,
        );
      }
      throw err;
    }
    if (existing !== undefined) return false;
    this.#pins[peer.name] = pin;
    if (this.#path !== undefined) {
      const tmp = `${this.#path}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(this.#pins, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, this.#path);
    }
    return true;
  }
}
