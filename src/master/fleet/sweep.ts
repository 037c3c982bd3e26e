import type { SlaveRecord, SlaveRegistry } from './registry.ts';

/**
 * The heartbeat sweep: one `unref()`ed timer for the whole fleet. Each tick removes the slaves whose last
 * heartbeat is older than the tolerance (the registry walks only that expired prefix) and hands them to
 * `evict`. Returns the function that stops it.
 *
 * If a tick comes late, the master itself stalled (a long GC, a blocked tick) and the heartbeats that arrived
 * meanwhile still wait in socket buffers, to be read right after this tick: the deadline is extended by the
 * stall instead of blaming the fleet for the master's own delay.
 */
export function startSweep<C>(
  registry: SlaveRegistry<C>,
  spanMs: number,
  toleranceMs: number,
  evict: (record: SlaveRecord<C>, now: number) => void,
): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const stall = Math.max(0, now - last - spanMs);
    last = now;
    for (const record of registry.expire(now - toleranceMs - stall)) evict(record, now);
  }, spanMs);
  timer.unref();
  return () => clearInterval(timer);
}
