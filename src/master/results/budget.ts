/**
 * What result bodies may hold of the master at once, counted from the moment an upload is admitted (before its
 * first byte is read, so nothing is allocated past the budget) until its result settles: `maxCount` results and
 * `maxBytes` body bytes in all (`resultQueueLimit`, `resultQueueBytes`), and `perSlaveBytes` of unfinished
 * uploads per slave (`maxBodySize`), so one token cannot take the fleet's share.
 *
 * An upload always fits when nothing is held (a body the size of `maxBodySize` must be able to pass even when
 * `resultQueueBytes` is set lower), and a slave's first upload always fits its own share.
 */
export class ResultBudget<K> {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  readonly #perSlaveBytes: number;
  #count = 0;
  #bytes = 0;
  /** Bytes of uploads not finished yet, per slave (entries leave at 0). */
  readonly #uploading = new Map<K, number>();
  /** Held uploads waiting for room, first come first served. */
  readonly #waiting: { key: K; bytes: number; admit: () => void }[] = [];

  constructor(limits: { maxCount: number; maxBytes: number; perSlaveBytes: number }) {
    this.#maxCount = limits.maxCount;
    this.#maxBytes = limits.maxBytes;
    this.#perSlaveBytes = limits.perSlaveBytes;
  }

  /** Results (or uploads) held, and their body bytes. */
  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** True when this slave's unfinished uploads leave no room for `bytes` more (refused, never waited for). */
  overSlaveShare(key: K, bytes: number): boolean {
    const uploading = this.#uploading.get(key) ?? 0;
    return uploading > 0 && uploading + bytes > this.#perSlaveBytes;
  }

  /** Admits an upload of `bytes` (more may be added with `grow`) if the budget has room now and nobody waits. */
  tryAdmit(key: K, bytes: number): boolean {
    if (this.#waiting.length > 0 || !this.#fits(1, bytes)) return false;
    this.#take(key, 1, bytes);
    return true;
  }

  /** Admits an upload once there is room (held uploads are admitted in their order of arrival). */
  admit(key: K, bytes: number): Promise<void> {
    if (this.tryAdmit(key, bytes)) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ key, bytes, admit: resolve }));
  }

  /** Gives up a place in the queue of held uploads (its client went away); true if it was waiting. */
  abandon(key: K, bytes: number): boolean {
    const at = this.#waiting.findIndex((w) => w.key === key && w.bytes === bytes);
    if (at < 0) return false;
    this.#waiting.splice(at, 1);
    this.#wake();
    return true;
  }

  /** More bytes of an admitted upload whose length was not declared (chunked); false when they do not fit. */
  grow(key: K, bytes: number): boolean {
    if (!this.#fits(0, bytes) || this.overSlaveShare(key, bytes)) return false;
    this.#take(key, 0, bytes);
    return true;
  }

  /** The upload's body is complete: it stops counting against its slave's share (it still holds the budget). */
  uploaded(key: K, bytes: number): void {
    const left = (this.#uploading.get(key) ?? 0) - bytes;
    if (left > 0) this.#uploading.set(key, left);
    else this.#uploading.delete(key);
  }

  /** The result settled, or its upload was cut: everything it held goes back. */
  release(bytes: number): void {
    this.#count--;
    this.#bytes -= bytes;
    this.#wake();
  }

  #fits(count: number, bytes: number): boolean {
    if (this.#count === 0) return true;
    return this.#count + count <= this.#maxCount && this.#bytes + bytes <= this.#maxBytes;
  }

  #take(key: K, count: number, bytes: number): void {
    this.#count += count;
    this.#bytes += bytes;
    this.#uploading.set(key, (this.#uploading.get(key) ?? 0) + bytes);
  }

  #wake(): void {
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (!this.#fits(1, next.bytes)) return;
      this.#waiting.shift();
      this.#take(next.key, 1, next.bytes);
      next.admit();
    }
  }
}
