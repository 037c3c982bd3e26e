import { type HeapNode, IndexedHeap } from './heap.ts';
import type { QueueContext, QueueEntry, TaskQueue } from './queue.ts';

interface Waiting<E> {
  readonly entry: E;
  /** Order within a priority: pushes count up from 1, put-backs down from -1, so a put-back goes first. */
  readonly seq: number;
}

const byTurn = <E extends QueueEntry>(a: Waiting<E>, b: Waiting<E>) =>
  b.entry.priority - a.entry.priority || a.seq - b.seq;

/**
 * The embedded queue: one heap per lane, ordered by (priority, turn), bounded by `context.limit`. Every
 * operation is O(log n) in the lane's size, cancellation included (the heap's handles know their place).
 */
export class MemoryQueue<E extends QueueEntry> implements TaskQueue<E> {
  readonly #limit: number;
  readonly #lanes = new Map<string, IndexedHeap<Waiting<E>>>();
  readonly #nodes = new Map<E, HeapNode<Waiting<E>>>();
  #pushed = 0;
  #putBack = 0;

  constructor(context: Pick<QueueContext, 'limit'>) {
    this.#limit = context.limit;
  }

  get size(): number {
    return this.#nodes.size;
  }

  push(entry: E): boolean {
    if (this.#nodes.size >= this.#limit || this.#nodes.has(entry)) return false;
    this.#add(entry, ++this.#pushed);
    return true;
  }

  unshift(entry: E): void {
    if (!this.#nodes.has(entry)) this.#add(entry, -++this.#putBack);
  }

  peek(lane: string): E | undefined {
    return this.#lanes.get(lane)?.peek()?.entry;
  }

  shift(lane: string): E | undefined {
    const heap = this.#lanes.get(lane);
    const waiting = heap?.pop();
    if (waiting === undefined) return undefined;
    this.#nodes.delete(waiting.entry);
    if (heap!.size === 0) this.#lanes.delete(lane);
    return waiting.entry;
  }

  remove(entry: E): boolean {
    const node = this.#nodes.get(entry);
    if (node === undefined) return false;
    this.#nodes.delete(entry);
    const heap = this.#lanes.get(entry.lane)!;
    heap.remove(node);
    if (heap.size === 0) this.#lanes.delete(entry.lane);
    return true;
  }

  /** Nothing to forget: an entry leaves memory when it is taken. */
  ack(_entry: E): void {}

  #add(entry: E, seq: number): void {
    let heap = this.#lanes.get(entry.lane);
    if (heap === undefined) {
      heap = new IndexedHeap<Waiting<E>>(byTurn);
      this.#lanes.set(entry.lane, heap);
    }
    this.#nodes.set(entry, heap.push({ entry, seq }));
  }
}
