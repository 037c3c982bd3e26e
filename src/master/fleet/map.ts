import type { Task } from '../task.ts';
import { checkInFlight, type MapOptions, type SubmitOptions } from './submit-options.ts';

/** What `mapTasks` needs of the master. */
export interface MapHost {
  submit(data: unknown, options?: SubmitOptions): Task;
  /** Resolves once the queue has room for one more task. */
  whenRoom(): Promise<void>;
  readonly queueFull: boolean;
  /** The master is closing: take no more items. */
  readonly isClosed: boolean;
}

/**
 * `master.map()`: submits the items lazily, with at most `inFlight` tasks submitted and not yet yielded, never
 * into a full queue (it waits for room), and yields each task as it settles, in completion order (Dask's
 * `as_completed`). Leaving the loop early, or an error from the items, cancels the tasks still outstanding;
 * once the master closes, no more items are taken.
 */
export async function* mapTasks<D>(
  host: MapHost,
  items: Iterable<D> | AsyncIterable<D>,
  options: MapOptions = {},
): AsyncGenerator<Task<D>, void, undefined> {
  const { inFlight: inFlightOption, ...submitOptions } = options;
  const inFlight = checkInFlight(inFlightOption);
  const iterator = isAsyncIterable(items) ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  const outstanding = new Set<Task<D>>();
  const settled: Task<D>[] = [];
  let wake: (() => void) | undefined;
  let exhausted = false;
  const onSettled = (task: Task<D>) => {
    outstanding.delete(task);
    settled.push(task);
    wake?.();
  };
  try {
    for (;;) {
      while (settled.length > 0) yield settled.shift()!;
      if (host.isClosed) exhausted = true;
      if (!exhausted && outstanding.size < inFlight && !host.queueFull) {
        const next = await iterator.next();
        if (next.done) exhausted = true;
        else {
          const task = host.submit(next.value, submitOptions) as Task<D>;
          outstanding.add(task);
          void task.join().then(onSettled);
        }
        continue;
      }
      if (exhausted && outstanding.size === 0 && settled.length === 0) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
        // waiting for room only matters when an item could be submitted otherwise
        if (!exhausted && outstanding.size < inFlight) void host.whenRoom().then(resolve);
      });
      wake = undefined;
    }
  } finally {
    for (const task of outstanding) task.cancel('map() ended before this task was yielded');
    if (!exhausted) await iterator.return?.();
  }
}

function isAsyncIterable<D>(value: Iterable<D> | AsyncIterable<D>): value is AsyncIterable<D> {
  return typeof (value as AsyncIterable<D>)[Symbol.asyncIterator] === 'function';
}
