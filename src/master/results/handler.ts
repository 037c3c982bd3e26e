import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { decodeResultBody } from './decode.ts';

/** The contract of a user's result handler module (its default export). */
export interface ResultHandlerInput {
  /** The task's id (a UUID). */
  taskId: string;
  /** Which route the slave used. */
  outcome: 'complete' | 'fail';
  /** The connection's name on the master. */
  slave: string;
  /** The decoded result the slave sent. */
  result: unknown;
}

/** Returns (or resolves to) the value the main-thread task receives as its `result`. */
export type ResultHandler = (input: ResultHandlerInput) => unknown;

/** One result, as it crosses to a thread: bytes, not objects. */
export interface WireJob {
  outcome: 'complete' | 'fail';
  slave: string;
  body: Uint8Array;
  contentType: string;
}

/** What a thread says about one job. */
export type JobVerdict =
  /** `ms`: time spent on this result (decode and handler), measured where it ran. */
  | { kind: 'result'; taskId: string; value: unknown; ms: number }
  | { kind: 'handler-error'; taskId: string; message: string; ms: number }
  | { kind: 'invalid'; message: string };

/**
 * A batch as it crosses to a thread: a few flat arrays, not one object per result (structured clone pays per
 * object: a hand-off of 64 results went from ~100 to ~40 µs in a micro-benchmark). Job i's body is `large[i]`
 * when it was too big to pack, else `pack[ends[i - 1] ?? 0, ends[i])`.
 */
export interface BatchInput {
  /** The small bodies, back to back (transferred). */
  pack: Uint8Array;
  ends: Uint32Array;
  /** Bodies transferred alone, by job index; undefined when every body was packed. */
  large: (Uint8Array | null)[] | undefined;
  /** One character per job: 'c' complete, 'f' fail. */
  outcomes: string;
  slaves: string[];
  contentTypes: string[];
  /** This batch's two words in the shared progress array (see `ThreadData`). */
  slot: number;
}

/** Job i of a batch. */
export function jobOf(batch: BatchInput, i: number): WireJob {
  const start = i === 0 ? 0 : batch.ends[i - 1]!;
  return {
    outcome: batch.outcomes.charCodeAt(i) === 0x66 ? 'fail' : 'complete',
    slave: batch.slaves[i]!,
    body: batch.large?.[i] ?? batch.pack.subarray(start, batch.ends[i]),
    contentType: batch.contentTypes[i]!,
  };
}

/** A batch's verdicts as they come back: flat too. `values[i]` is the handler's value, or the message. */
export interface BatchOutput {
  /** Per job: 0 result, 1 handler-error, 2 invalid. */
  kinds: Uint8Array;
  /** '' for an invalid body. */
  taskIds: string[];
  values: unknown[];
  ms: Float64Array;
}

const kKinds = ['result', 'handler-error', 'invalid'] as const;

/** Flattens verdicts for the trip back. */
export function packVerdicts(verdicts: JobVerdict[]): BatchOutput {
  const n = verdicts.length;
  const out: BatchOutput = {
    kinds: new Uint8Array(n),
    taskIds: new Array(n),
    values: new Array(n),
    ms: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const verdict = verdicts[i]!;
    out.kinds[i] = kKinds.indexOf(verdict.kind);
    switch (verdict.kind) {
      case 'result':
        out.taskIds[i] = verdict.taskId;
        out.values[i] = verdict.value;
        out.ms[i] = verdict.ms;
        break;
      case 'handler-error':
        out.taskIds[i] = verdict.taskId;
        out.values[i] = verdict.message;
        out.ms[i] = verdict.ms;
        break;
      case 'invalid':
        out.taskIds[i] = '';
        out.values[i] = verdict.message;
        break;
    }
  }
  return out;
}

/** Verdict i of a batch's output. */
export function verdictOf(out: BatchOutput, i: number): JobVerdict {
  switch (kKinds[out.kinds[i]!]) {
    case 'result':
      return { kind: 'result', taskId: out.taskIds[i]!, value: out.values[i], ms: out.ms[i]! };
    case 'handler-error':
      return {
        kind: 'handler-error',
        taskId: out.taskIds[i]!,
        message: String(out.values[i]),
        ms: out.ms[i]!,
      };
    default:
      return { kind: 'invalid', message: String(out.values[i]) };
  }
}

/** What every pool thread is started with (sent once, not with every batch: measured per hand-off). */
export interface ThreadData {
  handler: string | undefined;
  /** Shared progress words: `progress[slot]` = index + 1 of the job running, `progress[slot + 1]` = threadId. */
  progress: Int32Array;
}

/**
 * Runs one job: decode, then the handler. Shared by the pool thread and the inline stage so both behave
 * the same. A handler's throw becomes a verdict; only a crash or a hang escapes.
 */
export async function runJob(job: WireJob, handler: ResultHandler | undefined): Promise<JobVerdict> {
  const started = performance.now();
  const decoded = decodeResultBody(job.body, job.contentType);
  if (!decoded.ok) return { kind: 'invalid', message: decoded.message };
  if (handler === undefined) {
    return { kind: 'result', taskId: decoded.taskId, value: decoded.result, ms: performance.now() - started };
  }
  try {
    const value = await handler({
      taskId: decoded.taskId,
      outcome: job.outcome,
      slave: job.slave,
      result: decoded.result,
    });
    return { kind: 'result', taskId: decoded.taskId, value, ms: performance.now() - started };
  } catch (err) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { kind: 'handler-error', taskId: decoded.taskId, message, ms: performance.now() - started };
  }
}

const cache = new Map<string, Promise<ResultHandler>>();

/** Loads (once per thread) the default export of a handler module. */
export function loadHandler(specifier: string): Promise<ResultHandler> {
  let loaded = cache.get(specifier);
  if (loaded === undefined) {
    loaded = importModule(specifier).then((mod: { default?: unknown }) => {
      if (typeof mod.default !== 'function') {
        throw new TypeError(`result handler ${specifier} has no default export function`);
      }
      return mod.default as ResultHandler;
    });
    cache.set(specifier, loaded);
  }
  return loaded;
}

/**
 * `import()`, with one fallback: on Node 20 a worker thread does not inherit ESM loader hooks (such as tsx's),
 * only CommonJS ones, so a TypeScript handler under tsx is loaded through `require` there. Built JavaScript
 * handlers never need it.
 */
async function importModule(specifier: string): Promise<{ default?: unknown }> {
  try {
    return await import(specifier);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !specifier.startsWith('file:'))
      throw err;
    return createRequire(import.meta.url)(fileURLToPath(specifier)) as { default?: unknown };
  }
}

/**
 * Gives every binary view in a handler's value a buffer of its own. msgpackr decodes binary fields as views of
 * the whole body, and a structured clone copies a view's entire underlying buffer: without this, every binary
 * field would carry the whole body back to the main thread.
 */
export function ownBinaryViews(value: unknown, depth = 0): unknown {
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof SharedArrayBuffer) return value;
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value;
    const copy = new Uint8Array(value.byteLength);
    copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return Buffer.isBuffer(value)
      ? Buffer.from(copy.buffer)
      : new (value.constructor as new (b: ArrayBuffer) => ArrayBufferView)(copy.buffer);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === 'object' && v !== null) value[i] = ownBinaryViews(v, depth + 1);
    }
    return value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const v = record[key];
    if (typeof v === 'object' && v !== null) record[key] = ownBinaryViews(v, depth + 1);
  }
  return value;
}
