/** What `master --tasks` writes for one finished task. */
export interface TaskLine {
  slave: string | null;
  data: unknown;
  /** 'completed', 'failed' or 'start_failed'. */
  status: string;
  result: unknown;
}

export type WrittenLine =
  | { ok: true; line: string }
  /** The result could not be written as JSON; `line` says so (without it), `reason` says why. */
  | { ok: false; line: string; reason: string };

/**
 * The task's stdout line. A result JSON cannot write (a BigInt, a cycle, nesting deeper than the stack, a string
 * past V8's limit) costs only its own line: that line keeps the slave, data and status and says, in
 * `resultError`, that the result could not be written. Pure; never throws.
 */
export function taskLine(fields: TaskLine): WrittenLine {
  try {
    return { ok: true, line: `${JSON.stringify(fields)}\n` };
  } catch (err) {
    const reason = `result could not be written as JSON: ${firstLine(err)}`;
    const { slave, data, status } = fields;
    let line: string;
    try {
      line = JSON.stringify({ slave, data, status, resultError: reason });
    } catch {
      // data came from a JSON line, but a line can nest deeper than JSON.stringify can follow
      line = JSON.stringify({ slave, status, resultError: reason });
    }
    return { ok: false, line: `${line}\n`, reason };
  }
}

/** `Name: message`, first line only (a cycle's message draws the path over several lines). */
function firstLine(err: unknown): string {
  try {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return text.split('\n', 1)[0]!;
  } catch {
    return 'an error that cannot be described';
  }
}
