/** Small validators shared by the master's and the slave's options; each message names the option. */
import { type InspectOptions, inspect } from 'node:util';

/** The longest span a Node timer takes, in seconds: a longer one is clamped to 1 ms by Node itself. */
export const kMaxSeconds = Math.floor((2 ** 31 - 1) / 1000);

export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `between ${min} and ${max}`;
    throw new RangeError(`options.${name} must be a number ${range} (got ${String(value)})`);
  }
  return value;
}

export function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `options.${name} must be an integer between ${min} and ${max} (got ${String(value)})`,
    );
  }
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`options.${name} must be a non-empty string (got ${String(value)})`);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`options.${name} must be true or false (got ${String(value)})`);
  return value;
}

export function checkFunction<F>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`options.${name} must be a function`);
  return value as F;
}

/** A TLS key and certificate, as files, for the uWS `SSLApp`. */
export interface TlsOptions {
  /** Path to the PEM private key. */
  keyFile: string;
  /** Path to the PEM certificate. */
  certFile: string;
  /** Passphrase of the key, if any. */
  passphrase?: string;
}

export function checkTls(name: string, value: unknown): TlsOptions | undefined {
  if (value === undefined) return undefined;
  const v = value as TlsOptions;
  if (typeof v !== 'object' || v === null) throw new TypeError(`options.${name} must be an object`);
  checkString(`${name}.keyFile`, v.keyFile);
  checkString(`${name}.certFile`, v.certFile);
  return Object.freeze({ ...v });
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

export function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key in value) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

const kRedacted = '[redacted]';

/**
 * Freezes resolved options so that printing them (console.log, util.inspect, JSON.stringify, a logger that
 * serialises them) shows `[redacted]` for the `secrets`, while code reads them as usual. The secrets stay ordinary
 * enumerable fields: a copy (`{ ...options }`) must not silently lose one.
 */
export function freezeRedacted<T extends object>(options: T, secrets: readonly (keyof T & string)[]): T {
  const printable = (): Record<string, unknown> => {
    const copy: Record<string, unknown> = { ...(options as Record<string, unknown>) };
    for (const key of secrets) if (copy[key] !== undefined) copy[key] = kRedacted;
    return copy;
  };
  Object.defineProperty(options, 'toJSON', { value: printable });
  Object.defineProperty(options, inspect.custom, {
    value: (depth: number, opts: InspectOptions, print: typeof inspect) =>
      print(printable(), { ...opts, depth }),
  });
  return Object.freeze(options);
}
