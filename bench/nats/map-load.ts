/**
 * The NATS benchmark's in-memory load, run inside the master child (a plugin of bench/harness/master-child.ts):
 * `master.map` over a stream of tasks, `inFlight` outstanding, from `map-start` to `map-stop` (which waits, boundedly,
 * for the tasks still out, so the master does not close on running tasks). The benchmark counts completed tasks
 * with the child's `stats` request (`tasksCompleted`). A master with `queue` needs no load of its own: its tasks
 * come from JetStream.
 */
import { settleWithin } from '../harness/bench.ts';
import type { PluginHost } from '../harness/master-child.ts';

export interface MapStart {
  inFlight: number;
}

export interface MapStop {
  /** Most milliseconds to wait for the tasks still out. */
  drainMs: number;
}

export function handlers({ master }: PluginHost) {
  let running = false;
  let loop: Promise<void> | undefined;
  return {
    'map-start': ({ inFlight }: MapStart) => {
      if (loop) throw new Error('the map load already runs');
      running = true;
      function* whileRunning() {
        for (let i = 0; running; i++) yield { i };
      }
      loop = (async () => {
        for await (const _ of master.map(whileRunning(), { inFlight })) {
          // settled tasks are counted by the master's stats
        }
      })().catch(() => undefined);
      return { inFlight };
    },
    /** Stops submitting; resolves once every task out has settled (true), or after `drainMs` (false). */
    'map-stop': ({ drainMs }: MapStop) => {
      running = false;
      return settleWithin(loop ?? Promise.resolve(), drainMs);
    },
  };
}
