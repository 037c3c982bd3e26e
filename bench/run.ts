/**
 * The benchmark suite (`npm run bench`): front end, registry, fleet, chaos, result pool and nats, each with modest
 * settings so the whole suite takes a few minutes, then one summary table of their headline figures. A benchmark
 * that cannot run on this machine (nats without nats-server) is listed as skipped. Each benchmark also runs alone
 * with all its flags (`npx tsx bench/<name>/<name>.ts --help`).
 *
 *   npm run bench [-- --only fleet,registry] [-- --quick] [-- --no-write]
 */
import path from 'node:path';
import { chaos } from './chaos/chaos.ts';
import { fleet } from './fleet/fleet.ts';
import { frontEnd } from './front-end/front-end.ts';
import { type OptionsOf, subsetOf, toggle, value } from './harness/args.ts';
import {
  type Bench,
  BenchSkipped,
  defineBench,
  type Figures,
  type Result,
  runIfMain,
} from './harness/bench.ts';
import { canPin } from './harness/pin.ts';
import { environmentLine, formatValue, type Headline, table } from './harness/report.ts';
import { nats } from './nats/nats.ts';
import { registry } from './registry/registry.ts';
import { resultPool } from './result-pool/result-pool.ts';

/** Every benchmark, in suite order: a new one is one more entry here (and in `settingsFor`). */
// biome-ignore lint/suspicious/noExplicitAny: each benchmark has its own options and figures
export const kBenches: Readonly<Record<string, Bench<any, Figures & object>>> = {
  'front-end': frontEnd,
  registry,
  fleet,
  chaos,
  'result-pool': resultPool,
  nats,
};
export const kBenchNames = Object.keys(kBenches);

/** Each benchmark's suite settings: modest, so the suite takes a few minutes; `quick` about halves them. */
function settingsFor(bench: string, quick: boolean): Record<string, unknown> {
  switch (bench) {
    case 'front-end':
      return quick ? { rounds: 2, duration: 0.5, warmup: 0.5 } : { rounds: 3, duration: 1, warmup: 0.5 };
    case 'registry':
      return quick ? { time: 100, iterations: 5 } : {};
    case 'fleet':
      return { slaves: 1000, duration: quick ? 8 : 20, warmup: 2, baselineDuration: quick ? 2 : 5 };
    case 'chaos':
      // its defaults are issue 14's shape (1% of 1,000 slaves killed every 10 s for 40 s)
      return quick ? { duration: 10, killEvery: 5 } : {};
    case 'result-pool':
      // its own defaults plan minutes of load: shorter windows, same shape; placed as deployed (--pin) where
      // taskset allows, as issue 3's target was measured (bench/README.md, "Reading it honestly")
      return { ...(quick ? { duration: 1, warmup: 0.5 } : { duration: 2, warmup: 1 }), pin: canPin() };
    case 'nats':
      // three phases of 1,000 slaves: each connects (≈ 5 s here), warms up and measures
      return { slaves: 1000, duration: quick ? 3 : 5, warmup: 2 };
    default:
      return {};
  }
}

export interface SuiteEntry {
  bench: string;
  /** `skipped`: the benchmark cannot run on this machine (`BenchSkipped`); it does not fail the suite. */
  status: 'ok' | 'problems' | 'failed' | 'skipped';
  note: string;
  seconds: number;
  headlines: Headline[];
  files: string[];
}

const kFlags = {
  only: value<readonly string[]>(kBenchNames, subsetOf(kBenchNames), 'LIST', 'a subset of the benchmarks'),
  quick: toggle('about half the load per benchmark (a smoke run)'),
};
type SuiteResult = Result<OptionsOf<typeof kFlags>, { entries: SuiteEntry[] }>;

export const suite = defineBench({
  name: 'suite',
  command: 'npm run bench [-- options]   (or: npx tsx bench/run.ts [options])',
  flags: kFlags,
  async run(o: OptionsOf<typeof kFlags>, ctx) {
    const entries: SuiteEntry[] = [];
    for (const name of o.only) {
      const bench = kBenches[name]!;
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      ctx.log(`\n== ${name}`);
      try {
        const result = await bench.measure(settingsFor(name, o.quick), ctx);
        console.log(bench.format(result));
        const files = ctx.write ? await bench.write(result, ctx.out) : [];
        for (const file of files) ctx.log(`wrote ${path.relative(process.cwd(), file)}`);
        const { ok, problems = [] } = result as Figures;
        const note = problems.slice(0, 2).join('; ');
        const status = ok === false ? 'problems' : 'ok';
        entries.push({
          bench: name,
          status,
          note,
          seconds: seconds(),
          headlines: bench.headlines(result),
          files,
        });
      } catch (err) {
        const note = err instanceof Error ? err.message : String(err);
        const status = err instanceof BenchSkipped ? 'skipped' : 'failed';
        ctx.log(`${name} ${status}: ${note}`);
        entries.push({ bench: name, status, note, seconds: seconds(), headlines: [], files: [] });
      }
    }
    return { entries, ok: entries.every((e) => e.status === 'ok' || e.status === 'skipped') };
  },
  format: formatSummary,
  headlines: () => [],
});

export function formatSummary(result: SuiteResult): string {
  // one row per headline, the benchmark's own cells on its first
  const rows = result.entries.flatMap((e) =>
    (e.headlines.length === 0 ? [undefined] : e.headlines).map((h, i) => ({ e: i === 0 ? e : undefined, h })),
  );
  return (
    [
      '### Benchmark suite',
      '',
      `${environmentLine(result)} Ratios are against baselines measured in the same run.`,
      '',
      ...table<(typeof rows)[number]>(
        [
          ['benchmark', 'l', ({ e }) => e?.bench ?? ''],
          ['status', 'l', ({ e }) => (e === undefined ? '' : e.note ? `${e.status}: ${e.note}` : e.status)],
          ['s', 'r', ({ e }) => e?.seconds.toFixed(0) ?? ''],
          ['figure', 'l', ({ h }) => h?.name ?? '–'],
          ['value', 'r', ({ h }) => (h ? formatValue(h) : '–')],
        ],
        rows,
      ),
    ].join('\n') + '\n'
  );
}

runIfMain(import.meta.url, suite);
