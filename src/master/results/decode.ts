import { decodeBody, isObject } from '../../protocol/codec.ts';
import { isUuid } from '../../protocol/uuid.ts';

export type DecodedResult = { ok: true; taskId: string; result: unknown } | { ok: false; message: string };

/**
 * Decodes a result body `{"task": {"id": "<uuid>"}, "result": {...}}`. Pure (no I/O, no state), so it runs the
 * same inline or on a pool thread. A missing `result` becomes `{}` (DI-engine's slave sends `result or {}`).
 */
export function decodeResultBody(body: Uint8Array, contentType: string): DecodedResult {
  const decoded = decodeBody(body, contentType);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (!isObject(value)) return { ok: false, message: 'Body is not an object.' };
  const task = value.task;
  if (!isObject(task)) return { ok: false, message: 'Task information not found.' };
  const id = task.id;
  if (id === undefined || id === null) return { ok: false, message: 'Task ID not found.' };
  if (typeof id !== 'string' || !isUuid(id)) return { ok: false, message: 'Task ID is not a UUID.' };
  return { ok: true, taskId: id.toLowerCase(), result: value.result ?? {} };
}
