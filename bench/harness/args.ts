/**
 * A benchmark's command line, built from its flag table: each option's default, its `--help` line and its parser
 * live in one row, so the three cannot disagree, and a new flag is one new row. `--flag value` and `--flag=value`;
 * the flag of option `resultThreads` is `--result-threads`. Pure: every error is a RangeError naming the flag.
 */

/** Reads a flag's text (undefined when the value is missing); throws a RangeError naming `--name`. */
export type Parse<T> = (raw: string | undefined, name: string) => T;

export interface Flag<T> {
  default: T;
  help: string;
  /** Absent: a switch (`--profile`), true when given. */
  parse?: Parse<T>;
  /** The value's name in `--help` (`S`, `N`, `LIST`). */
  arg?: string;
  /** What `--help` shows as the default, when the value itself does not say it. */
  shown?: string;
}

export type Flags<O> = { readonly [K in keyof O]: Flag<O[K]> };
export type OptionsOf<F> = { -readonly [K in keyof F]: F[K] extends Flag<infer T> ? T : never };

/** An option of the flag table: `value(2, num(0.1, 600), 'S', 'seconds per run')`. */
export const value = <T>(
  initial: T,
  parse: Parse<T>,
  arg: string,
  help: string,
  shown?: string,
): Flag<T> => ({
  default: initial,
  parse,
  arg,
  help,
  ...(shown === undefined ? {} : { shown }),
});

/** A switch, off unless given. */
export const toggle = (help: string): Flag<boolean> => ({ default: false, help });

/** A number within [min, max]. */
export const num =
  (min: number, max: number): Parse<number> =>
  (raw, name) => {
    const n = Number(raw);
    if (raw === undefined || raw === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new RangeError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
    }
    return n;
  };

/** An integer within [min, max]. */
export const int =
  (min: number, max: number): Parse<number> =>
  (raw, name) => {
    const n = num(min, max)(raw, name);
    if (!Number.isInteger(n)) throw new RangeError(`--${name} must be an integer, got ${raw}`);
    return n;
  };

/** One of a few words. */
export const oneOf =
  <T extends string>(values: readonly T[]): Parse<T> =>
  (raw, name) => {
    if (values.includes(raw as T)) return raw as T;
    const choices = values.length === 2 ? values.join(' or ') : `one of ${values.join(', ')}`;
    throw new RangeError(`--${name} must be ${choices}, got ${JSON.stringify(raw)}`);
  };

/** A comma-separated list of `item`, repeats dropped (sorted when asked). */
export const listOf =
  <T>(item: Parse<T>, sorted = false): Parse<readonly T[]> =>
  (raw, name) => {
    const parts = (raw ?? '').split(',').filter((part) => part !== '');
    if (parts.length === 0) throw new RangeError(`--${name} needs a comma-separated list`);
    const items = [...new Set(parts.map((part) => item(part, name)))];
    return sorted ? items.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) : items;
  };

/** A comma-separated subset of `values`, in their order. */
export const subsetOf =
  <T extends string>(values: readonly T[]): Parse<readonly T[]> =>
  (raw, name) => {
    const parts = (raw ?? '').split(',').filter((part) => part !== '');
    if (parts.length === 0 || parts.some((part) => !values.includes(part as T))) {
      throw new RangeError(`--${name} must list ${values.join(', ')}; got ${JSON.stringify(raw)}`);
    }
    return values.filter((v) => parts.includes(v));
  };

/** Refuses a `--heartbeat-tolerance` no longer than `--heartbeat-span`: every slave would be evicted. */
export function checkTolerance(o: { heartbeatTolerance: number; heartbeatSpan: number }): void {
  if (o.heartbeatTolerance <= o.heartbeatSpan) {
    throw new RangeError(
      `--heartbeat-tolerance (${o.heartbeatTolerance} s) must exceed --heartbeat-span (${o.heartbeatSpan} s), or every slave is evicted`,
    );
  }
}

export const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function defaultsOf<O>(flags: Flags<O>): Readonly<O> {
  const defaults = {} as O;
  for (const key in flags) defaults[key] = flags[key].default;
  return Object.freeze(defaults);
}

const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));

/** `--help`: one line per flag, then the flags every benchmark takes. */
export function usageOf<O>(command: string, flags: Flags<O>): string {
  const rows: [string, string][] = [];
  for (const key in flags) {
    const { arg, help, shown, default: initial } = flags[key];
    const def = shown ?? (arg === undefined || initial === undefined ? undefined : show(initial));
    rows.push([
      `--${flagOf(key)}${arg ? ` ${arg}` : ''}`,
      def === undefined ? help : `${help} (default ${def})`,
    ]);
  }
  rows.push(['--out DIR', 'results directory (default bench/results)'], ['--no-write', 'print only']);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return [`usage: ${command}`, ...rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`)].join('\n');
}

export interface ParsedArgs<O> {
  options: O;
  /** `--out DIR`, or undefined when not given (the results directory). */
  out: string | undefined;
  /** false with `--no-write`. */
  write: boolean;
  help: boolean;
}

/** Parses `process.argv.slice(2)` against `flags`; `check` refuses combinations (a RangeError). */
export function parseArgs<O>(
  flags: Flags<O>,
  argv: readonly string[],
  usage: string,
  check?: (options: O) => void,
): ParsedArgs<O> {
  const options = { ...defaultsOf(flags) } as O;
  const byFlag = new Map<string, keyof O>();
  for (const key in flags) byFlag.set(`--${flagOf(key)}`, key);
  const parsed: ParsedArgs<O> = { options, out: undefined, write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const raw = () => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    const key = byFlag.get(flag);
    if (key !== undefined) {
      const { parse } = flags[key];
      options[key] = (parse ? parse(raw(), flag.slice(2)) : true) as O[keyof O];
    } else if (flag === '--out') {
      parsed.out = raw();
      if (!parsed.out) throw new RangeError('--out needs a directory');
    } else if (flag === '--no-write') parsed.write = false;
    else if (flag === '-h' || flag === '--help') parsed.help = true;
    else throw new RangeError(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
  }
  check?.(options);
  return parsed;
}
