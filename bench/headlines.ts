/**
 * The few figures of each benchmark's result that a summary (bench/run.ts) or a comparison of two trees
 * (bench/compare.sh) shows. Pure: takes a result object as its JSON file holds it.
 */

export interface Headline {
  name: string;
  value: number;
  unit: string;
  /** Which way is better, so a comparison can say "better" or "worse". */
  better: 'higher' | 'lower';
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
const at = (v: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), v);

function frontEnd(r: Json): Headline[] {
  const out: Headline[] = [];
  for (const route of ['heartbeat', 'result']) {
    const summary = at(r, 'routes', route);
    if (!isObject(summary)) continue;
    out.push(
      {
        name: `${route}: master req/s`,
        value: num(at(summary, 'servers', 'master', 'reqPerSec')),
        unit: 'req/s',
        better: 'higher',
      },
      {
        name: `${route}: master ÷ raw uWS req/s`,
        value: num(at(summary, 'ratios', 'uws', 'median')),
        unit: '×',
        better: 'higher',
      },
      {
        name: `${route}: master ÷ raw uWS CPU/req`,
        value: num(at(summary, 'ratios', 'uws', 'cpuPerReq')),
        unit: '×',
        better: 'lower',
      },
    );
  }
  return out;
}

function registry(r: Json): Headline[] {
  const rows = Array.isArray(r.rows) ? (r.rows as Json[]) : [];
  const out: Headline[] = [];
  for (const row of rows) {
    if (row.implementation !== 'registry') continue;
    const op = row.operation === 'heartbeat' ? 'heartbeat' : `sweep, ${String(row.expiry)} expire`;
    out.push({ name: `${op}, ${num(row.size)} slaves`, value: num(row.meanUs), unit: 'µs', better: 'lower' });
  }
  for (const s of Array.isArray(r.scaling) ? (r.scaling as Json[]) : []) {
    if (s.implementation !== 'registry' || s.operation !== 'sweep' || s.expiry !== 'none') continue;
    out.push({
      name: `sweep, none expire: time × for fleet × ${num(s.fleetFactor)}`,
      value: num(s.costFactor),
      unit: '×',
      better: 'lower',
    });
  }
  return out;
}

function fleet(r: Json): Headline[] {
  const phases = Array.isArray(r.heartbeats) ? (r.heartbeats as Json[]) : [];
  const phase = (kind: string) => phases.find((p) => p.kind === kind);
  return [
    { name: 'tasks/s', value: num(at(r, 'load', 'tasksPerSec')), unit: 'tasks/s', better: 'higher' },
    { name: 'task p50', value: num(at(r, 'load', 'p50Ms')), unit: 'ms', better: 'lower' },
    { name: 'task p99', value: num(at(r, 'load', 'p99Ms')), unit: 'ms', better: 'lower' },
    { name: 'heartbeat p99, under load', value: num(phase('loaded')?.p99Ms), unit: 'ms', better: 'lower' },
    { name: 'heartbeat p99, heartbeats only', value: num(phase('idle')?.p99Ms), unit: 'ms', better: 'lower' },
    { name: 'heartbeat p99 ÷ null master', value: num(at(r, 'ratios', 'p99')), unit: '×', better: 'lower' },
    {
      name: 'heartbeat CPU/beat ÷ null master',
      value: num(at(r, 'ratios', 'cpuPerBeat')),
      unit: '×',
      better: 'lower',
    },
    {
      name: 'false evictions',
      value: num(at(r, 'evictions', 'falseEvictions')),
      unit: '',
      better: 'lower',
    },
    { name: 'master CPU', value: num(at(r, 'load', 'masterCpu')) * 100, unit: '%', better: 'lower' },
    {
      name: 'master RSS per slave',
      value: num(at(r, 'connect', 'rssPerSlaveKiB')),
      unit: 'KiB',
      better: 'lower',
    },
  ];
}

function resultPool(r: Json): Headline[] {
  const out: Headline[] = [];
  const pinned = at(r, 'options', 'pin') === true ? ', pinned' : '';
  const label = (mode: unknown) => {
    const threads = num(at(mode, 'threads'));
    return `${threads === 0 ? 'inline' : `pool ${threads}`}${pinned}`;
  };
  for (const run of Array.isArray(r.heartbeat) ? (r.heartbeat as Json[]) : []) {
    out.push({
      name: `${label(run.mode)}: heartbeat p99 loaded ÷ idle`,
      value: num(run.ratio),
      unit: '×',
      better: 'lower',
    });
  }
  for (const cell of Array.isArray(r.throughput) ? (r.throughput as Json[]) : []) {
    out.push({
      name: `${label(cell.mode)}: results/s, ${num(cell.size)} B ${String(cell.format)}`,
      value: num(at(cell, 'phase', 'results', 'perSecond')),
      unit: 'results/s',
      better: 'higher',
    });
  }
  return out;
}

/** Numbers found in an unknown result (a benchmark this file does not know yet): top-level and one level down. */
function generic(r: Json): Headline[] {
  const out: Headline[] = [];
  const skip = new Set(['environment', 'options', 'samples', 'profile']);
  for (const [key, value] of Object.entries(r)) {
    if (skip.has(key)) continue;
    if (typeof value === 'number') out.push({ name: key, value, unit: '', better: 'higher' });
    else if (isObject(value)) {
      for (const [inner, v] of Object.entries(value)) {
        if (typeof v === 'number')
          out.push({ name: `${key}.${inner}`, value: v, unit: '', better: 'higher' });
      }
    }
  }
  return out.slice(0, 12);
}

/**
 * The headline figures of one result. A benchmark module may export its own `headlines(result)`; pass it as
 * `own` and it wins.
 */
export function headlinesOf(result: unknown, own?: (result: unknown) => Headline[]): Headline[] {
  if (own) return own(result);
  if (!isObject(result)) return [];
  switch (result.bench) {
    case 'front-end':
      return frontEnd(result);
    case 'registry':
      return registry(result);
    case 'fleet':
      return fleet(result);
    case 'result-pool':
      return resultPool(result);
    default:
      return generic(result);
  }
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
