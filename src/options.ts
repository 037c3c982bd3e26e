/**
 * The option tables and the small validators shared by the master's and the slave's options; each message names
 * the option. An option's facts (type, default, bounds, choices, one line of help) are written once, in its
 * table: the constructor validates against it and fills its defaults from it, and the command line takes its
 * fields, `--help` and README's configuration reference from the same tables (src/cli/config.ts).
 */
import { type InspectOptions, inspect } from 'node:util';

/** The longest span a Node timer takes, in seconds: a longer one is clamped to 1 ms by Node itself. */
export const kMaxSeconds = Math.floor((2 ** 31 - 1) / 1000);

/** One option's facts. */
export interface OptionSpec {
  /** `list`: an array of non-empty strings (repeat the flag on the command line; comma-separated in a variable). */
  readonly type: 'number' | 'integer' | 'string' | 'boolean' | 'list';
  /** The value when none is given; a function for one computed when the options are resolved. */
  readonly default?: number | string | boolean | (() => number | string | boolean);
  /** The default as `--help` and the reference show it, where it is computed or not a value (`cores − 1`). */
  readonly shown?: string;
  readonly min?: number;
  /** `min` itself is refused (`> 0`). */
  readonly above?: boolean;
  /** @defaultValue `Number.MAX_SAFE_INTEGER` for integers, none for numbers */
  readonly max?: number;
  readonly choices?: readonly string[];
  /** The value's name in usage lines (`--port <port>`). */
  readonly arg?: string;
  /** One line, for `--help` and the reference. */
  readonly help: string;
  /** Never echoed back in an error message, and `[redacted]` when the resolved options are printed. */
  readonly secret?: boolean;
  /** Checks what type and bounds cannot (a URL's shape, a module that exists); returns the value to keep. */
  readonly check?: (name: string, value: unknown) => unknown;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** `between 0.2 and 2147483`, `>= 1`, `> 0`: an option's bounds, as every message and the reference say them. */
export function rangeOf(spec: OptionSpec): string {
  const max = spec.max ?? (spec.type === 'integer' ? Number.MAX_SAFE_INTEGER : undefined);
  const min = spec.min;
  if (min === undefined) return max === undefined ? '' : `<= ${max}`;
  if (spec.above) return max === undefined ? `> ${min}` : `> ${min} and <= ${max}`;
  return max === undefined ? `>= ${min}` : `between ${min} and ${max}`;
}

/** Whether a number is of the spec's kind (an integer, where it says) and within its bounds. */
export function fits(spec: OptionSpec, n: number): boolean {
  const integer = spec.type === 'integer';
  const max = spec.max ?? (integer ? Number.MAX_SAFE_INTEGER : Number.POSITIVE_INFINITY);
  const min = spec.min ?? Number.NEGATIVE_INFINITY;
  if (Number.isNaN(n) || (integer && !Number.isInteger(n)) || n > max) return false;
  return spec.above ? n > min : n >= min;
}

/** `an integer between 0 and 65535`, `a number >= 0.2`: what a number option takes, as every message says it. */
export function kindOf(spec: OptionSpec): string {
  const range = rangeOf(spec);
  return `${spec.type === 'integer' ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`;
}

/** `'lean' or 'undici'`, `'auto', 'uws' or 'node'`. */
export function choicesOf(choices: readonly string[]): string {
  const quoted = choices.map((c) => `'${c}'`);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

/** Checks one value against its spec (type, bounds, choices, then its own check); names it `options.${name}`. */
export function checkOption(name: string, spec: OptionSpec, value: unknown): unknown {
  if (spec.check) return spec.check(name, value);
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !fits(spec, value)) {
        throw new RangeError(`options.${name} must be ${kindOf(spec)} (got ${String(value)})`);
      }
      return value;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(value as string)) {
        throw new TypeError(`options.${name} must be ${choicesOf(spec.choices)} (got ${String(value)})`);
      }
      return checkString(name, value);
    case 'boolean':
      return checkBoolean(name, value);
    case 'list':
      return checkList(name, value);
  }
}

/**
 * Every option of a table, resolved: the given value, else the table's default (undefined where it has none),
 * checked against its spec. The secrets are the table's.
 */
export function resolveTable(
  table: OptionTable,
  given: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    let value = given[name];
    if (value === undefined) value = typeof spec.default === 'function' ? spec.default() : spec.default;
    out[name] = value === undefined ? undefined : checkOption(name, spec, value);
  }
  return out;
}

/** The names of a table's secret options. */
export function secretsOf(table: OptionTable): string[] {
  return Object.keys(table).filter((name) => table[name]!.secret === true);
}

// ---- the facts both ends share ----

/** Listening: `host`, `port` (its default differs by end) and `channel`. */
export function listenOptions(port: number): OptionTable {
  return {
    host: { type: 'string', default: '0.0.0.0', arg: 'host', help: 'listen address' },
    port: {
      type: 'integer',
      default: port,
      min: 0,
      max: 65535,
      arg: 'port',
      help: 'listen port (0: any free port)',
    },
    channel: {
      type: 'integer',
      default: 0,
      min: 0,
      arg: 'n',
      help: 'protocol channel; must match the other end',
    },
  };
}

/** Requests to the other end (`peer`: `a slave`, `the master`), and the largest body accepted from it. */
export function requestOptions(peer: string): OptionTable {
  return {
    requestRetries: {
      type: 'integer',
      default: 5,
      min: 0,
      max: 1000,
      arg: 'n',
      help: `extra attempts of a request to ${peer} after a connection error`,
    },
    requestRetryWaiting: {
      type: 'number',
      default: 1,
      min: 0,
      max: kMaxSeconds,
      arg: 'seconds',
      help: 'wait between those attempts',
    },
    requestTimeout: {
      type: 'number',
      default: 30,
      min: 0.01,
      max: kMaxSeconds,
      arg: 'seconds',
      help: `wait for ${peer}'s answer`,
    },
    maxBodySize: {
      type: 'integer',
      default: 64 * 1024 * 1024,
      min: 1,
      max: 2 ** 31 - 1,
      arg: 'bytes',
      help: 'largest request body accepted (larger: 413, code 901)',
    },
  };
}

export const kFleetSecretOption: OptionSpec = {
  type: 'string',
  arg: 'secret',
  help: 'shared secret both ends must prove (fleetmaster extension; off for DI-engine peers)',
  secret: true,
};

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`options.${name} must be a non-empty string (got ${String(value)})`);
  }
  return value;
}

/** An array of non-empty strings, as a frozen copy; an error names the first bad item (`options.x[1]`). */
export function checkList(name: string, value: unknown): readonly string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(`options.${name} must be an array of strings (got ${describeValue(value)})`);
  }
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || item.length === 0) {
      throw new TypeError(`options.${name}[${i}] must be a non-empty string (got ${describeValue(item)})`);
    }
  });
  return Object.freeze([...(value as string[])]);
}

/** A value as a message shows it: strings quoted (so '' is visible), the rest by type or as text. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`options.${name} must be true or false (got ${String(value)})`);
  return value;
}

export function checkFunction<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`options.${name} must be a function`);
  return value as F;
}

/**
 * The hooks of `names` that `given` has (own or inherited: a class instance will do), each checked to be a function
 * (`options.hooks.x must be a function`), in a frozen object of their own.
 */
export function checkHooks<H extends object>(names: readonly string[], given: unknown): Readonly<H> {
  const hooks: Record<string, unknown> = {};
  for (const name of names) {
    const fn = checkFunction(`hooks.${name}`, (given as Record<string, unknown> | undefined)?.[name]);
    if (fn) hooks[name] = fn;
  }
  return Object.freeze(hooks) as H;
}

/** A TLS key and certificate, as files, for the front end (either engine). */
export interface TlsOptions {
  /** Path to the PEM private key. */
  keyFile: string;
  /** Path to the PEM certificate. */
  certFile: string;
  /** Passphrase of the key, if any. Printed as `[redacted]`, like the other secrets. */
  passphrase?: string;
}

export function checkTls(name: string, value: unknown): TlsOptions | undefined {
  if (value === undefined) return undefined;
  const v = value as TlsOptions;
  if (typeof v !== 'object' || v === null) throw new TypeError(`options.${name} must be an object`);
  checkString(`${name}.keyFile`, v.keyFile);
  checkString(`${name}.certFile`, v.certFile);
  if (v.passphrase !== undefined) checkString(`${name}.passphrase`, v.passphrase);
  return freezeRedacted({ ...v }, ['passphrase']);
}

/**
 * A pino-compatible logger: structured fields first, then the message (`logger.warn({ slave }, 'evicted')`).
 * A pino logger (or a child of one) fits as is. fleetmaster logs nothing unless given one.
 */
export interface Logger {
  error(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
}

/** What the options accept: any subset of the levels (the missing ones stay silent). */
export type LoggerLike = Partial<Logger>;

const kLevels = ['error', 'warn', 'info', 'debug'] as const;

/**
 * A logger whose every level exists. Methods are called on the given object, never detached from it: pino
 * swaps its methods when its level changes, and needs its `this`.
 */
export function toLogger(given: LoggerLike | undefined): Logger {
  if (given === undefined) return kSilentLogger;
  if (typeof given !== 'object' || given === null) throw new TypeError('options.logger must be an object');
  const logger = {} as Logger;
  for (const level of kLevels) {
    const method = given[level];
    if (method !== undefined && typeof method !== 'function') {
      throw new TypeError(`options.logger.${level} must be a function`);
    }
    logger[level] = (fields, message) =>
      (given[level] as Logger[typeof level] | undefined)?.call(given, fields, message);
  }
  return Object.freeze(logger);
}

const noop = () => undefined;
export const kSilentLogger: Logger = Object.freeze({ error: noop, warn: noop, info: noop, debug: noop });

/** The fields pino serialises an error from (`err`), for any thrown value. */
export function errorFields(err: unknown): { err: unknown } {
  return { err: err instanceof Error ? err : new Error(String(err)) };
}

const kRedacted = '[redacted]';

/**
 * Freezes resolved options so that printing them (console.log, util.inspect, JSON.stringify, a logger that
 * serialises them) shows `[redacted]` for the `secrets`, while code reads them as usual. The secrets stay ordinary
 * enumerable fields: a copy (`{ ...options }`) must not silently lose one.
 */
export function freezeRedacted<T extends object>(
  options: T,
  secrets: readonly (keyof T & string)[],
  /** Fields that hold a secret in part (a URL's password): how each prints. */
  printAs: { readonly [K in keyof T]?: (value: T[K]) => unknown } = {},
): T {
  const printable = (): Record<string, unknown> => {
    const copy: Record<string, unknown> = { ...(options as Record<string, unknown>) };
    for (const key of secrets) if (copy[key] !== undefined) copy[key] = kRedacted;
    for (const [key, print] of Object.entries(printAs) as [keyof T & string, (value: unknown) => unknown][]) {
      copy[key] = print(options[key]);
    }
    return copy;
  };
  Object.defineProperty(options, 'toJSON', { value: printable });
  Object.defineProperty(options, inspect.custom, {
    value: (depth: number, opts: InspectOptions, print: typeof inspect) =>
      print(printable(), { ...opts, depth }),
  });
  return Object.freeze(options);
}
