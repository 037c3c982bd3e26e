/**
 * A binary heap whose entries are handles that know their own place, so an entry can be removed, or put back in
 * order after its key changed, in O(log n). The scheduler needs exactly that twice: a free slave's load changes
 * with every task it takes or ends, and a queued task leaves the middle of the queue when it is cancelled. (The
 * heaps on npm remove by search, O(n); that is the one thing this one adds.)
 */
export interface HeapNode<T> {
  readonly value: T;
  /** Its place in the heap's array; -1 while it is in no heap. */
  index: number;
}

export class IndexedHeap<T> {
  readonly #nodes: HeapNode<T>[] = [];
  /** Negative when `a` comes first. */
  readonly #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#nodes.length;
  }

  /** The first entry, left in place. */
  peek(): T | undefined {
    return this.#nodes[0]?.value;
  }

  /**
   * The first entry other than `value`, left in place: O(1), since the second in order is one of the first's two
   * children.
   */
  peekExcept(value: T): T | undefined {
    const first = this.#nodes[0];
    if (first === undefined || first.value !== value) return first?.value;
    const a = this.#nodes[1];
    const b = this.#nodes[2];
    if (a === undefined) return undefined;
    if (b === undefined) return a.value;
    return this.#compare(b.value, a.value) < 0 ? b.value : a.value;
  }

  /** Adds `value`; returns its handle (for `remove` and `update`). */
  push(value: T): HeapNode<T> {
    const node: HeapNode<T> = { value, index: -1 };
    this.insert(node);
    return node;
  }

  /** Adds a handle made earlier that is in no heap now. */
  insert(node: HeapNode<T>): void {
    node.index = this.#nodes.length;
    this.#nodes.push(node);
    this.#up(node.index);
  }

  /** Takes the first entry. */
  pop(): T | undefined {
    const first = this.#nodes[0];
    if (first === undefined) return undefined;
    this.remove(first);
    return first.value;
  }

  /** Takes the entry out; false if the handle was not in this heap. */
  remove(node: HeapNode<T>): boolean {
    const i = node.index;
    if (i < 0 || this.#nodes[i] !== node) return false;
    const last = this.#nodes.pop()!;
    node.index = -1;
    if (last !== node) {
      this.#nodes[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    return true;
  }

  /** The entry's key changed: move it to its place. */
  update(node: HeapNode<T>): void {
    if (node.index < 0 || this.#nodes[node.index] !== node) return;
    this.#down(node.index);
    this.#up(node.index);
  }

  has(node: HeapNode<T>): boolean {
    return node.index >= 0 && this.#nodes[node.index] === node;
  }

  /** Every entry, in no particular order. */
  *values(): IterableIterator<T> {
    for (const node of this.#nodes) yield node.value;
  }

  #up(i: number): void {
    const nodes = this.#nodes;
    const node = nodes[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = nodes[parentIndex]!;
      if (this.#compare(node.value, parent.value) >= 0) break;
      nodes[i] = parent;
      parent.index = i;
      i = parentIndex;
    }
    nodes[i] = node;
    node.index = i;
  }

  #down(i: number): void {
    const nodes = this.#nodes;
    const n = nodes.length;
    const node = nodes[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#compare(nodes[right]!.value, nodes[left]!.value) < 0) child = right;
      const best = nodes[child]!;
      if (this.#compare(best.value, node.value) >= 0) break;
      nodes[i] = best;
      best.index = i;
      i = child;
    }
    nodes[i] = node;
    node.index = i;
  }
}
