// The result handler of `fleetmaster demo`: runs on a pool thread of the master for every result (never on its
// main thread). Whatever it returns becomes the task's `result` on the main thread.
// Keep this module free of runtime imports: under tsx on Node 20 a pool thread loads it through `require`.
import type { ResultHandlerInput } from '../master/results/handler.ts';

/** What a completed demo task's `result` is on the master, once this handler has run. */
export interface DemoScore {
  /** The connection that reported it. */
  slave: string;
  inside: number;
  samples: number;
  /** 4 · inside / samples, recomputed here. */
  estimate: number;
  /** Mean of the slave's per-chunk running estimates. */
  traceMean: number;
  /** Population standard deviation of those running estimates. */
  traceStd: number;
}

/**
 * The trace arrives as a Float64Array from a MessagePack slave and as a plain number array from a JSON slave.
 * Either way: a non-empty list of finite numbers, or null.
 */
function traceOf(value: unknown): ArrayLike<number> | null {
  if (Array.isArray(value)) return value;
  if (value instanceof Float64Array || value instanceof Float32Array) return value;
  return null;
}

/** A result of the wrong shape: a `TypeError`, as a handler module of a user's would throw (no imports here). */
function fail(slave: string, taskId: string, why: string): never {
  throw new TypeError(`malformed demo result from ${slave} (task ${taskId}): ${why}`);
}

export default function scoreDemoResult({ taskId, outcome, slave, result }: ResultHandlerInput): unknown {
  if (outcome === 'fail') return result;
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    fail(slave, taskId, `expected an object, got ${Array.isArray(result) ? 'an array' : typeof result}`);
  }
  const { inside, samples, trace: rawTrace } = result as Record<string, unknown>;
  if (typeof samples !== 'number' || !Number.isSafeInteger(samples) || samples <= 0) {
    fail(slave, taskId, `samples must be a positive integer (got ${String(samples)})`);
  }
  if (typeof inside !== 'number' || !Number.isSafeInteger(inside) || inside < 0 || inside > samples) {
    fail(slave, taskId, `inside must be an integer in [0, samples] (got ${String(inside)})`);
  }
  const trace = traceOf(rawTrace);
  if (trace === null || trace.length === 0) {
    fail(slave, taskId, 'trace must be a non-empty Float64Array or number array');
  }
  let sum = 0;
  for (let i = 0; i < trace.length; i++) {
    const x = trace[i]!;
    if (typeof x !== 'number' || !Number.isFinite(x))
      fail(slave, taskId, `trace[${i}] is not a finite number`);
    sum += x;
  }
  const traceMean = sum / trace.length;
  let squares = 0;
  for (let i = 0; i < trace.length; i++) squares += (trace[i]! - traceMean) ** 2;
  const score: DemoScore = {
    slave,
    inside,
    samples,
    estimate: (4 * inside) / samples,
    traceMean,
    traceStd: Math.sqrt(squares / trace.length),
  };
  return score;
}
