/**
 * What every benchmark shares around its measurement: the command line (from its flag table), the result's
 * envelope (name, times, machine, options), the cleanups and the overrun bound, the printed table, the result
 * files, the exit code, and the entry guard. A benchmark states only its flags, what it measures, and how its
 * result reads (`defineBench`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defaultsOf, type Flags, type ParsedArgs, parseArgs, usageOf } from './args.ts';
import type { Environment, Headline } from './report.ts';

export const kResultsDir = fileURLToPath(new URL('../results/', import.meta.url));

export interface Context {
  /** Progress lines (stderr when run alone). */
  log: (line: string) => void;
  /** The results directory: profiles are written there too. */
  out: string;
  /** False with `--no-write` (the suite writes each benchmark's files only then). */
  write: boolean;
  /** The run's start, as file names carry it. */
  stamp: string;
  /** Runs `stop` when the run ends, however it ends (last registered, first run). */
  defer: (stop: () => unknown) => void;
}

/** What a benchmark's `run` returns: its own figures, and what went wrong. */
export interface Figures {
  /** False makes the exit code 1. @defaultValue true */
  ok?: boolean;
  problems?: string[];
}

export type Result<O, F> = {
  bench: string;
  startedAt: string;
  finishedAt: string;
  environment: Environment;
  options: O;
} & F;

export interface BenchDefinition<O, F extends object> {
  /** Names the result files and the folder: `bench/<name>/<name>.ts`. */
  name: string;
  flags: Flags<O>;
  /** Refuses a combination of flags (a RangeError). */
  check?: (options: O) => void;
  run(options: O, ctx: Context): Promise<F>;
  format(result: Result<O, F>): string;
  headlines(result: Result<O, F>): Headline[];
  /** The `--help` command line. @defaultValue npx tsx bench/<name>/<name>.ts [options] */
  command?: string;
}

export interface Bench<O, F extends object> extends BenchDefinition<O, F> {
  defaults: Readonly<O>;
  usage: string;
  parseArgs(argv: readonly string[]): ParsedArgs<O>;
  /** Runs it with `options` over its defaults; returns what its JSON file holds. */
  measure(options: Partial<O>, ctx?: Partial<Pick<Context, 'log' | 'out' | 'write'>>): Promise<Result<O, F>>;
  /** Writes `<name>-<time>.json` and `.md` into `dir`; returns their paths. */
  write(result: Result<O, F>, dir: string): Promise<string[]>;
}

export function defineBench<O, F extends object>(def: BenchDefinition<O, F>): Bench<O, F> {
  const usage = usageOf(def.command ?? `npx tsx bench/${def.name}/${def.name}.ts [options]`, def.flags);
  const defaults = defaultsOf(def.flags);
  return {
    ...def,
    defaults,
    usage,
    parseArgs: (argv) => parseArgs(def.flags, argv, usage, def.check),
    async measure(input, ctx = {}) {
      const options = { ...defaults, ...input };
      const startedAt = new Date();
      const loadBefore = os.loadavg()[0] ?? Number.NaN;
      // read before the run: a pinned process counts only the CPUs it may use
      const cpus = os.availableParallelism();
      const stops: (() => unknown)[] = [];
      const context: Context = {
        log: ctx.log ?? (() => {}),
        out: ctx.out ?? kResultsDir,
        write: ctx.write ?? true,
        stamp: startedAt.toISOString().replace(/[:.]/g, '-'),
        defer: (stop) => stops.push(stop),
      };
      try {
        const figures = await def.run(options, context);
        const environment: Environment = {
          node: process.version,
          platform: `${process.platform} ${os.release()}`,
          cpus,
          cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
          loadAverage: [loadBefore, os.loadavg()[0] ?? Number.NaN],
        };
        const finishedAt = new Date().toISOString();
        return {
          bench: def.name,
          startedAt: startedAt.toISOString(),
          finishedAt,
          environment,
          options,
          ...figures,
        };
      } finally {
        // a stop that fails must not keep the others from running, nor hide the run's own error
        for (const stop of stops.reverse()) await (async () => stop())().catch(() => undefined);
      }
    },
    async write(result, dir) {
      await mkdir(dir, { recursive: true });
      const base = path.join(dir, `${def.name}-${result.startedAt.replace(/[:.]/g, '-')}`);
      await writeFile(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
      await writeFile(`${base}.md`, def.format(result));
      return [`${base}.json`, `${base}.md`];
    },
  };
}

/**
 * Thrown by a benchmark's `run` when it cannot run on this machine at all (a tool it needs is missing), before it
 * starts anything: alone it fails with this message, in the suite it is listed as skipped and the others go on.
 */
export class BenchSkipped extends Error {
  override name = 'BenchSkipped';
}

/** Beyond a run's planned time, for its bound: start-ups, connects, drains, shutdowns. */
export const kRunSlackMs = 120_000;

/** `work`, failed with a clear error if it takes longer than `ms` (the benchmark's planned time plus slack). */
export async function within<T>(ms: number, label: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${label} overran its bound (${Math.round(ms)} ms): stopped`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, overrun]);
  } finally {
    clearTimeout(timer);
  }
}

/** True once `work` has settled, false after `ms` if it has not (the timer does not outlive it). */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The command line: parse, run, print the table, write the files; 0, 1 when the run saw a problem, 2 on failure. */
export async function main<O, F extends object>(
  bench: Bench<O, F>,
  argv: readonly string[],
): Promise<number> {
  const args = bench.parseArgs(argv);
  if (args.help) {
    console.log(bench.usage);
    return 0;
  }
  // Ctrl-C: exit, which kills every child (bench/harness/ipc-child.ts)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const out = args.out ?? kResultsDir;
  const result = await bench.measure(args.options, {
    out,
    write: args.write,
    log: (line) => console.error(line),
  });
  console.log(bench.format(result));
  if (args.write) {
    for (const file of await bench.write(result, out))
      console.error(`wrote ${path.relative(process.cwd(), file)}`);
  }
  return (result as Figures).ok === false ? 1 : 0;
}

/**
 * The entry guard: when `url` (a module's `import.meta.url`) is the script node was started with, runs `main` on
 * its arguments; its number is the exit code, a failure exits 2.
 */
export function runMain(url: string, main: (argv: readonly string[]) => Promise<number>): void {
  if (process.argv[1] === undefined || url !== pathToFileURL(process.argv[1]).href) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(
        err instanceof RangeError || err instanceof BenchSkipped
          ? err.message
          : err instanceof Error
            ? (err.stack ?? err.message)
            : err,
      );
      process.exitCode = 2;
    },
  );
}

/** A benchmark's entry guard. */
export const runIfMain = <O, F extends object>(url: string, bench: Bench<O, F>) =>
  runMain(url, (argv) => main(bench, argv));
