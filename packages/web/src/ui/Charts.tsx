/**
 * Live QoS charts with uPlot: six small plots over the last 60 s (jitter, loss, RTT, MOS,
 * bitrate, buffer delay), fed from the store's samples in both modes.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { QOS_WINDOW_S } from '../app/store.ts';
import type { QosSample } from '../app/types.ts';
import type { MsgKey } from '../i18n.ts';
import { useAppState, useT } from './context.ts';

interface Series {
  key: Exclude<keyof QosSample, 't' | 'grade'>;
  label: MsgKey;
  colour: string;
  /** Fixed y range, or undefined for auto. */
  range?: [number, number];
}

const SERIES: Series[] = [
  { key: 'jitterMs', label: 'chart_jitter', colour: '#7c5cff' },
  { key: 'lossPct', label: 'chart_loss', colour: '#ef4444' },
  { key: 'rttMs', label: 'chart_rtt', colour: '#0ea5e9' },
  { key: 'mos', label: 'chart_mos', colour: '#10b981', range: [1, 4.5] },
  { key: 'bitrateKbps', label: 'chart_bitrate', colour: '#f59e0b' },
  { key: 'bufferDelayMs', label: 'chart_buffer', colour: '#ec4899' },
];

function Chart({ series, samples }: { series: Series; samples: QosSample[] }) {
  const t = useT();
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const last = samples.at(-1);
  const value = last?.[series.key];

  useEffect(() => {
    const el = host.current;
    if (el === null) return;
    const axisStroke = getComputedStyle(el).getPropertyValue('--muted').trim() || '#888';
    const grid = { stroke: 'rgba(127,127,127,0.15)', width: 1 };
    const opts: uPlot.Options = {
      width: Math.max(120, el.clientWidth),
      height: 110,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: true },
        y: series.range ? { range: series.range } : { range: (_u, _min, max) => [0, max || 1] },
      },
      axes: [
        {
          stroke: axisStroke,
          grid,
          ticks: { show: false },
          size: 22,
          space: 40,
          font: '10px system-ui',
          // Seconds relative to the newest sample: "-60 s" … "0 s".
          values: (u, splits) => splits.map((v) => `${Math.round(v - (u.scales.x?.max ?? v))} s`),
        },
        { stroke: axisStroke, grid, ticks: { show: false }, size: 34, font: '10px system-ui' },
      ],
      series: [
        {},
        {
          stroke: series.colour,
          width: 2,
          fill: `${series.colour}22`,
          spanGaps: true,
          // Dots only while there are too few samples to draw a line.
          points: { show: (u: uPlot) => u.data[0].length < 3, size: 5 },
        },
      ],
    };
    const u = new uPlot(opts, [[], []], el);
    plot.current = u;
    const ro = new ResizeObserver(() =>
      u.setSize({ width: Math.max(120, el.clientWidth), height: 110 }),
    );
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [series]);

  useEffect(() => {
    const u = plot.current;
    if (u === null) return;
    const now = samples.at(-1)?.t ?? Date.now() / 1000;
    const xs = samples.map((s) => s.t);
    const ys = samples.map((s) => s[series.key]);
    u.setData([xs, ys], false);
    u.setScale('x', { min: now - QOS_WINDOW_S, max: now });
  }, [samples, series]);

  return (
    <figure className="chart" data-series={series.key}>
      <figcaption>
        <span>{t(series.label)}</span>
        <strong>
          {value === null || value === undefined ? '—' : formatValue(series.key, value)}
        </strong>
      </figcaption>
      <div ref={host} className="chart-plot" />
    </figure>
  );
}

function formatValue(key: Series['key'], v: number): string {
  if (key === 'mos') return v.toFixed(2);
  if (key === 'lossPct') return v.toFixed(1);
  return Math.round(v).toString();
}

/** The six charts. */
export function Charts() {
  const { samples } = useAppState();
  const t = useT();
  return (
    <section className="charts" aria-label={t('charts')}>
      <h3>{t('charts')}</h3>
      <div className="chart-grid">
        {SERIES.map((s) => (
          <Chart key={s.key} series={s} samples={samples} />
        ))}
      </div>
    </section>
  );
}
