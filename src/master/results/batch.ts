import { describeError } from '../../describe-error.ts';
import type { JobVerdict, WireJob } from './handler.ts';
import { valueFromBytes, valueToBytes } from './value-bytes.ts';

/**
 * A batch as it crosses to a thread: a few flat arrays, not one object per result (structured clone pays per
 * object: a hand-off of 64 results went from ~100 to ~40 µs in a micro-benchmark). Job i's body is `large[i]`
 * when it was too big to pack, else `pack[ends[i - 1] ?? 0, ends[i])`.
 */
export interface BatchInput {
  /** The small bodies, back to back (transferred). */
  pack: Uint8Array;
  ends: Uint32Array;
  /** Copies of the bodies too big to pack, by job index (transferred); undefined when every body was packed. */
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

/**
 * A batch's verdicts as they come back: flat too, and nothing in it can fail to clone whatever a handler
 * returned. `values[i]` is the value as bytes (`value-bytes.ts`), or the message.
 */
export interface BatchOutput {
  /** Per job: 0 result, 1 handler-error, 2 invalid. */
  kinds: Uint8Array;
  /** '' for an invalid body. */
  taskIds: string[];
  values: (Uint8Array | string)[];
  ms: Float64Array;
}

/** A job's verdict on the thread, its value (if any) already turned into bytes. */
export type CrossingVerdict =
  | { kind: 'result'; taskId: string; bytes: Uint8Array; ms: number }
  | Exclude<JobVerdict, { kind: 'result' }>;

/**
 * Turns a job's value into bytes on the thread, within the job's own time limit (a getter in the value runs
 * here). A value that cannot be written becomes that job's handler error, never its neighbours'.
 */
export function toCrossing(verdict: JobVerdict): CrossingVerdict {
  if (verdict.kind !== 'result') return verdict;
  const started = performance.now();
  try {
    const bytes = valueToBytes(verdict.value);
    return { kind: 'result', taskId: verdict.taskId, bytes, ms: verdict.ms + performance.now() - started };
  } catch (err) {
    return {
      kind: 'handler-error',
      taskId: verdict.taskId,
      message: `its value cannot cross to the main thread (${describeError(err)})`,
      ms: verdict.ms + performance.now() - started,
    };
  }
}

const kKinds = ['result', 'handler-error', 'invalid'] as const;

/** Flattens verdicts for the trip back; the value bytes go in `transferList`. */
export function packVerdicts(verdicts: CrossingVerdict[]): { out: BatchOutput; transferList: ArrayBuffer[] } {
  const n = verdicts.length;
  const out: BatchOutput = {
    kinds: new Uint8Array(n),
    taskIds: new Array(n),
    values: new Array(n),
    ms: new Float64Array(n),
  };
  const transferList: ArrayBuffer[] = [out.kinds.buffer as ArrayBuffer, out.ms.buffer as ArrayBuffer];
  for (let i = 0; i < n; i++) {
    const verdict = verdicts[i]!;
    out.kinds[i] = kKinds.indexOf(verdict.kind);
    switch (verdict.kind) {
      case 'result':
        out.taskIds[i] = verdict.taskId;
        out.values[i] = verdict.bytes;
        out.ms[i] = verdict.ms;
        transferList.push(verdict.bytes.buffer as ArrayBuffer);
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
  return { out, transferList };
}

/**
 * Verdict i of a batch's output, on the main thread. Its value is read back here, alone: a value this thread's
 * smaller stack cannot read fails its own task only.
 */
export function verdictOf(out: BatchOutput, i: number): JobVerdict {
  const taskId = out.taskIds[i]!;
  const ms = out.ms[i]!;
  const value = out.values[i]!;
  switch (kKinds[out.kinds[i]!]) {
    case 'result':
      try {
        return { kind: 'result', taskId, value: valueFromBytes(value as Uint8Array), ms };
      } catch (err) {
        const message = `its value cannot be read on the main thread (${describeError(err)})`;
        return { kind: 'handler-error', taskId, message, ms };
      }
    case 'handler-error':
      return { kind: 'handler-error', taskId, message: String(value), ms };
    default:
      return { kind: 'invalid', message: String(value) };
  }
}

/** What every pool thread is started with (sent once, not with every batch: measured per hand-off). */
export interface ThreadData {
  handler: string | undefined;
  /**
   * Shared progress words: `progress[slot]` = index + 1 of the job running (jobs + 1 once the reply is being
   * sent: a thread that dies then was on no job), `progress[slot + 1]` = threadId.
   */
  progress: Int32Array;
}
