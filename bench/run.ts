/**
 * The benchmark suite (`npm run bench`): front end, registry, fleet and — once it exists — the result pool,
 * each with modest settings so the whole suite takes a few minutes, then one summary table. Each benchmark also
 * runs alone with all its knobs (`npx tsx bench/<name>.ts --help`).
 *
 *   npm run bench [-- --only fleet,registry] [-- --quick] [-- --no-write]
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { walkArgs } from './args.ts';
import { formatValue, type Headline, headlinesOf } from './headlines.ts';
import { canPin } from './pin.ts';
import { writeResultFiles } from './result-files.ts';

export const kBenchNames = ['front-end', 'registry', 'fleet', 'result-pool'] as const;
export type BenchName = (typeof kBenchNames)[number];

export interface SuiteOptions {
  only: readonly BenchName[];
  /** Halve the load of each benchmark (a smoke run of the suite). */
  quick: boolean;
  out: string;
  write: boolean;
  log: (line: string) => void;
}

const kResultsDir = fileURLToPath(new URL('./results/', import.meta.url));

export interface SuiteEntry {
  bench: BenchName;
  status: 'ok' | 'problems' | 'skipped' | 'failed';
  note: string;
  seconds: number;
  headlines: Headline[];
  files: string[];
}

export interface SuiteResult {
  bench: 'suite';
  startedAt: string;
  finishedAt: string;
  environment: { node: string; cpus: number; cpuModel: string; loadAverage: [number, number] };
  entries: SuiteEntry[];
}

export const kUsage = `usage: npm run bench [-- options]   (or: npx tsx bench/run.ts [options])
  --only LIST   comma-separated subset of: ${kBenchNames.join(',')}
  --quick       about half the load per benchmark (a smoke run)
  --out DIR     results directory (default bench/results)
  --no-write    print only`;

export function parseArgs(argv: readonly string[]): Omit<SuiteOptions, 'log'> & { help: boolean } {
  let only: BenchName[] = [...kBenchNames];
  let quick = false;
  const common = walkArgs(argv, kUsage, (flag, value) => {
    switch (flag) {
      case '--only': {
        const raw = value() ?? '';
        const names = raw.split(',').filter((n) => n !== '');
        if (names.length === 0 || names.some((n) => !kBenchNames.includes(n as BenchName))) {
          throw new RangeError(`--only must list ${kBenchNames.join(', ')}; got ${JSON.stringify(raw)}`);
        }
        only = kBenchNames.filter((n) => names.includes(n));
        break;
      }
      case '--quick':
        quick = true;
        break;
      default:
        return false;
    }
    return true;
  });
  const out = common.out ?? kResultsDir;
  const { write, help } = common;
  return { only, quick, out, write, help };
}

/** What the suite needs from a benchmark module. */
interface BenchModule {
  run(options: Record<string, unknown>): Promise<unknown>;
  formatMarkdown?(result: never): string;
  writeResults?(result: never, dir: string): Promise<string[]>;
  headlines?(result: unknown): Headline[];
}

/** Each benchmark's suite settings: modest, so the suite takes a few minutes. */
function settingsFor(bench: BenchName, quick: boolean, out: string): Record<string, unknown> {
  switch (bench) {
    case 'front-end':
      return quick ? { rounds: 2, duration: 0.5, warmup: 0.5 } : { rounds: 3, duration: 1, warmup: 0.5 };
    case 'registry':
      return quick ? { time: 100, iterations: 5 } : {};
    case 'fleet':
      return {
        slaves: 1000,
        duration: quick ? 8 : 20,
        warmup: 2,
        baselineDuration: quick ? 2 : 5,
        profileDir: out,
      };
    case 'result-pool':
      // its own defaults plan minutes of load: shorter windows, same shape; placed as deployed (--pin) where
      // taskset allows, as issue 3's target was measured (bench/README.md, "Reading it honestly")
      return { ...(quick ? { duration: 1, warmup: 0.5 } : { duration: 2, warmup: 1 }), pin: canPin() };
  }
}

async function load(bench: BenchName): Promise<BenchModule | undefined> {
  const url = new URL(`./${bench}.ts`, import.meta.url);
  // the result-pool benchmark is being written: its absence is a note, not a failure
  if (!existsSync(fileURLToPath(url))) return undefined;
  return (await import(url.href)) as BenchModule;
}

export async function run(input: Partial<SuiteOptions> = {}): Promise<SuiteResult> {
  const options: SuiteOptions = {
    only: kBenchNames,
    quick: false,
    out: kResultsDir,
    write: true,
    log: () => {},
    ...input,
  };
  const startedAt = new Date();
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const entries: SuiteEntry[] = [];
  for (const bench of options.only) {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    options.log(`\n== ${bench}`);
    let module: BenchModule | undefined;
    try {
      module = await load(bench);
    } catch (err) {
      entries.push(failed(bench, `could not load bench/${bench}.ts: ${message(err)}`, seconds()));
      continue;
    }
    if (!module || typeof module.run !== 'function') {
      const note = module
        ? `bench/${bench}.ts exports no run()`
        : `bench/${bench}.ts not present yet: skipped`;
      options.log(note);
      entries.push({ bench, status: 'skipped', note, seconds: 0, headlines: [], files: [] });
      continue;
    }
    try {
      const result = await module.run({
        ...settingsFor(bench, options.quick, options.out),
        log: options.log,
      });
      if (module.formatMarkdown) console.log(module.formatMarkdown(result as never));
      const files =
        options.write && module.writeResults ? await module.writeResults(result as never, options.out) : [];
      const r = result as { ok?: unknown; problems?: unknown };
      const problems = Array.isArray(r.problems) ? (r.problems as string[]) : [];
      entries.push({
        bench,
        status: r.ok === false ? 'problems' : 'ok',
        note: problems.slice(0, 2).join('; '),
        seconds: seconds(),
        headlines: headlinesOf(result, module.headlines),
        files,
      });
    } catch (err) {
      entries.push(failed(bench, message(err), seconds()));
    }
  }
  return {
    bench: 'suite',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
    },
    entries,
  };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function failed(bench: BenchName, note: string, seconds: number): SuiteEntry {
  return { bench, status: 'failed', note, seconds, headlines: [], files: [] };
}

export function formatSummary(result: SuiteResult): string {
  const env = result.environment;
  const lines = [
    '### Benchmark suite',
    '',
    `node ${env.node}, ${env.cpus} × ${env.cpuModel}; load average ${env.loadAverage[0].toFixed(2)} → ` +
      `${env.loadAverage[1].toFixed(2)}; ${result.startedAt}. Ratios are against baselines measured in the same run.`,
    '',
    '| benchmark | status | s | figure | value |',
    '|---|---|--:|---|--:|',
  ];
  for (const e of result.entries) {
    const status = e.note ? `${e.status}: ${e.note}` : e.status;
    if (e.headlines.length === 0) {
      lines.push(`| ${e.bench} | ${status} | ${e.seconds.toFixed(0)} | – | – |`);
      continue;
    }
    e.headlines.forEach((h, i) => {
      lines.push(
        i === 0
          ? `| ${e.bench} | ${status} | ${e.seconds.toFixed(0)} | ${h.name} | ${formatValue(h)} |`
          : `| | | | ${h.name} | ${formatValue(h)} |`,
      );
    });
  }
  return lines.join('\n') + '\n';
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(kUsage);
    return 0;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const result = await run({ ...args, log: (line) => console.error(line) });
  const summary = formatSummary(result);
  console.log(summary);
  if (args.write) {
    const files = await writeResultFiles(args.out, 'suite', result.startedAt, result, summary);
    for (const file of files) console.error(`wrote ${path.relative(process.cwd(), file)}`);
  }
  return result.entries.some((e) => e.status === 'failed' || e.status === 'problems') ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(message(err));
      process.exitCode = 2;
    },
  );
}
