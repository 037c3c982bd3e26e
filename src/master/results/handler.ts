import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../describe-error.ts';
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
    const message = describeError(err);
    return { kind: 'handler-error', taskId: decoded.taskId, message, ms: performance.now() - started };
  }
}

const cache = new Map<string, Promise<ResultHandler>>();

/**
 * Loads (once per thread) the default export of a handler module. A failure is not kept: the next call tries
 * again (a module that failed once on a thread, after `start()` loaded it, may well load on the next try).
 */
export function loadHandler(specifier: string): Promise<ResultHandler> {
  let loaded = cache.get(specifier);
  if (loaded === undefined) {
    loaded = importModule(specifier).then((mod: { default?: unknown }) => {
      if (typeof mod.default !== 'function') {
        throw new TypeError(`result handler ${specifier} has no default export function`);
      }
      return mod.default as ResultHandler;
    });
    loaded.catch(() => cache.delete(specifier));
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
