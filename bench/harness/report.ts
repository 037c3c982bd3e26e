/**
 * What every benchmark's report shares: statistics (median, histogram summaries), number formats, one markdown
 * table writer, the environment line, and headlines (the few figures a suite summary or a comparison of two trees
 * shows). Pure.
 */
import type { Histogram } from 'node:perf_hooks';

export interface Headline {
  name: string;
  value: number;
  unit: string;
  /** Which way is better, so a comparison can say "better" or "worse". */
  better: 'higher' | 'lower';
}

export const higher = (name: string, value: number, unit = ''): Headline => ({
  name,
  value,
  unit,
  better: 'higher',
});
export const lower = (name: string, value: number, unit = ''): Headline => ({
  name,
  value,
  unit,
  better: 'lower',
});

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface HistogramSummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * Percentiles of a node:perf_hooks histogram, divided into milliseconds (1000 for µs, 1e6 for ns), less
 * `offsetMs` (floored at 0): `monitorEventLoopDelay` records the time between its timer's ticks, so its
 * resolution is subtracted to leave the delay.
 */
export function summariseHistogram(h: Histogram, perMs: number, offsetMs = 0): HistogramSummary {
  // a histogram never written to has no percentiles (node answers 0 and a huge min)
  const count = 'count' in h ? (h as { count: number }).count : Number.NaN;
  const at = (value: number) => (count === 0 ? Number.NaN : Math.max(0, value / perMs - offsetMs));
  return {
    count,
    p50: at(h.percentile(50)),
    p99: at(h.percentile(99)),
    p999: at(h.percentile(99.9)),
    max: at(h.max),
    mean: at(h.mean),
  };
}

/** CPU milliseconds (user + system) of a `process.cpuUsage()`. */
export const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

export const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const percent = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–');
/** Milliseconds with as many digits as they deserve. */
export const ms = (n: number) =>
  !Number.isFinite(n) ? '–' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);

/**
 * A table column: its header, its alignment (`l` or `r`), its cell; `shown` false leaves it out (a dimension the
 * run did not vary).
 */
export type Column<R> = readonly [head: string, align: 'l' | 'r', cell: (row: R) => unknown, shown?: boolean];

/** A markdown table: one column spec per column, one line per row. */
export function table<R>(columns: readonly Column<R>[], rows: readonly R[]): string[] {
  const shown = columns.filter(([, , , when]) => when !== false);
  const line = (cells: readonly unknown[]) => `| ${cells.join(' | ')} |`;
  const rule = `|${shown.map(([, align]) => (align === 'r' ? '--:' : '---')).join('|')}|`;
  return [
    line(shown.map(([head]) => head)),
    rule,
    ...rows.map((r) => line(shown.map(([, , cell]) => cell(r)))),
  ];
}

export interface Environment {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  /** 1-minute load average before and after: other work on the machine shows up here. */
  loadAverage: [number, number];
}

export function environmentLine(r: { environment: Environment; startedAt: string }): string {
  const e = r.environment;
  return (
    `node ${e.node}, ${e.cpus} × ${e.cpuModel}; load average ${fixed(e.loadAverage[0], 2)} → ` +
    `${fixed(e.loadAverage[1], 2)}; ${r.startedAt}.`
  );
}

/** A figure as a table shows it. */
export function formatValue(h: Pick<Headline, 'value' | 'unit'>): string {
  if (!Number.isFinite(h.value)) return '–';
  const abs = Math.abs(h.value);
  const text = Number.isInteger(h.value)
    ? h.value.toLocaleString('en-US')
    : abs >= 1000
      ? Math.round(h.value).toLocaleString('en-US')
      : abs >= 100
        ? h.value.toFixed(0)
        : abs >= 1
          ? h.value.toFixed(2)
          : h.value.toPrecision(3);
  return h.unit === '' ? text : h.unit === '%' || h.unit === '×' ? `${text}${h.unit}` : `${text} ${h.unit}`;
}
