/**
 * `parloir report`: turns a call's QoS log into one self-contained HTML file (inline CSS and SVG,
 * no script, no external resource): a summary, charts over time of jitter, loss, RTT, MOS,
 * bitrate and buffer delay, and the suggestions that fired.
 */
import type { ParsedQosLog, QosSnapshot } from '../qos-log/qos-log.ts';

/** One line of a chart. */
interface Series {
  /** Legend label. */
  name: string;
  /** CSS colour. */
  color: string;
  /** Points as [seconds, value]; NaN values leave a gap. */
  points: [number, number][];
}

const WIDTH = 720;
const HEIGHT = 200;
const PAD_L = 52;
const PAD_R = 12;
const PAD_T = 14;
const PAD_B = 30;

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A "nice" axis step (1, 2 or 5 × 10^n) giving about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

/** Formats a tick label without float noise. */
function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(2)));
}

/** Renders one inline SVG line chart with axes, grid and legend. */
export function svgChart(
  title: string,
  unit: string,
  series: Series[],
  yFixed?: [number, number],
): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  let yMin = yFixed?.[0] ?? 0;
  // An all-zero series (e.g. no loss) still gets a readable 0–1 axis.
  let yMax = yFixed?.[1] ?? (Math.max(0, ...all.map(([, y]) => y)) || 1);
  if (yFixed === undefined) {
    yMin = Math.min(0, ...all.map(([, y]) => y));
    yMax = yMax * 1.1;
  }
  if (yMax <= yMin) yMax = yMin + 1;
  const plotW = WIDTH - PAD_L - PAD_R;
  const plotH = HEIGHT - PAD_T - PAD_B;
  const sx = (x: number): number => PAD_L + (x / xMax) * plotW;
  const sy = (y: number): number => PAD_T + plotH - ((y - yMin) / (yMax - yMin)) * plotH;
  const parts: string[] = [];
  const yStep = niceStep(yMax - yMin, 4);
  for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax + 1e-9; v += yStep) {
    const y = sy(v).toFixed(1);
    parts.push(
      `<line x1="${PAD_L}" x2="${WIDTH - PAD_R}" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${PAD_L - 6}" y="${y}" class="yl">${fmt(v)}</text>`,
    );
  }
  const xStep = niceStep(xMax, 8);
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    const x = sx(v).toFixed(1);
    parts.push(`<text x="${x}" y="${HEIGHT - PAD_B + 16}" class="xl">${fmt(v)}</text>`);
  }
  parts.push(
    `<line x1="${PAD_L}" x2="${PAD_L}" y1="${PAD_T}" y2="${PAD_T + plotH}" class="axis"/>`,
    `<line x1="${PAD_L}" x2="${WIDTH - PAD_R}" y1="${PAD_T + plotH}" y2="${PAD_T + plotH}" class="axis"/>`,
    `<text x="${WIDTH - PAD_R}" y="${HEIGHT - 2}" class="xt">time (s)</text>`,
  );
  series.forEach((s, i) => {
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = true;
    }
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    const lx = PAD_L + 8 + i * 150;
    parts.push(
      `<rect x="${lx}" y="${PAD_T - 10}" width="10" height="3" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${PAD_T - 6}" class="lg">${escapeHtml(s.name)}</text>`,
    );
  });
  return (
    `<figure><figcaption>${escapeHtml(title)} <span class="unit">(${escapeHtml(unit)})</span></figcaption>` +
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(title)}">` +
    parts.join('') +
    '</svg></figure>'
  );
}

/** Mean of the finite values, NaN if none. */
function mean(values: number[]): number {
  const f = values.filter((v) => Number.isFinite(v));
  return f.length === 0 ? Number.NaN : f.reduce((a, b) => a + b, 0) / f.length;
}

/** Formats a number for the summary, or "n/a". */
function num(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

/** Summary figures of a log, also used by `parloir call --json`. */
export interface QosSummary {
  /** Media duration, s. */
  durationS: number;
  /** Path(s) seen. */
  paths: string[];
  /** Mean and minimum MOS. */
  mosMean: number;
  /** Minimum MOS over the call. */
  mosMin: number;
  /** Last grade. */
  grade: string;
  /** Mean interarrival jitter, ms. */
  jitterMeanMs: number;
  /** Cumulative loss of the incoming stream at the end, percent. */
  lossPct: number;
  /** Mean RTT, ms. */
  rttMeanMs: number;
  /** Mean received bitrate, kbit/s. */
  recvKbpsMean: number;
  /** Mean sent bitrate, kbit/s. */
  sendKbpsMean: number;
  /** Mean jitter-buffer delay, ms. */
  bufferMeanMs: number;
  /** Concealed audio at the end, ms. */
  concealedMs: number;
  /** FEC-recovered frames at the end. */
  fecRecovered: number;
  /** Replayed or too-old SRTP packets dropped by the end; NaN for a log that predates the count. */
  packetsReplayed: number;
}

/** Computes the summary of a parsed log. */
export function summarise(log: ParsedQosLog): QosSummary {
  const s = log.snapshots;
  const last: QosSnapshot | undefined = s.at(-1);
  const mos = s.map((x) => x.mos);
  return {
    durationS: (log.end?.durationMs ?? last?.tMs ?? 0) / 1000,
    paths: [...new Set(s.map((x) => x.path))],
    mosMean: mean(mos),
    mosMin: mos.length === 0 ? Number.NaN : Math.min(...mos),
    grade: last?.grade ?? 'n/a',
    jitterMeanMs: mean(s.map((x) => x.jitterMs)),
    lossPct: last?.cumulativeLossPct ?? Number.NaN,
    rttMeanMs: mean(s.map((x) => x.rttMs ?? Number.NaN)),
    recvKbpsMean: mean(s.map((x) => x.recvKbps)),
    sendKbpsMean: mean(s.map((x) => x.sendKbps)),
    bufferMeanMs: mean(s.map((x) => x.jitterBuffer.delayMs)),
    concealedMs: last?.jitterBuffer.concealedMs ?? 0,
    fecRecovered: last?.jitterBuffer.fecRecovered ?? 0,
    packetsReplayed: last?.packetsReplayed ?? Number.NaN,
  };
}

/** Renders the whole report. */
export function renderReport(log: ParsedQosLog, options: { source: string }): string {
  const s = log.snapshots;
  const sum = summarise(log);
  const t = (x: QosSnapshot): number => x.tMs / 1000;
  const line = (name: string, color: string, f: (x: QosSnapshot) => number | null): Series => ({
    name,
    color,
    points: s.map((x) => [t(x), f(x) ?? Number.NaN]),
  });
  const charts = [
    svgChart('Jitter', 'ms', [line('interarrival jitter', '#1f77b4', (x) => x.jitterMs)]),
    svgChart('Packet loss', '%', [
      line('incoming, per second', '#d62728', (x) => x.lossPct),
      line('outgoing (peer RR)', '#ff7f0e', (x) => x.remoteLossPct),
    ]),
    svgChart('Round-trip time', 'ms', [line('RTCP RTT', '#2ca02c', (x) => x.rttMs)]),
    svgChart('MOS (E-model)', '1–5', [line('MOS', '#9467bd', (x) => x.mos)], [1, 5]),
    svgChart('Bitrate', 'kbit/s', [
      line('sent', '#8c564b', (x) => x.sendKbps),
      line('received', '#17becf', (x) => x.recvKbps),
    ]),
    svgChart('Jitter buffer', 'ms', [
      line('delay', '#e377c2', (x) => x.jitterBuffer.delayMs),
      line('target', '#7f7f7f', (x) => x.jitterBuffer.targetMs),
    ]),
  ];
  const fired = s.flatMap((x) => x.suggestions.map((g) => ({ t: t(x), ...g })));
  const seen = new Set<string>();
  const rows = fired
    .filter((f) => {
      const k = `${Math.floor(f.t)}|${f.en}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .map(
      (f) =>
        `<tr><td>${f.t.toFixed(0)} s</td><td>${escapeHtml(f.en)}</td><td lang="fr">${escapeHtml(f.fr)}</td></tr>`,
    );
  const st = log.start;
  const head = st
    ? `${escapeHtml(st.user)} ${st.role === 'caller' ? '→' : '←'} ${escapeHtml(st.peer)}, ${escapeHtml(st.startedAt)}`
    : 'call';
  const summaryRows: [string, string][] = [
    ['Duration', `${num(sum.durationS, 0)} s`],
    ['Path', sum.paths.join(', ') || 'n/a'],
    ['MOS (mean / min)', `${num(sum.mosMean, 2)} / ${num(sum.mosMin, 2)} — ${sum.grade}`],
    ['Incoming loss', `${num(sum.lossPct)} %`],
    ['Jitter (mean)', `${num(sum.jitterMeanMs)} ms`],
    ['RTT (mean)', `${num(sum.rttMeanMs)} ms`],
    ['Bitrate sent / received', `${num(sum.sendKbpsMean)} / ${num(sum.recvKbpsMean)} kbit/s`],
    ['Jitter buffer (mean)', `${num(sum.bufferMeanMs)} ms`],
    ['Concealed / FEC-recovered', `${num(sum.concealedMs, 0)} ms / ${sum.fecRecovered} frames`],
    [
      'Replayed packets dropped',
      Number.isNaN(sum.packetsReplayed) ? 'not logged' : String(sum.packetsReplayed),
    ],
    ['Verification code', escapeHtml(st?.sas ?? 'n/a')],
    [
      'Media path (send / receive)',
      escapeHtml(`${st?.sendPath ?? 'not logged'} / ${st?.receivePath ?? 'not logged'}`),
    ],
    ['End', escapeHtml(log.end?.reason ?? 'log ends without an end record')],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Parloir call report — ${head}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}
figure{margin:1em 0}figcaption{font-weight:600}.unit{font-weight:400;color:#666}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg text{font-size:10px;fill:#555}
svg .yl{text-anchor:end;dominant-baseline:middle}svg .xl{text-anchor:middle}svg .xt{text-anchor:end}
.src{color:#666;font-size:12px}
</style></head><body>
<h1>Parloir call report</h1>
<p>${head}</p>
<p class="src">From ${escapeHtml(options.source)}: ${s.length} one-second snapshots.</p>
<h2>Summary</h2>
<table>${summaryRows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<h2>Over time</h2>
${charts.join('\n')}
<h2>Suggestions that fired</h2>
${rows.length === 0 ? '<p>None.</p>' : `<table><tr><th>At</th><th>Suggestion</th><th>Suggestion (fr)</th></tr>${rows.join('')}</table>`}
</body></html>
`;
}
