/**
 * `parloir report <log.jsonl> -o report.html`: a call's QoS log as one self-contained HTML page.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { EngineError } from '../engine/errors.ts';
import { UsageError } from '../errors.ts';
import { readQosLog } from '../qos-log/qos-log.ts';
import { renderReport, summarise } from '../report/report.ts';

export const command: Command = {
  usage: `Usage: parloir report <call.jsonl> [-o report.html] [--json]

Turns a call QoS log (written in <profile>/calls/ by every call) into one self-contained HTML
file: a summary, charts of jitter, loss, RTT, MOS, bitrate and buffer delay over time, and the
suggestions that fired. Without -o the HTML goes to stdout. --json prints the summary instead.`,
  options: {
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean', default: false },
  },
  allowPositionals: true,
  run(args) {
    const [input, ...extra] = args.positionals;
    if (input === undefined || extra.length > 0) {
      throw new UsageError('CLI_ERR_MISSING_ARG', 'parloir report: give exactly one log file');
    }
    const log = readQosLog(input);
    if (args.values.json === true) {
      console.log(JSON.stringify(summarise(log)));
      return Promise.resolve(0);
    }
    const html = renderReport(log, { source: input });
    const out = args.values.output;
    if (typeof out === 'string') {
      try {
        writeFileSync(out, html);
      } catch (err) {
        throw new EngineError('REPORT_ERR_IO', `cannot write ${out}`, { cause: err });
      }
      console.log(`parloir report: wrote ${out} (${log.snapshots.length} snapshots)`);
    } else {
      process.stdout.write(html);
    }
    return Promise.resolve(0);
  },
};
