/**
 * Side-by-side report for bench/compare.sh: reads the JSON results of the same benchmark run alternately in the
 * working tree and in a baseline ref's worktree, and prints, per headline figure, the median of each tree and
 * their ratio.
 *
 *   npx tsx bench/compare-report.ts <current results dir> <baseline results dir> [--bench NAME]
 *     [--current-label TEXT] [--baseline-label TEXT] [--out FILE]
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runMain } from './harness/bench.ts';
import { formatValue, type Headline, median, table } from './harness/report.ts';
import { kBenches } from './run.ts';

export interface ComparedFigure {
  name: string;
  unit: string;
  better: Headline['better'];
  current: number;
  baseline: number;
  /** current ÷ baseline. */
  ratio: number;
  /** Each tree's values, one per run, in run order. */
  currentRuns: number[];
  baselineRuns: number[];
  verdict: 'better' | 'worse' | 'same' | '–';
}

/** Beyond ±5%, a change gets a verdict; inside it, it is "same" (noise on a shared machine is larger still). */
export const kSameWithin = 0.05;

/**
 * Lines up the headlines of every run of each tree by name and takes medians. Pure. A figure missing from one
 * tree's runs (a benchmark that changed shape) is still listed, with – for the missing side.
 */
export function compareRuns(current: Headline[][], baseline: Headline[][]): ComparedFigure[] {
  const names: Headline[] = [];
  for (const h of [...current, ...baseline].flat()) if (!names.some((n) => n.name === h.name)) names.push(h);
  const valuesOf = (runs: Headline[][], name: string) =>
    runs.map((run) => run.find((h) => h.name === name)?.value ?? Number.NaN).filter((v) => !Number.isNaN(v));
  return names.map((h) => {
    const currentRuns = valuesOf(current, h.name);
    const baselineRuns = valuesOf(baseline, h.name);
    const c = median(currentRuns);
    const b = median(baselineRuns);
    const ratio = c / b;
    let verdict: ComparedFigure['verdict'] = '–';
    if (Number.isFinite(ratio)) {
      if (Math.abs(ratio - 1) <= kSameWithin) verdict = 'same';
      else verdict = ratio > 1 === (h.better === 'higher') ? 'better' : 'worse';
    } else if (c === 0 && b === 0) verdict = 'same';
    return {
      name: h.name,
      unit: h.unit,
      better: h.better,
      current: c,
      baseline: b,
      ratio,
      currentRuns,
      baselineRuns,
      verdict,
    };
  });
}

export function formatComparison(
  bench: string,
  figures: readonly ComparedFigure[],
  labels: { current: string; baseline: string },
  runs: { current: number; baseline: number },
): string {
  const ratio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');
  const runsText = (values: number[]) =>
    values.length === 0 ? '–' : values.map((value) => formatValue({ value, unit: '' })).join(', ');
  const lines = [
    `### ${bench}: ${labels.current} vs ${labels.baseline}`,
    '',
    `Medians over ${runs.current} run(s) of the working tree and ${runs.baseline} of the baseline, run alternately ` +
      `on the same machine; a ratio within ±${kSameWithin * 100}% reads "same" (a shared machine is noisier than that: ` +
      'look at the runs).',
    '',
    ...table<ComparedFigure>(
      [
        ['figure', 'l', (f) => f.name],
        [labels.current, 'r', (f) => formatValue({ value: f.current, unit: f.unit })],
        [labels.baseline, 'r', (f) => formatValue({ value: f.baseline, unit: f.unit })],
        ['current ÷ baseline', 'r', (f) => ratio(f.ratio)],
        ['verdict', 'l', (f) => f.verdict],
        ['runs (current / baseline)', 'l', (f) => `${runsText(f.currentRuns)} / ${runsText(f.baselineRuns)}`],
      ],
      figures,
    ),
  ];
  return lines.join('\n') + '\n';
}

/** The results of one tree: every `<bench>-*.json` under `dir` (one per run), oldest first. */
async function loadRuns(dir: string, bench: string): Promise<Headline[][]> {
  const runs: { at: string; headlines: Headline[] }[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.startsWith(`${bench}-`) && entry.name.endsWith('.json')) {
        const result = JSON.parse(await readFile(full, 'utf8'));
        if (result.bench !== bench) continue;
        runs.push({ at: result.startedAt ?? entry.name, headlines: kBenches[bench]!.headlines(result) });
      }
    }
  };
  await walk(dir);
  return runs.sort((a, b) => a.at.localeCompare(b.at)).map((r) => r.headlines);
}

async function main(argv: readonly string[]): Promise<number> {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) flags[arg.slice(2)] = argv[++i] ?? '';
    else positional.push(arg);
  }
  const [currentDir, baselineDir] = positional;
  const bench = flags.bench;
  if (!currentDir || !baselineDir || !bench) {
    console.error(
      'usage: compare-report.ts <current dir> <baseline dir> --bench NAME [--current-label T] [--baseline-label T] [--out FILE]',
    );
    return 2;
  }
  const current = await loadRuns(currentDir, bench);
  const baseline = await loadRuns(baselineDir, bench);
  if (current.length === 0 || baseline.length === 0) {
    console.error(
      `no ${bench} results: ${current.length} in ${currentDir}, ${baseline.length} in ${baselineDir}`,
    );
    return 1;
  }
  const text = formatComparison(
    bench,
    compareRuns(current, baseline),
    { current: flags['current-label'] || 'working tree', baseline: flags['baseline-label'] || 'baseline' },
    { current: current.length, baseline: baseline.length },
  );
  console.log(text);
  if (flags.out) {
    await writeFile(flags.out, text);
    console.error(`wrote ${path.relative(process.cwd(), flags.out)}`);
  }
  return 0;
}

runMain(import.meta.url, main);
