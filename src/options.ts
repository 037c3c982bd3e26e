/** Small validators shared by the master's and the slave's options; each message names the option. */

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

/** The protocol's logger: fleetmaster never writes to the console unless told to. */
export interface Logger {
  warn(message: string, error?: unknown): void;
}

export const consoleLogger: Logger = {
  warn(message, error) {
    if (error === undefined) console.warn(`[fleetmaster] ${message}`);
    else console.warn(`[fleetmaster] ${message}`, error);
  },
};

export function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key in value) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
