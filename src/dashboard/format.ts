/** Colours and words the page shows. Pure. */
import { type FleetEvent, kSilentFraction } from '../master/dashboard/frames.ts';
import type { Health } from './model.ts';

/** A heartbeat age (÷ tolerance) as a colour: green when fresh, through yellow, red from `kSilentFraction` on. */
export function ageColour(fraction: number): string {
  if (!(fraction >= 0)) return '#8a94a6';
  const hue = Math.round(120 * (1 - Math.min(1, fraction / kSilentFraction)));
  return `hsl(${hue} 70% 45%)`;
}

export const kPendingColour = '#6c7ea8';

export const kHealthLabels: Record<Health, string> = {
  pending: 'pending',
  fresh: 'fresh',
  late: 'late',
  silent: 'silent',
};

const integer = new Intl.NumberFormat('en');
const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : integer.format(n);
}

export function formatRate(n: number | null | undefined): string {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : decimal.format(n);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One line of the events list. */
export function describeEvent(event: FleetEvent): string {
  switch (event.kind) {
    case 'connect':
      return `${event.slave} connected (${event.address})`;
    case 'disconnect':
      return `${event.slave} disconnected (${event.address}), ${plural(event.tasksEnded, 'task')} ended`;
    case 'evict':
      return `${event.slave} evicted: silent for ${event.silentFor} s, ${plural(event.tasksLost, 'task')} lost (${event.address})`;
    case 'retry':
      return `task ${event.taskId.slice(0, 8)} goes back to the queue after attempt ${event.attempt}${event.slave ? ` on ${event.slave}` : ''}: ${event.reason}`;
    case 'task_failed':
      return `task ${event.taskId.slice(0, 8)} failed: ${event.code}${event.reason ? ` (${event.reason})` : ''}`;
  }
}
