/**
 * The session events the control API relays to the UI: each one the UI follows crosses as a
 * control push that parses back (what the native backend reads) with the same payload.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseControlPush,
  type ClientSession,
  type ClientSessionEvents,
  type ControlEvent,
} from '@parloir/protocol';
import { relaySessionEvents } from './control-commands.ts';

/** A stand-in with the one method relaySessionEvents uses: `on`, and a way to fire events. */
class FakeSession {
  #listeners = new Map<string, Set<(p: unknown) => void>>();

  on<K extends keyof ClientSessionEvents>(
    event: K,
    listener: (payload: ClientSessionEvents[K]) => void,
  ): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, set);
    const l = listener as (p: unknown) => void;
    set.add(l);
    return () => set.delete(l);
  }

  fire<K extends keyof ClientSessionEvents>(event: K, payload: ClientSessionEvents[K]): void {
    for (const l of this.#listeners.get(event) ?? []) l(payload);
  }

  listening(event: string): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}

test("the peer's reconnecting and back events reach the UI as control pushes that parse", () => {
  const s = new FakeSession();
  const sent: ControlEvent[] = [];
  const off = relaySessionEvents(s as unknown as ClientSession, (e) => sent.push(e));
  const callId = 'c-1';
  const userId = 'a'.repeat(32);
  s.fire('peerReconnecting', { callId, userId, graceMs: 30_000 });
  s.fire('peerReconnected', { callId, userId });
  assert.deepEqual(
    sent.map((e) => {
      const r = parseControlPush(JSON.stringify({ type: 'event', ...e }));
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      return r.value;
    }),
    [
      { type: 'event', event: 'peerReconnecting', payload: { callId, userId, graceMs: 30_000 } },
      { type: 'event', event: 'peerReconnected', payload: { callId, userId } },
    ],
  );
  off();
  assert.equal(s.listening('peerReconnecting'), 0);
  assert.equal(s.listening('peerReconnected'), 0);
});
