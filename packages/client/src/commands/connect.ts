/**
 * `parloir connect`: an interactive line interface to a server (online list, calls, chat,
 * block, do-not-disturb, mid-call settings, stats), plus the local control API on 127.0.0.1 so
 * the web UI can drive this client (`--ui` also serves the built web UI).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { caseFold, sanitizeForTerminal } from '@parloir/protocol';
import type { Command } from '../command.ts';
import { stringOpt } from '../command.ts';
import { ControlServer } from '../control/control-server.ts';
import { NativeApp } from '../control/native-app.ts';
import { EngineError } from '../engine/errors.ts';
import { NativeClient, callEndError } from '../engine/native-client.ts';
import { CALL_OPTIONS, clientOptionsFromArgs } from './call.ts';

const HELP = `commands:
  list                      who is online
  call <name>               call someone
  accept | refuse           answer the incoming call
  hangup                    end (or cancel) the call
  msg <name> <text>         send a chat message
  block <name> | unblock <name>
  dnd on|off                do not disturb
  set <bitrate|frame|fec|loss|dtx|jb-min|jb-max|period|gain|mute|adapt|volume|aec|ns|agc|
       aec-level|ns-level|audio-engine> <value>
  stats                     QoS of the current call
  approve <id> | deny <id>  host mode: answer a join request
  quit`;

/**
 * Text from the server or a peer (names, chat, reasons, error messages), made safe to print
 * (issue 17): escape sequences, bidi overrides and line breaks become visible escapes.
 */
const t = (s: string): string => sanitizeForTerminal(s);

/**
 * Chat text, made safe to print: line breaks kept but every continuation line indented, so a
 * message cannot fake a line of its own (`* bob is online`).
 */
export function chatLines(text: string): string {
  return sanitizeForTerminal(text, { multiline: true }).replaceAll('\n', '\n    ');
}

/** Runs one line of the interactive interface; returns false on `quit`. Output via `print`. */
export async function runLine(
  client: NativeClient,
  line: string,
  print: (s: string) => void,
): Promise<boolean> {
  const [cmd = '', ...rest] = line.trim().split(/\s+/);
  const s = client.session;
  const userByName = (name: string | undefined): string => {
    if (name === undefined) throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'missing <name>');
    const u = [...s.online.values()].find((x) => caseFold(x.name) === caseFold(name));
    if (u === undefined) throw new EngineError('CALL_ERR_OFFLINE', `${name} is not online`);
    return u.userId;
  };
  switch (cmd) {
    case '':
      return true;
    case 'help':
      print(HELP);
      return true;
    case 'list': {
      const users = [...s.online.values()];
      print(
        users.length === 0
          ? 'nobody else is online'
          : users.map((u) => `  ${t(u.name)} (${u.status})`).join('\n'),
      );
      return true;
    }
    case 'call':
      await s.invite(userByName(rest[0]));
      print(`calling ${rest[0]}…`);
      return true;
    case 'accept':
      await s.accept();
      return true;
    case 'refuse':
      await s.reject();
      return true;
    case 'hangup':
      await s.hangup();
      return true;
    case 'msg': {
      const [name, ...words] = rest;
      if (words.length === 0) throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'msg <name> <text>');
      await s.sendChat(userByName(name), words.join(' '));
      return true;
    }
    case 'block':
      await s.block(userByName(rest[0]));
      print(`blocked ${rest[0]}`);
      return true;
    case 'unblock': {
      const name = rest[0];
      const list = await s.blocked();
      const u = list.find((x) => x.name === name);
      if (u === undefined)
        throw new EngineError('CONTROL_ERR_BAD_REQUEST', `${name} is not blocked`);
      await s.unblock(u.userId);
      print(`unblocked ${name}`);
      return true;
    }
    case 'dnd': {
      const on = rest[0] === 'on';
      if (!on && rest[0] !== 'off') throw new EngineError('CONTROL_ERR_BAD_REQUEST', 'dnd on|off');
      await s.setStatus(on ? 'dnd' : 'available');
      print(`do not disturb ${on ? 'on' : 'off'}`);
      return true;
    }
    case 'set': {
      const [name, value] = rest;
      if (name === undefined || value === undefined) {
        throw new EngineError('ENGINE_ERR_BAD_SETTING', 'set <name> <value>');
      }
      const st = client.media.set(name, value);
      const at = client.media.engine?.captureClockMs;
      // The capture clock lets a test find the change in the peer's output.
      print(
        `= set ${name} ${value}${at === undefined ? '' : ` at capture ${at.toFixed(0)} ms`}: ${JSON.stringify(st)}`,
      );
      return true;
    }
    case 'stats': {
      const e = client.media.engine;
      if (e === undefined) {
        print('no call in progress');
        return true;
      }
      print(`= stats ${JSON.stringify(await e.snapshotNow())}`);
      return true;
    }
    case 'approve':
    case 'deny': {
      const id = rest[0];
      if (id === undefined) throw new EngineError('CONTROL_ERR_BAD_REQUEST', `${cmd} <request id>`);
      await s.decideJoin(id, cmd === 'approve');
      return true;
    }
    case 'quit':
    case 'exit':
      return false;
    default:
      throw new EngineError('CONTROL_ERR_UNKNOWN_COMMAND', `unknown command '${cmd}' (try help)`);
  }
}

/** Prints session and media events as lines. Returns the unsubscribe function. */
export function printEvents(client: NativeClient, print: (s: string) => void): () => void {
  const s = client.session;
  const name = (id: string): string => t(s.online.get(id)?.name ?? id.slice(0, 8));
  const offs = [
    s.on('ready', (r) =>
      print(`* connected as ${t(r.name)}${r.resumed ? ' (session resumed)' : ''}`),
    ),
    s.on('connection', (c) => {
      if (c.kind === 'disconnected')
        print(`* signalling disconnected (${c.closeCode ?? 'no code'})`);
      if (c.kind === 'pending-approval') print('* waiting for the host to let you in…');
    }),
    s.on('presence', (p) => {
      for (const u of p.joined) print(`* ${t(u.name)} is online (${t(u.status)})`);
      for (const id of p.left) print(`* ${t(id.slice(0, 8))} left`);
      for (const c of p.changed) print(`* ${name(c.userId)} is ${t(c.status)}`);
    }),
    s.on('incomingCall', (c) => print(`! incoming call from ${t(c.from.name)}: accept or refuse`)),
    s.on('callAccepted', (c) => print(`* call with ${t(c.peer.name)} accepted; connecting media…`)),
    s.on('callEnded', (e) => {
      const err = e.reason === 'hangup' ? undefined : callEndError(e.reason);
      print(`* call ended: ${t(e.reason)}${err ? ` (${t(err.message)})` : ''}`);
    }),
    s.on('callMissed', (m) => print(`* missed call from ${t(m.from.name)} (${t(m.reason)})`)),
    s.on('chat', (m) => {
      if (m.from !== s.userId) print(`< ${name(m.from)}: ${chatLines(m.text)}`);
    }),
    s.on('joinRequest', (r) =>
      print(
        `! ${t(r.name)} (${t(r.fingerprint)}) from ${t(r.address)} asks to join: approve ${t(r.requestId)} / deny ${t(r.requestId)}`,
      ),
    ),
    s.on('shutdown', (x) => print(`* server shutting down: ${t(x.reason)}`)),
    client.media.on('state', (m) => {
      if (m.phase === 'up' && m.sas !== undefined) {
        print(
          `= media up (${m.path ?? 'path unknown'}), verification code: ${m.sas.words} (${m.sas.digits})`,
        );
      }
      if (m.phase === 'failed') print(`* media failed: ${t(m.error ?? 'unknown')}`);
    }),
    client.media.on('ended', (e) =>
      print(`= media ended (${e.reason}); QoS log ${e.logPath ?? 'none'}`),
    ),
  ];
  return () => {
    for (const off of offs) off();
  };
}

export const command: Command = {
  usage: `Usage: parloir connect --server URL --user NAME [options]

Interactive client: shows who is online, incoming calls and chat as they happen.
${HELP}

Options: --in DEV, --out DEV, --relay, --bitrate, --frame-ms, --no-adapt, --profile DIR,
--password P, --host-address IP (as in parloir call), and:
  --ui            also serve the web UI (packages/web/dist) with the control API: open the
                  printed URL in a browser on this machine to use this client from it
  --control-port  port of the control API on 127.0.0.1 (default: a free one)

The control API's URL and token are written to <profile>/control.json (see docs/control-api.md).`,
  options: {
    ...CALL_OPTIONS,
    ui: { type: 'boolean', default: false },
    'control-port': { type: 'string' },
  },
  allowPositionals: false,
  async run(args) {
    const print = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    const client = await NativeClient.open({
      ...clientOptionsFromArgs(args, (m) => print(`* ${m}`)),
      untilReady: false,
    });
    const offEvents = printEvents(client, print);
    let uiDir: string | undefined;
    if (args.values.ui === true) {
      uiDir = resolve(import.meta.dirname, '../../../web/dist');
      if (!existsSync(resolve(uiDir, 'index.html'))) {
        print(`* no built web UI in ${uiDir} (run npm run setup); serving the control API only`);
        uiDir = undefined;
      }
    }
    const portArg = stringOpt(args, 'control-port');
    // The command line chose the server: the UI follows this client and cannot switch it.
    const app = new NativeApp({
      profileDir: client.profileDir,
      input: stringOpt(args, 'in') ?? 'alsa:default',
      output: stringOpt(args, 'out') ?? 'alsa:default',
      canConnect: false,
    });
    app.attachClient(stringOpt(args, 'server') ?? '', client);
    const control = new ControlServer({
      app,
      profileDir: client.profileDir,
      uiDir,
      ...(portArg === undefined ? {} : { port: Number(portArg) }),
    });
    const info = await control.listen();
    print(`* control API on ${info.url} (token in ${client.profileDir}/control.json)`);
    // The page takes the token from the URL fragment (never sent to any server).
    if (uiDir !== undefined) print(`* web UI: ${info.url}/#native=${info.token}`);
    const users = [...client.session.online.values()];
    print(
      `* ${users.length} online: ${users.map((u) => t(u.name)).join(', ') || 'nobody'} (help for commands)`,
    );
    const rl = createInterface({ input: process.stdin, terminal: false });
    try {
      for await (const line of rl) {
        try {
          const cont = await runLine(client, line, print);
          if (!cont) break;
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          print(
            `? ${t(err instanceof Error ? err.message : String(err))}${typeof code === 'string' ? ` [${t(code)}]` : ''}`,
          );
        }
      }
    } finally {
      rl.close();
      if (client.session.call.phase !== 'idle') await client.session.hangup().catch(() => {});
      offEvents();
      await control.close();
      await client.close();
    }
    return 0;
  },
};
