/**
 * `parloir netem`: not built yet; see the open issues. It says so instead of pretending.
 */
import type { Command } from '../command.ts';

export const command: Command = {
  usage: 'Usage: parloir netem [options]\n\nNot implemented yet in this build of Parloir.',
  options: {},
  allowPositionals: true,
  run() {
    console.log('parloir netem: not implemented yet in this build of Parloir.');
    return Promise.resolve(0);
  },
};
