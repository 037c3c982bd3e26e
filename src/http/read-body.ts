import type { HttpResponse } from './engine.ts';

/** Bodies up to this size come from node's buffer pool (which serves allocations up to half its 8 KiB). */
const kPooledBytes = 4096;

export type BodyOutcome = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' };

/**
 * Reads a request body with a size cap. Must be called in the route's synchronous part, after the caller
 * attached `onAborted` (through `PendingReply`). The engine reuses chunk memory, so each chunk is copied, into one
 * preallocated buffer when Content-Length is known. A body over 4 KiB owns its memory (offset 0, exact
 * length), so its ArrayBuffer can be transferred to a thread without detaching anything else; a smaller one is a
 * slice of node's pool and must be copied before a transfer.
 */
export function readBody(
  res: HttpResponse,
  contentLength: string,
  maxBytes: number,
  done: (outcome: BodyOutcome) => void,
): void {
  const declared = contentLength === '' ? -1 : Number(contentLength);
  if (declared > maxBytes) {
    done({ ok: false, reason: 'too-large' });
    return;
  }
  if (declared === 0) {
    done({ ok: true, body: Buffer.alloc(0) });
    return;
  }
  let finished = false;
  if (declared > 0 && Number.isSafeInteger(declared)) {
    // a small body takes a slice of node's buffer pool (a fresh ArrayBuffer each was measured in the fleet
    // benchmark); the result stage copies small bodies into one batch anyway, and transfers only large ones
    const body = declared <= kPooledBytes ? Buffer.allocUnsafe(declared) : Buffer.allocUnsafeSlow(declared);
    let offset = 0;
    res.onData((chunk, isLast) => {
      if (finished) return;
      const bytes = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk;
      if (offset + bytes.length > declared) {
        finished = true;
        done({ ok: false, reason: 'too-large' });
        return;
      }
      body.set(bytes, offset);
      offset += bytes.length;
      if (isLast) {
        finished = true;
        done({ ok: true, body: offset === declared ? body : body.subarray(0, offset) });
      }
    });
    return;
  }
  // no (or unusable) Content-Length: chunked transfer; collect copies
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > maxBytes) {
      finished = true;
      done({ ok: false, reason: 'too-large' });
      return;
    }
    // copied: the engine reuses the chunk's memory
    chunks.push(Buffer.from(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk));
    if (isLast) {
      finished = true;
      const body = Buffer.allocUnsafeSlow(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      done({ ok: true, body });
    }
  });
}
