/**
 * The client-side call state machine: an explicit state union and discriminated inputs; an
 * illegal transition returns a typed error instead of changing state. Pure: no I/O, no clock.
 * The server runs its own authoritative machine (packages/server/src/core/calls.ts); this one
 * mirrors it from one party's point of view. Model: LiveKit `SignalClientStateMachine.ts`.
 */
import { SignalingError } from './errors.ts';
import type { CallEndReason, IceServer } from './messages.ts';

/** The other party of a call. */
export interface Peer {
  userId: string;
  name: string;
}

/** Where this client's call is. */
export type CallState =
  | { phase: 'idle' }
  /** `call.invite` sent, no call id yet. `callId` is set early on glare. */
  | { phase: 'inviting'; peerId: string; callId?: string }
  /** Outgoing call known to the server; `ringing` once the callee's client rings. */
  | { phase: 'outgoing'; callId: string; peerId: string; ringing: boolean }
  /** Someone is calling us. */
  | { phase: 'incoming'; callId: string; peer: Peer }
  /** Accepted: media may flow. The offerer sends the SDP offer. */
  | {
      phase: 'active';
      callId: string;
      peer: Peer;
      role: 'offerer' | 'answerer';
      iceServers: IceServer[];
      relayOnly: boolean;
    };

/** Everything that can move the machine: local actions and server events. */
export type CallInput =
  | { kind: 'invite'; peerId: string }
  | { kind: 'invite-result'; callId: string }
  | { kind: 'invite-failed' }
  | { kind: 'incoming'; callId: string; from: Peer }
  | { kind: 'ringing'; callId: string }
  | { kind: 'accept' }
  | { kind: 'reject' }
  | { kind: 'cancel' }
  | { kind: 'hangup' }
  | {
      kind: 'accepted';
      callId: string;
      peer: Peer;
      role: 'offerer' | 'answerer';
      iceServers: IceServer[];
      relayOnly: boolean;
    }
  | { kind: 'ended'; callId: string; reason: CallEndReason };

/** Outcome of one transition. */
export type CallTransition =
  { ok: true; state: CallState } | { ok: false; error: SignalingError; state: CallState };

function illegal(state: CallState, input: CallInput): CallTransition {
  const code =
    state.phase === 'idle' &&
    (input.kind === 'accept' ||
      input.kind === 'reject' ||
      input.kind === 'hangup' ||
      input.kind === 'cancel')
      ? 'SIG_ERR_NOT_IN_CALL'
      : input.kind === 'invite'
        ? 'SIG_ERR_ALREADY_IN_CALL'
        : 'SIG_ERR_ILLEGAL_TRANSITION';
  return {
    ok: false,
    state,
    error: new SignalingError(code, `call: cannot '${input.kind}' while ${state.phase}`),
  };
}

function callIdOf(state: CallState): string | undefined {
  return state.phase === 'idle' ? undefined : state.callId;
}

/** Applies `input` to `state`. Never throws. */
export function transitionCall(state: CallState, input: CallInput): CallTransition {
  switch (input.kind) {
    case 'invite':
      if (state.phase !== 'idle') return illegal(state, input);
      return { ok: true, state: { phase: 'inviting', peerId: input.peerId } };
    case 'invite-result':
      if (state.phase !== 'inviting') return illegal(state, input);
      return {
        ok: true,
        state: { phase: 'outgoing', callId: input.callId, peerId: state.peerId, ringing: false },
      };
    case 'invite-failed':
      if (state.phase !== 'inviting') return illegal(state, input);
      return { ok: true, state: { phase: 'idle' } };
    case 'incoming':
      if (state.phase === 'idle') {
        return { ok: true, state: { phase: 'incoming', callId: input.callId, peer: input.from } };
      }
      if (state.phase === 'inviting') {
        // Glare: the peer we are inviting invites us; the server merges both into its call.
        if (state.peerId === input.from.userId) {
          return { ok: true, state: { ...state, callId: input.callId } };
        }
        // The server took this call first; our invite will fail with SIG_ERR_ALREADY_IN_CALL.
        return { ok: true, state: { phase: 'incoming', callId: input.callId, peer: input.from } };
      }
      return illegal(state, input);
    case 'ringing':
      if (state.phase !== 'outgoing' || state.callId !== input.callId) return illegal(state, input);
      return { ok: true, state: { ...state, ringing: true } };
    case 'accept':
    case 'reject':
      if (state.phase !== 'incoming') return illegal(state, input);
      return { ok: true, state };
    case 'cancel':
      if (state.phase !== 'outgoing' && state.phase !== 'inviting') return illegal(state, input);
      return { ok: true, state };
    case 'hangup':
      if (state.phase === 'idle') return illegal(state, input);
      return { ok: true, state };
    case 'accepted':
      if (callIdOf(state) !== input.callId) return illegal(state, input);
      return {
        ok: true,
        state: {
          phase: 'active',
          callId: input.callId,
          peer: input.peer,
          role: input.role,
          iceServers: input.iceServers,
          relayOnly: input.relayOnly,
        },
      };
    case 'ended':
      if (callIdOf(state) !== input.callId) return illegal(state, input);
      return { ok: true, state: { phase: 'idle' } };
  }
}
