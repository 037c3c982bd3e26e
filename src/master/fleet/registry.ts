/**
 * The slave registry: name ↔ token ↔ connection, and the order of last heartbeats.
 *
 * Every slave shares one tolerance, so "oldest heartbeat first" is also "first to expire". Records sit in one
 * intrusive doubly linked list kept in heartbeat order: a heartbeat moves its record to the tail (O(1), no
 * allocation), and a sweep walks from the head and stops at the first record still fresh, so a sweep costs
 * the number of expired slaves plus one, whatever the fleet size.
 */
export interface SlaveRecord<C> {
  readonly name: string;
  readonly token: string;
  readonly connection: C;
  /** `pending` while `POST /connect` is in flight: heartbeats count, but the slave is not listed yet. */
  state: 'pending' | 'connected';
  lastHeartbeat: number;
  prev: SlaveRecord<C> | undefined;
  next: SlaveRecord<C> | undefined;
}

export class SlaveRegistry<C> {
  readonly #byToken = new Map<string, SlaveRecord<C>>();
  readonly #byName = new Map<string, SlaveRecord<C>>();
  #head: SlaveRecord<C> | undefined;
  #tail: SlaveRecord<C> | undefined;

  get size(): number {
    return this.#byToken.size;
  }

  /** Adds (or re-adds) a record with a fresh heartbeat. */
  add(
    name: string,
    token: string,
    connection: C,
    state: SlaveRecord<C>['state'],
    now: number,
  ): SlaveRecord<C> {
    const existing = this.#byToken.get(token);
    if (existing) {
      existing.state = state;
      this.touch(existing, now);
      return existing;
    }
    const record: SlaveRecord<C> = {
      name,
      token,
      connection,
      state,
      lastHeartbeat: now,
      prev: undefined,
      next: undefined,
    };
    this.#byToken.set(token, record);
    this.#byName.set(name, record);
    this.#append(record);
    return record;
  }

  byToken(token: string): SlaveRecord<C> | undefined {
    return this.#byToken.get(token);
  }

  byName(name: string): SlaveRecord<C> | undefined {
    return this.#byName.get(name);
  }

  /** A heartbeat: O(1). */
  touch(record: SlaveRecord<C>, now: number): void {
    record.lastHeartbeat = now;
    if (record === this.#tail) return;
    this.#unlink(record);
    this.#append(record);
  }

  remove(record: SlaveRecord<C>): boolean {
    if (this.#byToken.get(record.token) !== record) return false;
    this.#byToken.delete(record.token);
    if (this.#byName.get(record.name) === record) this.#byName.delete(record.name);
    this.#unlink(record);
    return true;
  }

  /**
   * Removes and returns every record whose last heartbeat is older than `cutoff`, oldest first. Walks only
   * the expired prefix of the list.
   */
  expire(cutoff: number): SlaveRecord<C>[] {
    const expired: SlaveRecord<C>[] = [];
    let record = this.#head;
    while (record !== undefined && record.lastHeartbeat < cutoff) {
      const next = record.next;
      this.remove(record);
      expired.push(record);
      record = next;
    }
    return expired;
  }

  *records(): IterableIterator<SlaveRecord<C>> {
    for (let r = this.#head; r !== undefined; r = r.next) yield r;
  }

  #append(record: SlaveRecord<C>): void {
    record.prev = this.#tail;
    record.next = undefined;
    if (this.#tail) this.#tail.next = record;
    else this.#head = record;
    this.#tail = record;
  }

  #unlink(record: SlaveRecord<C>): void {
    if (record.prev) record.prev.next = record.next;
    else if (this.#head === record) this.#head = record.next;
    if (record.next) record.next.prev = record.prev;
    else if (this.#tail === record) this.#tail = record.prev;
    record.prev = undefined;
    record.next = undefined;
  }
}
