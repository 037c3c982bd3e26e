/**
 * The benchmarks' command lines: `--flag value` or `--flag=value`. Pure; every error is a RangeError that names
 * the flag.
 */

/** A number within [min, max] (an integer when asked). */
export function numberArg(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
  integer: boolean,
): number {
  const value = Number(raw);
  if (raw === undefined || raw === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  if (integer && !Number.isInteger(value)) throw new RangeError(`--${name} must be an integer, got ${raw}`);
  return value;
}

/** The flags every benchmark takes. */
export interface CommonArgs {
  /** `--out DIR`, or undefined when not given. */
  out: string | undefined;
  /** false with `--no-write`. */
  write: boolean;
  /** `-h` / `--help`. */
  help: boolean;
}

/**
 * Walks `argv`. `take(flag, value)` handles a benchmark's own flags (`value()` reads the flag's value) and returns
 * false for one it does not know, which is an error showing `usage`. `--out`, `--no-write` and `--help` are
 * handled here.
 */
export function walkArgs(
  argv: readonly string[],
  usage: string,
  take: (flag: string, value: () => string | undefined) => boolean,
): CommonArgs {
  const common: CommonArgs = { out: undefined, write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--out': {
        const dir = value();
        if (!dir) throw new RangeError('--out needs a directory');
        common.out = dir;
        break;
      }
      case '--no-write':
        common.write = false;
        break;
      case '-h':
      case '--help':
        common.help = true;
        break;
      default:
        if (!take(flag, value)) throw new RangeError(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
    }
  }
  return common;
}
