/**
 * What the dashboard's event stream carries (JSON in SSE `data:` lines), shared by the master and the page
 * (src/dashboard/ imports these types). A page first gets one `snapshot`, then one `update` a second with what
 * changed: aggregates, the slots whose slave changed, and every slot's heartbeat age as one byte.
 *
 * Per-slave figures travel as base64 byte arrays indexed by slot: `ages[slot]` is the heartbeat age as a fraction
 * of the tolerance, × `kAgeScale` (255: empty slot); `inflight[slot]` is tasks in flight, at most 254. At 10,000
 * slaves a second's ages are 13.3 KB of base64, and in-flight counts are sent only when one of them changed.
 */

/** `ages[slot] / kAgeScale` is the heartbeat age ÷ the tolerance. */
export const kAgeScale = 200;
/** An `ages` byte for a slot with no slave. */
export const kEmptySlot = 255;
/** Heartbeat age ÷ tolerance from which a slave counts as late, and as silent (about to be evicted). */
export const kLateFraction = 0.5;
export const kSilentFraction = 0.8;

/** A slot's slave: `[slot, id, name, address, state]`, or `[slot, null]` when the slot was freed. */
export type SlotChange =
  | [slot: number, id: number, name: string, address: string, state: SlaveState]
  | [slot: number, null];
export type SlaveState = 'pending' | 'connected';

/** One second of the fleet, as the page shows it in its tiles. */
export interface Summary {
  /** `Date.now()` when measured. */
  at: number;
  slaves: { total: number; connected: number; pending: number; fresh: number; late: number; silent: number };
  tasks: {
    running: number;
    /** Tasks waiting for a slave; null while the master has no queue. */
    queued: number | null;
    completed: number;
    failed: number;
    completedPerSecond: number;
    failedPerSecond: number;
  };
  resultsPerSecond: number;
  heartbeatsPerSecond: number;
  evictions: number;
  /** Heartbeat age over the fleet, in seconds. */
  age: { p50: number; p99: number; max: number };
  /** Result pool: share of its threads' time spent on results (0–1), results held; null when inline. */
  pool: { utilization: number; held: number; threads: number } | null;
  /** The master's main-thread event-loop delay over the last second, in ms. */
  loop: { p99: number; max: number };
}

/** One point of the charts, one a second: `[t (s since the epoch), ...kHistoryColumns]`. */
export const kHistoryColumns = [
  'completedPerSecond',
  'failedPerSecond',
  'resultsPerSecond',
  'heartbeatsPerSecond',
  'ageP50',
  'ageP99',
  'ageMax',
] as const;
export type HistoryPoint = number[];

export type FleetEvent =
  | { seq: number; at: number; kind: 'connect'; slave: string; address: string }
  | { seq: number; at: number; kind: 'disconnect'; slave: string; address: string; tasksEnded: number }
  | {
      seq: number;
      at: number;
      kind: 'evict';
      slave: string;
      address: string;
      silentFor: number;
      tasksLost: number;
    }
  | {
      seq: number;
      at: number;
      kind: 'retry';
      taskId: string;
      /** The attempt that failed (the next one is attempt + 1). */
      attempt: number;
      /** The slave it failed on, if it reached one. */
      slave: string | undefined;
      reason: string;
    }
  | {
      seq: number;
      at: number;
      kind: 'task_failed';
      taskId: string;
      code: string;
      reason: string | undefined;
    };

export interface MasterInfo {
  engine: string;
  node: string;
  port: number;
  channel: number;
  /** Seconds. */
  heartbeatTolerance: number;
  /** `Date.now()` at start. */
  startedAt: number;
}

export interface SnapshotFrame {
  master: MasterInfo;
  /** Slots in use so far (the byte arrays' length). */
  capacity: number;
  slots: SlotChange[];
  ages: string;
  inflight: string;
  summary: Summary;
  /** Oldest first, at most 15 minutes. */
  history: HistoryPoint[];
  /** Oldest first. */
  events: FleetEvent[];
}

export interface UpdateFrame {
  capacity: number;
  /** Slots whose slave changed since the last update (the state now: applying it twice changes nothing). */
  slots: SlotChange[];
  ages: string;
  /** Absent when no slot's count changed. */
  inflight?: string;
  summary: Summary;
  point: HistoryPoint;
  events: FleetEvent[];
  /** Events that happened since the last update but are not in `events` (more than one update carries). */
  eventsSkipped: number;
}
