import type { HttpResponse } from './engine.ts';

/** Bodies up to this size come from node's buffer pool (which serves allocations up to half its 8 KiB). */
const kPooledBytes = 4096;

export type BodyOutcome = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'no-room' };

export interface ReadBodyOptions {
  /**
   * Allocate a declared Content-Length at once (default). Off for a body whose room is not granted yet: its
   * chunks are kept as they come (while held, only what reached the server before the pause).
   */
  preallocate?: boolean;
  /**
   * Asked before keeping each chunk of a body whose length was not declared (chunked): false when there is no
   * room for those bytes, and the body ends as `no-room`.
   */
  grow?: (bytes: number) => boolean;
}

/** The declared length of a body: -1 when none was given (or it is unusable), else its bytes. */
export function declaredLength(contentLength: string): number {
  if (contentLength === '') return -1;
  const n = Number(contentLength);
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

/**
 * Reads a request body with a size cap. Must be called in the route's synchronous part, after the caller
 * attached `onAborted` (through `PendingReply`): uWS drops body bytes that arrive before `onData`. The engine
 * reuses chunk memory, so each chunk is copied, into one preallocated buffer when Content-Length is known. A body
 * over 4 KiB owns its memory (offset 0, exact length), so its ArrayBuffer can be transferred to a thread without
 * detaching anything else; a smaller one is a slice of node's pool and must be copied before a transfer.
 */
export function readBody(
  res: HttpResponse,
  contentLength: string,
  maxBytes: number,
  done: (outcome: BodyOutcome) => void,
  options: ReadBodyOptions = {},
): void {
  const declared = declaredLength(contentLength);
  if (declared > maxBytes) {
    done({ ok: false, reason: 'too-large' });
    return;
  }
  if (declared === 0) {
    done({ ok: true, body: Buffer.alloc(0) });
    return;
  }
  let finished = false;
  const finish = (outcome: BodyOutcome) => {
    finished = true;
    done(outcome);
  };
  if (declared > 0 && options.preallocate !== false) {
    // a small body takes a slice of node's buffer pool (a fresh ArrayBuffer each was measured in the fleet
    // benchmark); the result stage copies small bodies into one batch anyway
    const body = declared <= kPooledBytes ? Buffer.allocUnsafe(declared) : Buffer.allocUnsafeSlow(declared);
    let offset = 0;
    res.onData((chunk, isLast) => {
      if (finished) return;
      const bytes = chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk;
      if (offset + bytes.length > declared) return finish({ ok: false, reason: 'too-large' });
      body.set(bytes, offset);
      offset += bytes.length;
      if (isLast) finish({ ok: true, body: offset === declared ? body : body.subarray(0, offset) });
    });
    return;
  }
  // chunked transfer, or a declared body whose room is not granted yet: collect copies
  const limit = declared > 0 ? declared : maxBytes;
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > limit) return finish({ ok: false, reason: 'too-large' });
    if (declared < 0 && chunk.byteLength > 0 && options.grow?.(chunk.byteLength) === false) {
      return finish({ ok: false, reason: 'no-room' });
    }
    // copied: the engine reuses the chunk's memory
    chunks.push(Buffer.from(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk));
    if (isLast) {
      const body = Buffer.allocUnsafeSlow(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      finish({ ok: true, body });
    }
  });
}
