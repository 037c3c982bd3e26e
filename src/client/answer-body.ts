import { AnswerTooLargeError } from '../errors.ts';

const kFirstCapacity = 1024;

/**
 * An answer body that arrives in pieces, copied into one buffer that grows (doubling) as bytes arrive, never past
 * the body's announced length or the cap. One object however many pieces: a peer sending a million one-byte chunks
 * costs the bytes, not a million Buffers. And the buffer grows with what arrived, not what was announced, so a
 * peer that announces a large Content-Length and sends nothing costs nothing.
 */
export class AnswerBody {
  readonly #max: number;
  #bytes: Buffer | undefined;
  #length = 0;

  /** `max`: the cap (refused past it); `expected`: the announced length, when there is one (<= max). */
  constructor(max: number, expected = max) {
    this.#max = Math.min(max, expected);
    if (expected > max) throw tooLarge(max);
  }

  get length(): number {
    return this.#length;
  }

  /** Copies `bytes[from, to)` (the caller's buffer may be reused); throws `AnswerTooLargeError` past the cap. */
  append(bytes: Uint8Array, from = 0, to = bytes.length): void {
    const n = to - from;
    if (n <= 0) return;
    const needed = this.#length + n;
    if (needed > this.#max) throw tooLarge(this.#max);
    let target = this.#bytes;
    if (target === undefined || needed > target.length) {
      const capacity = Math.min(this.#max, Math.max(needed, kFirstCapacity, (target?.length ?? 0) * 2));
      const grown = Buffer.allocUnsafe(capacity);
      if (target !== undefined) target.copy(grown, 0, 0, this.#length);
      target = this.#bytes = grown;
    }
    target.set(bytes.subarray(from, to), this.#length);
    this.#length = needed;
  }

  /** The body as UTF-8; the buffer is let go. */
  text(): string {
    const bytes = this.#bytes;
    this.#bytes = undefined;
    return bytes === undefined ? '' : bytes.toString('utf8', 0, this.#length);
  }
}

export function tooLarge(max: number): AnswerTooLargeError {
  return new AnswerTooLargeError('body', `answer body larger than ${max} bytes`);
}
