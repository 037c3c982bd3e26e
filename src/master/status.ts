import type { SlaveConnection } from './connection.ts';
import type { SlaveRegistry } from './fleet/registry.ts';
import type { ResultCounters } from './fleet/task-table.ts';

/** Counters a fleet operator watches. */
export interface MasterStats extends ResultCounters {
  slaves: number;
  runningTasks: number;
  /** Slaves the sweep removed for silence. */
  evictions: number;
  heartbeats: number;
  /** Result uploads cut before their body was complete (the slave's to resend; nothing reached a task). */
  resultsAborted: number;
  tasksCompleted: number;
  /** Tasks that ended FAILED or START_FAILED, whatever the reason. */
  tasksFailed: number;
}

/** One slave in `master.status()`. */
export interface SlaveStatus {
  name: string;
  /** The slave's own address, as the master reaches it. */
  address: string;
  state: 'pending' | 'connected';
  /** Seconds since its last heartbeat (or result, or connect). */
  lastHeartbeatAge: number;
  tasksInFlight: number;
}

/** The fleet as `GET /status` shows it. */
export interface FleetStatus {
  master: {
    host: string;
    port: number;
    channel: number;
    uptime: number;
    shuttingDown: boolean;
    /** The HTTP engine serving the front end (`uws` or `node`). */
    engine: string;
    /** The Node version running the master (`process.version`). */
    node: string;
  };
  stats: MasterStats;
  slaves: SlaveStatus[];
}

/** Every slave in the registry, by name, as `GET /status` lists them. */
export function slaveStatuses(registry: SlaveRegistry<SlaveConnection>, now: number): SlaveStatus[] {
  const slaves: SlaveStatus[] = [];
  for (const record of registry.records()) {
    const { connection } = record;
    slaves.push({
      name: record.name,
      address: connection.origin,
      state: record.state,
      lastHeartbeatAge: Math.round(now - record.lastHeartbeat) / 1000,
      tasksInFlight: connection.runningTasks,
    });
  }
  // the registry keeps heartbeat order; names read better
  return slaves.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
