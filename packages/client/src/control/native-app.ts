/**
 * The native app behind the control API (`parloir app`, `parloir host --ui`, `parloir connect
 * --ui`): at most one connection at a time, either a client of a server the user typed, or a
 * host running a server in host mode on this machine (stage one), each with its call media on
 * the app's devices. Host decisions the user asked to remember and the servers connected to are
 * kept in the profile directory, so they survive restarts.
 */
import { networkInterfaces } from 'node:os';
import type { ServerOptions, RunningServer } from '@parloir/server';
import {
  ControlApiError,
  type AppState,
  type ControlArgs,
  type ControlResult,
  type DeviceList,
} from '@parloir/protocol';
import { listAudioDevices, parseDeviceSpec, type AudioDeviceInfo } from '../audio/index.ts';
import { CallMedia } from '../engine/call-media.ts';
import { NativeClient, serverToWsUrl } from '../engine/native-client.ts';
import { startHost, type HostHandle } from '../signaling/host-mode.ts';
import type { ControlApp, ControlTarget } from './control-commands.ts';
import { HostDecisions, RecentServers } from './app-files.ts';
import { testDevices } from './device-test.ts';
import { checkServerTrust } from './server-trust.ts';

/** Options of {@link NativeApp}. */
export interface NativeAppOptions {
  /** Profile directory: identity, pins, remembered decisions, recent servers. */
  profileDir: string;
  /** Capture device spec (`alsa:NAME`, `wav:PATH`, `null`). */
  input: string;
  /** Playback device spec. */
  output: string;
  /** Whether the UI may connect, disconnect and host (false: the command line chose). */
  canConnect: boolean;
  /** Server options used when hosting (port, bind, TLS, data directory…). */
  hostServer?: ServerOptions;
  /** Called with the host's server once it runs (the CLI attaches its TURN relay). */
  onHostServer?: (server: RunningServer) => void;
  /** Restrict ICE host candidates (tests: ['127.0.0.1']). */
  hostAddresses?: string[] | undefined;
  /** Relay-only ICE. */
  relayOnly?: boolean;
  /** Notices (reconnects, pinning, remembered decisions). */
  onNotice?: (msg: string) => void;
}

type Current =
  | { kind: 'client'; server: string; client: NativeClient }
  | { kind: 'host'; host: HostHandle; media: CallMedia; offs: (() => void)[] };

/** The app: one connection at a time, changed by the control API. */
export class NativeApp implements ControlApp {
  #o: NativeAppOptions;
  #current: Current | undefined;
  #busy = false;
  #listeners = new Set<() => void>();
  #decisions: HostDecisions;
  #recent: RecentServers;

  constructor(options: NativeAppOptions) {
    this.#o = options;
    this.#decisions = new HostDecisions(options.profileDir);
    this.#recent = new RecentServers(options.profileDir);
  }

  /** The current session and media. */
  get target(): ControlTarget | undefined {
    const c = this.#current;
    if (c === undefined) return undefined;
    if (c.kind === 'client') return { session: c.client.session, media: c.client.media };
    return { session: c.host.client.session, media: c.media };
  }

  /** The running host, if hosting. */
  get hostHandle(): HostHandle | undefined {
    return this.#current?.kind === 'host' ? this.#current.host : undefined;
  }

  /** What the app is doing. */
  appState(): AppState {
    const c = this.#current;
    return {
      mode: c === undefined ? 'idle' : c.kind,
      ...(c?.kind === 'client' ? { server: c.server } : {}),
      ...(c?.kind === 'host'
        ? { hostAddresses: guestAddresses(c.host.server, this.#o.hostServer?.bind) }
        : {}),
      recentServers: this.#recent.list(),
      decisions: this.#decisions.list(),
      input: this.#o.input,
      output: this.#o.output,
      canConnect: this.#o.canConnect,
    };
  }

  /** Subscribes to connection changes. */
  onChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Uses an already connected client (`parloir connect --ui`). */
  attachClient(server: string, client: NativeClient): void {
    this.#current = { kind: 'client', server, client };
    this.#changed();
  }

  /**
   * Connects to a server typed in the UI; resolves once ready or waiting for the host. A `wss`
   * server whose certificate is new or changed is not connected to: the question comes back
   * (server-trust.ts) until the person accepts that fingerprint.
   */
  async connect(args: ControlArgs<'connect'>): Promise<ControlResult<'connect'>> {
    this.#checkIdle();
    this.#busy = true;
    try {
      const question = await checkServerTrust(
        this.#o.profileDir,
        serverToWsUrl(args.server),
        args.trust,
      );
      if (question !== undefined) return { trust: question };
      const client = await NativeClient.open({
        server: args.server,
        user: args.name,
        password: args.password,
        profileDir: this.#o.profileDir,
        input: this.#o.input,
        output: this.#o.output,
        relayOnly: this.#o.relayOnly === true,
        hostAddresses: this.#o.hostAddresses,
        untilReady: false,
        ...(this.#o.onNotice === undefined ? {} : { onNotice: this.#o.onNotice }),
      });
      this.#recent.add(args.server);
      this.#current = { kind: 'client', server: args.server, client };
    } finally {
      this.#busy = false;
    }
    this.#changed();
    return {};
  }

  /** The `host` command: hosts a call on this machine (refused when the command line chose). */
  async host(args: ControlArgs<'host'>): Promise<ControlResult<'host'>> {
    this.#checkIdle();
    return this.startHosting(args);
  }

  /** Hosts a call on this machine: a server in host mode, with this user as the host. */
  async startHosting(args: ControlArgs<'host'>): Promise<ControlResult<'host'>> {
    if (this.#current !== undefined || this.#busy) {
      throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'already connected: disconnect first');
    }
    this.#busy = true;
    let host: HostHandle;
    try {
      host = await startHost({
        user: args.name,
        profileDir: this.#o.profileDir,
        server: {
          ...this.#o.hostServer,
          ...(args.password === undefined ? {} : { password: args.password }),
        },
      });
    } finally {
      this.#busy = false;
    }
    this.#o.onHostServer?.(host.server);
    const session = host.client.session;
    const media = new CallMedia({
      session,
      input: this.#o.input,
      output: this.#o.output,
      profileDir: this.#o.profileDir,
      hostAddresses: this.#o.hostAddresses,
    });
    const offs = [
      // A remembered decision answers the request at once (the UI sees it come and go).
      session.on('joinRequest', (r) => {
        const d = this.#decisions.get(r.fingerprint);
        if (d === undefined) return;
        this.#o.onNotice?.(`${d.accept ? 'accepting' : 'refusing'} ${r.name}: remembered`);
        session.decideJoin(r.requestId, d.accept).catch(() => undefined);
      }),
    ];
    this.#current = { kind: 'host', host, media, offs };
    this.#changed();
    return { addresses: guestAddresses(host.server, this.#o.hostServer?.bind) };
  }

  /** Leaves the server, or stops hosting; hangs up first. */
  async disconnect(): Promise<void> {
    if (!this.#o.canConnect) {
      throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'started from the command line');
    }
    await this.close();
    this.#changed();
  }

  /** Host: decides a join request, remembering it when asked. */
  async decideJoin(args: ControlArgs<'decideJoin'>): Promise<void> {
    const t = this.target;
    if (t === undefined) throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'not hosting');
    const req = t.session.joinRequests.get(args.requestId);
    await t.session.decideJoin(args.requestId, args.accept);
    if (args.remember === true && req !== undefined) {
      this.#decisions.set({ fingerprint: req.fingerprint, name: req.name, accept: args.accept });
      this.#changed();
    }
  }

  /** The audio devices the engine can open (`null`, `alsa:default`, every ALSA PCM). */
  devices(): DeviceList {
    let all: AudioDeviceInfo[];
    try {
      all = listAudioDevices();
    } catch {
      all = [{ spec: 'null', description: 'Silence in, discard out', direction: 'both' }];
    }
    const pick = (dir: 'capture' | 'playback') =>
      all
        .filter((d) => d.direction === 'both' || d.direction === dir)
        .slice(0, 256)
        .map((d) => ({ spec: d.spec, description: d.description.slice(0, 512) }));
    return { capture: pick('capture'), playback: pick('playback') };
  }

  /**
   * Chooses the capture and playback devices. The capture changes at once, during a call too
   * (the engine switches it without dropping the call); the playback from the next call.
   */
  async setDevices(args: ControlArgs<'setDevices'>): Promise<void> {
    if (this.#busy) throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'connecting');
    for (const spec of [args.input, args.output]) {
      if (spec === undefined) continue;
      try {
        parseDeviceSpec(spec);
      } catch (err) {
        throw new ControlApiError('CONTROL_ERR_BAD_REQUEST', `bad device '${spec}'`, {
          cause: err,
        });
      }
    }
    const media = this.target?.media;
    if (args.input !== undefined) {
      await media?.setInput(args.input);
      this.#o.input = args.input;
    }
    if (args.output !== undefined) {
      await media?.setOutput(args.output);
      this.#o.output = args.output;
    }
    this.#changed();
  }

  /** "Test my microphone and speaker" on the app's devices; refused during a call. */
  async testDevices(args: ControlArgs<'testDevices'>): Promise<ControlResult<'testDevices'>> {
    const media = this.target?.media;
    if (this.#busy || (media !== undefined && media.state.phase !== 'idle')) {
      throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'the devices are in use by a call');
    }
    this.#busy = true;
    try {
      return await testDevices({
        input: this.#o.input,
        output: this.#o.output,
        seconds: args.seconds ?? 3,
      });
    } finally {
      this.#busy = false;
    }
  }

  /** Host: forgets a remembered decision. */
  forgetDecision(fingerprint: string): void {
    this.#decisions.forget(fingerprint);
    this.#changed();
  }

  /** Closes the current connection (and the host's server). */
  async close(): Promise<void> {
    const c = this.#current;
    this.#current = undefined;
    if (c === undefined) return;
    if (c.kind === 'client') {
      if (c.client.session.call.phase !== 'idle') await c.client.session.hangup().catch(() => {});
      await c.client.close();
      return;
    }
    for (const off of c.offs) off();
    if (c.host.client.session.call.phase !== 'idle') {
      await c.host.client.session.hangup().catch(() => {});
    }
    await c.media.close();
    await c.host.close();
  }

  #checkIdle(): void {
    if (!this.#o.canConnect) {
      throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'started from the command line');
    }
    if (this.#current !== undefined || this.#busy) {
      throw new ControlApiError('CONTROL_ERR_WRONG_STATE', 'already connected: disconnect first');
    }
  }

  #changed(): void {
    for (const l of this.#listeners) l();
  }
}

/**
 * The addresses a guest can type to reach this host: each non-internal IPv4 address with the
 * port when the server listens on every address (`bind` 0.0.0.0, the default), else the bound
 * address itself. Plain-HTTP servers (`--insecure-http`) get the `http://` a guest must type.
 */
export function guestAddresses(server: RunningServer, bind = '0.0.0.0'): string[] {
  const u = new URL(server.httpUrl);
  const scheme = u.protocol === 'http:' ? 'http://' : '';
  if (bind !== '0.0.0.0' && bind !== '::') return [`${scheme}${u.host}`];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal) out.push(`${scheme}${a.address}:${server.port}`);
    }
  }
  return out.length > 0 ? out : [`${scheme}127.0.0.1:${server.port}`];
}
