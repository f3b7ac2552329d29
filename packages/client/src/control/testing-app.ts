/**
 * A {@link ControlApp} test double around a fixed session and media, for tests of the control
 * server's sockets that need no server: connecting and hosting answer CONTROL_ERR_WRONG_STATE.
 */
import { ControlApiError, type AppState, type ClientSession } from '@parloir/protocol';
import type { CallMedia } from '../engine/call-media.ts';
import type { ControlApp, ControlTarget } from './control-commands.ts';

/** A control app that always drives `session` and `media`. */
export function fixedApp(session: ClientSession, media: CallMedia): ControlApp {
  const target: ControlTarget = { session, media };
  const no = (): Promise<never> =>
    Promise.reject(new ControlApiError('CONTROL_ERR_WRONG_STATE', 'fixed test app'));
  const state: AppState = {
    mode: 'client',
    recentServers: [],
    decisions: [],
    input: 'null',
    output: 'null',
    canConnect: false,
  };
  return {
    target,
    appState: () => state,
    connect: no,
    disconnect: no,
    host: no,
    decideJoin: (a) => session.decideJoin(a.requestId, a.accept),
    forgetDecision: () => undefined,
    devices: () => ({
      capture: [{ spec: 'null', description: 'silence' }],
      playback: [{ spec: 'null', description: 'discard' }],
    }),
    setDevices: no,
    testDevices: no,
    onChanged: () => () => undefined,
  };
}
