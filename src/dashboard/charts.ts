/** Throughput and heartbeat-age charts over the last 15 minutes (uPlot, bundled with the page). */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type HistoryPoint, kHistoryColumns } from '../master/dashboard/frames.ts';

const column = (name: (typeof kHistoryColumns)[number]) => 1 + kHistoryColumns.indexOf(name);

export const kSeriesColours = {
  completed: '#2f9e44',
  failed: '#e03131',
  results: '#1c7ed6',
  heartbeats: '#868e96',
  p50: '#2f9e44',
  p99: '#f08c00',
  max: '#e03131',
  tolerance: '#495057',
};

interface ChartSpec {
  title: string;
  series: uPlot.Series[];
  axes: uPlot.Axis[];
  scales?: uPlot.Scales;
  /** The chart's data columns from the history. */
  data(history: HistoryPoint[], tolerance: number): number[][];
}

const kThroughput: ChartSpec = {
  title: 'Throughput (per second)',
  series: [
    {},
    { label: 'tasks done', stroke: kSeriesColours.completed, width: 2 },
    { label: 'tasks failed', stroke: kSeriesColours.failed, width: 2 },
    { label: 'results', stroke: kSeriesColours.results, width: 1 },
    { label: 'heartbeats', stroke: kSeriesColours.heartbeats, width: 1, scale: 'beats' },
  ],
  axes: [{}, { size: 56 }, { scale: 'beats', side: 1, size: 56, grid: { show: false } }],
  data: (h) => [
    h.map((p) => p[0]!),
    h.map((p) => p[column('completedPerSecond')]!),
    h.map((p) => p[column('failedPerSecond')]!),
    h.map((p) => p[column('resultsPerSecond')]!),
    h.map((p) => p[column('heartbeatsPerSecond')]!),
  ],
};

const kAges: ChartSpec = {
  title: 'Heartbeat age (seconds)',
  series: [
    {},
    { label: 'p50', stroke: kSeriesColours.p50, width: 2 },
    { label: 'p99', stroke: kSeriesColours.p99, width: 2 },
    { label: 'max', stroke: kSeriesColours.max, width: 1 },
    { label: 'tolerance', stroke: kSeriesColours.tolerance, width: 1, dash: [6, 4] },
  ],
  axes: [{}, { size: 56 }],
  scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
  data: (h, tolerance) => [
    h.map((p) => p[0]!),
    h.map((p) => p[column('ageP50')]!),
    h.map((p) => p[column('ageP99')]!),
    h.map((p) => p[column('ageMax')]!),
    h.map(() => tolerance),
  ],
};

export class Charts {
  readonly #charts: { plot: uPlot; spec: ChartSpec; root: HTMLElement }[] = [];

  constructor(throughput: HTMLElement, ages: HTMLElement) {
    for (const [root, spec] of [
      [throughput, kThroughput],
      [ages, kAges],
    ] as const) {
      const plot = new uPlot(
        {
          title: spec.title,
          width: Math.max(300, root.clientWidth),
          height: 220,
          series: spec.series,
          axes: spec.axes,
          scales: { x: { time: true }, ...spec.scales },
          legend: { live: false },
          cursor: { drag: { x: false, y: false } },
        },
        spec.data([], 0) as uPlot.AlignedData,
        root,
      );
      this.#charts.push({ plot, spec, root });
    }
    window.addEventListener('resize', () => {
      for (const { plot, root } of this.#charts)
        plot.setSize({ width: Math.max(300, root.clientWidth), height: 220 });
    });
  }

  update(history: HistoryPoint[], tolerance: number): void {
    for (const { plot, spec } of this.#charts)
      plot.setData(spec.data(history, tolerance) as uPlot.AlignedData);
  }
}
