/**
 * One timer for every client's deadlines, connect timeouts and idle closes, never a timer per request (undici's
 * `lib/util/timers.js` habit). Coarse, as undici's own timeouts are: a deadline fires up to `kSweepMs` late. It
 * runs only while something is watched, and never holds the process open.
 */

export interface Swept {
  /** Fails what is past its deadline; `now` is `performance.now()`. */
  sweep(now: number): void;
}

const kSweepMs = 250;

const watched = new Set<Swept>();
let timer: NodeJS.Timeout | undefined;

export function watch(item: Swept): void {
  watched.add(item);
  if (timer !== undefined) return;
  timer = setInterval(tick, kSweepMs);
  timer.unref();
}

export function unwatch(item: Swept): void {
  watched.delete(item);
}

function tick(): void {
  const now = performance.now();
  for (const item of watched) item.sweep(now);
  if (watched.size === 0) {
    clearInterval(timer);
    timer = undefined;
  }
}
