/**
 * The fleet benchmark's rows: one per load measured (each `--engine` × each `--via`, one after the other), side
 * by side, with submit ÷ per-connection tasks/s (issue 14's target: ≥ 0.9 at 1,000 slaves) and the engines'
 * ratios; the table, the target lines and the headlines they give. Pure.
 */
import type { EngineName } from '../../src/http/engine.ts';
import { fixed, type Headline, higher, percent, table, thousands } from '../harness/report.ts';

/** How the load's tasks reach the slaves: `connection.newTask().start()` → `join()`, or `master.submit()` → `join()`. */
export const kVias = ['connection', 'submit'] as const;
export type Via = (typeof kVias)[number];

export const kViaLabels: Readonly<Record<Via, string>> = {
  connection: 'per connection: newTask().start() → join()',
  submit: 'submit: master.submit() → join()',
};

export const kSubmitTarget = Object.freeze({ ratio: 0.9, slaves: 1000 });

/** What a row needs of one load's figures (the benchmark's assembled result). */
export interface LoadFigures {
  load: {
    tasksPerSec: number;
    p50Ms: number;
    p99Ms: number;
    masterCpu: number;
    failed: number;
    startFailed: number;
  };
  heartbeats: readonly { kind: string; p99Ms: number }[];
  evictions: { falseEvictions: number };
}

/** One load's figures, beside the others'. */
export interface LoadRow {
  engine: EngineName;
  via: Via;
  tasksPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Heartbeat p99 while the tasks ran. */
  loadedBeatP99Ms: number;
  masterCpu: number;
  failed: number;
  falseEvictions: number;
}

export function loadRow(engine: EngineName, via: Via, figures: LoadFigures): LoadRow {
  const l = figures.load;
  return {
    engine,
    via,
    tasksPerSec: l.tasksPerSec,
    p50Ms: l.p50Ms,
    p99Ms: l.p99Ms,
    loadedBeatP99Ms: figures.heartbeats.find((h) => h.kind === 'loaded')?.p99Ms ?? Number.NaN,
    masterCpu: l.masterCpu,
    failed: l.failed + l.startFailed,
    falseEvictions: figures.evictions.falseEvictions,
  };
}

/** What names a row that is not the first (the first engine and path are the benchmark's own figures). */
export function rowLabel(
  row: Pick<LoadRow, 'engine' | 'via'>,
  first: Pick<LoadRow, 'engine' | 'via'>,
): string {
  const parts = [
    row.engine !== first.engine && `${row.engine} engine`,
    row.via !== first.via && `via ${row.via}`,
  ];
  return parts.filter((p): p is string => typeof p === 'string').join(', ');
}

/** Per engine that ran both paths: submit tasks/s ÷ per-connection tasks/s, same engine, same run. */
export function submitRatios(rows: readonly LoadRow[]): { engine: EngineName; ratio: number }[] {
  const out: { engine: EngineName; ratio: number }[] = [];
  for (const engine of new Set(rows.map((r) => r.engine))) {
    const of = (via: Via) => rows.find((r) => r.engine === engine && r.via === via);
    const submit = of('submit');
    const connection = of('connection');
    if (submit && connection) out.push({ engine, ratio: submit.tasksPerSec / connection.tasksPerSec });
  }
  return out;
}

/** Issue 14's target, one line per engine that ran both paths (reported, never asserted). */
export function submitTargets(rows: readonly LoadRow[], slaves: number) {
  const t = kSubmitTarget;
  const first = rows[0]?.engine;
  return submitRatios(rows).map(({ engine, ratio }) => ({
    name:
      `submit tasks/s ÷ per-connection tasks/s ≥ ${t.ratio} with ${thousands(t.slaves)} slaves` +
      (engine === first ? '' : `, ${engine} engine`),
    value: ratio,
    met: ratio >= t.ratio,
    note: slaves === t.slaves ? '' : `this run: ${thousands(slaves)} slaves`,
  }));
}

/** The table of rows, when more than one load ran. */
export function rowsTable(rows: readonly LoadRow[]): string[] {
  const first = rows[0];
  if (first === undefined || rows.length < 2) return [];
  const engines = new Set(rows.map((r) => r.engine)).size > 1;
  const vias = new Set(rows.map((r) => r.via)).size > 1;
  const find = (engine: EngineName, via: Via) => rows.find((r) => r.engine === engine && r.via === via);
  const ratio = (a: LoadRow, b: LoadRow | undefined) =>
    b === undefined ? '–' : fixed(a.tasksPerSec / b.tasksPerSec, 2);
  const what = [engines && 'engine', vias && 'path'].filter(Boolean).join(' and ');
  return [
    `By ${what} (one load after the other; the tables below are the first row's):`,
    '',
    ...table(
      [
        ...(engines ? ['engine'] : []),
        ...(vias ? ['path'] : []),
        ...['tasks/s', 'task p50 ms', 'task p99 ms', 'heartbeat p99 under load ms', 'master CPU', 'failed'],
        'false evictions',
        ...(engines ? [`tasks/s ÷ ${first.engine}`] : []),
        ...(vias ? ['tasks/s ÷ per connection'] : []),
      ],
      `${engines ? 'l' : ''}${vias ? 'l' : ''}rrrrrrr${engines ? 'r' : ''}${vias ? 'r' : ''}`,
      rows.map((r) => [
        ...(engines ? [r.engine] : []),
        ...(vias ? [kViaLabels[r.via]] : []),
        ...[thousands(r.tasksPerSec), fixed(r.p50Ms, 2), fixed(r.p99Ms, 2), fixed(r.loadedBeatP99Ms, 2)],
        ...[percent(r.masterCpu), r.failed, r.falseEvictions],
        ...(engines ? [ratio(r, find(first.engine, r.via))] : []),
        ...(vias ? [ratio(r, find(r.engine, 'connection'))] : []),
      ]),
    ),
    '',
  ];
}

/** tasks/s of every row but the first (the benchmark's own `tasks/s`), and submit ÷ per-connection. */
export function rowHeadlines(rows: readonly LoadRow[]): Headline[] {
  const first = rows[0];
  if (first === undefined) return [];
  return [
    ...rows.slice(1).map((r) => higher(`tasks/s, ${rowLabel(r, first)}`, r.tasksPerSec, 'tasks/s')),
    ...submitRatios(rows).map(({ engine, ratio }) =>
      higher(
        `submit ÷ per-connection tasks/s${engine === first.engine ? '' : `, ${engine} engine`}`,
        ratio,
        '×',
      ),
    ),
  ];
}
