/**
 * `parloir server`: the signalling server (WebSocket at /ws, /healthz, /metrics, web UI) on one
 * HTTPS port. The logic is in ../signaling/run-server.ts and @parloir/server.
 */
import type { Command } from '../command.ts';
import { SERVER_CLI_OPTIONS, SERVER_CLI_USAGE, runServerCommand } from '../signaling/run-server.ts';

export const command: Command = {
  usage: `Usage: parloir server [options]

Runs a Parloir server: signalling, presence, chat, persistence; the web UI on the same port.
Prints "parloir server listening url=… port=… fingerprint=…" once ready; SIGTERM stops it.

Options:
${SERVER_CLI_USAGE}`,
  options: SERVER_CLI_OPTIONS,
  allowPositionals: false,
  run: runServerCommand,
};
