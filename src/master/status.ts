import type { JetStreamQueueStats } from '../nats/jetstream-queue.ts';
import type { MasterListing } from '../nats/masters.ts';
import type { SlaveConnection } from './connection.ts';
import type { MasterStats } from './fleet/counters.ts';

export type { MasterStats };

import type { SlaveRegistry } from './fleet/registry.ts';

/** One slave in `master.status()`. */
export interface SlaveStatus {
  name: string;
  /** The slave's own address, as the master reaches it. */
  address: string;
  state: 'pending' | 'connected';
  /** Seconds since its last heartbeat (or result, or connect). */
  lastHeartbeatAge: number;
  tasksInFlight: number;
  /** Its task slots (`capacity`). */
  capacity: number;
  tags: readonly string[];
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
  /** With `queue`: this master's id on NATS, what its JetStream queue did, and every master of the fleet. */
  queue?: QueueStatus;
}

export interface QueueStatus {
  id: string;
  fleet: string;
  stats: JetStreamQueueStats;
  /** Every master that keeps a record in the fleet's bucket (live: beat within three beats). */
  masters: MasterListing[];
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
      capacity: connection.capacity,
      tags: connection.tags,
    });
  }
  // the registry keeps heartbeat order; names read better
  return slaves.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
