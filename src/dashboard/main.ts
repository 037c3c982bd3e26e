/**
 * The dashboard page: one EventSource on `dashboard/events` feeds the model; the tiles, heat map, charts, table
 * and events list are drawn from it. Nothing on the page sends anything to the master but that one GET.
 */
import type { SnapshotFrame, UpdateFrame } from '../master/dashboard/frames.ts';
import { Charts } from './charts.ts';
import { EventsList } from './events-list.ts';
import { formatCount, formatRate, formatSeconds, formatUptime } from './format.ts';
import { Heatmap } from './heatmap.ts';
import { FleetModel } from './model.ts';
import { SlaveTable } from './table.ts';
import './style.css';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const model = new FleetModel();
const heatmap = new Heatmap($<HTMLCanvasElement>('heatmap'), $('heatmap-tooltip'), model);
const table = new SlaveTable($('slaves'), model);
const events = new EventsList($('events-list'), $('events-note'));
const charts = new Charts($('chart-throughput'), $('chart-ages'));

function set(id: string, text: string): void {
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

function showSummary(): void {
  const s = model.summary;
  const m = model.master;
  if (!s || !m) return;
  set('slaves-total', formatCount(s.slaves.total));
  set('slaves-connected', formatCount(s.slaves.connected));
  set('slaves-pending', formatCount(s.slaves.pending));
  set('slaves-fresh', formatCount(s.slaves.fresh));
  set('slaves-late', formatCount(s.slaves.late));
  set('slaves-silent', formatCount(s.slaves.silent));
  set('tasks-running', formatCount(s.tasks.running));
  set('tasks-queued', formatCount(s.tasks.queued));
  set('tasks-done-rate', formatRate(s.tasks.completedPerSecond));
  set('tasks-failed-rate', formatRate(s.tasks.failedPerSecond));
  set('tasks-done', formatCount(s.tasks.completed));
  set('tasks-failed', formatCount(s.tasks.failed));
  set('results-rate', formatRate(s.resultsPerSecond));
  set('heartbeats-rate', formatRate(s.heartbeatsPerSecond));
  set('evictions', formatCount(s.evictions));
  set('age-p99', formatSeconds(s.age.p99));
  set('age-max', formatSeconds(s.age.max));
  set('pool-util', s.pool ? `${Math.round(s.pool.utilization * 100)} %` : 'inline');
  set(
    'pool-detail',
    s.pool ? `${s.pool.threads} threads · ${formatCount(s.pool.held)} held` : 'no pool threads',
  );
  set('loop-p99', `${formatRate(s.loop.p99)} ms`);
  set('loop-max', `max ${formatRate(s.loop.max)} ms`);
  set(
    'master-info',
    `port ${m.port} · channel ${m.channel} · ${m.engine} on Node ${m.node.replace(/^v/, '')} · ` +
      `tolerance ${m.heartbeatTolerance} s · up ${formatUptime(s.at - m.startedAt)}`,
  );
  set('tolerance', `${m.heartbeatTolerance} s`);
}

function onFrame(): void {
  const now = performance.now();
  showSummary();
  heatmap.draw(now);
  table.refresh(now);
  events.update(model.events, model.eventsSkipped);
  charts.update(model.history, model.master?.heartbeatTolerance ?? 0);
}

function setStatus(state: 'live' | 'connecting' | 'lost'): void {
  const element = $('stream-status');
  element.dataset.state = state;
  element.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
}

const stream = new EventSource('dashboard/events');
setStatus('connecting');
stream.addEventListener('open', () => setStatus('live'));
stream.addEventListener('error', () =>
  setStatus(stream.readyState === EventSource.CLOSED ? 'lost' : 'connecting'),
);
stream.addEventListener('snapshot', (e) => {
  model.applySnapshot(JSON.parse((e as MessageEvent<string>).data) as SnapshotFrame, performance.now());
  setStatus('live');
  onFrame();
});
stream.addEventListener('update', (e) => {
  model.applyUpdate(JSON.parse((e as MessageEvent<string>).data) as UpdateFrame, performance.now());
  onFrame();
});

// ages grow between frames: a slave going silent reddens smoothly, not once a second
setInterval(() => {
  if (model.master) heatmap.draw(performance.now());
}, 250);
