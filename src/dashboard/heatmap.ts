/**
 * One cell per slave on a canvas (10,000 fit), by name, coloured by heartbeat age as a fraction of the tolerance;
 * hovering a cell shows its slave. Redrawn a few times a second from the model, so ages grow between frames.
 */
import { kAgeScale } from '../master/dashboard/frames.ts';
import { ageColour, formatSeconds, kPendingColour } from './format.ts';
import { type HeatmapLayout, heatmapLayout } from './layout.ts';
import type { FleetModel, SlaveView } from './model.ts';

/** Colour by age byte (fraction × kAgeScale), computed once. */
const kColours = Array.from({ length: 256 }, (_, b) => ageColour(b / kAgeScale));

export class Heatmap {
  readonly #canvas: HTMLCanvasElement;
  readonly #tooltip: HTMLElement;
  readonly #model: FleetModel;
  #layout: HeatmapLayout = { cell: 4, columns: 1, rows: 0 };
  #cells: SlaveView[] = [];
  #hover: { x: number; y: number } | undefined;

  constructor(canvas: HTMLCanvasElement, tooltip: HTMLElement, model: FleetModel) {
    this.#canvas = canvas;
    this.#tooltip = tooltip;
    this.#model = model;
    canvas.addEventListener('mousemove', (e) => {
      this.#hover = { x: e.offsetX, y: e.offsetY };
      this.#showTooltip(performance.now());
    });
    canvas.addEventListener('mouseleave', () => {
      this.#hover = undefined;
      this.#tooltip.hidden = true;
    });
  }

  draw(now: number): void {
    const model = this.#model;
    const cells = model.sorted();
    this.#cells = cells;
    const canvas = this.#canvas;
    const width = canvas.parentElement?.clientWidth ?? 600;
    const layout = heatmapLayout(cells.length, width);
    this.#layout = layout;
    const height = Math.max(1, layout.rows * layout.cell);
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    canvas.dataset.cells = String(cells.length);
    canvas.dataset.columns = String(layout.columns);
    canvas.dataset.cell = String(layout.cell);
    const ctx = canvas.getContext('2d');
    if (ctx === null) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { cell, columns } = layout;
    const size = cell >= 8 ? cell - 2 : cell - 1;
    for (let i = 0; i < cells.length; i++) {
      const slave = cells[i]!;
      const fraction = model.fraction(slave.slot, now);
      ctx.fillStyle =
        slave.state === 'pending'
          ? kPendingColour
          : kColours[Math.min(254, Math.round(fraction * kAgeScale))]!;
      ctx.fillRect((i % columns) * cell, Math.floor(i / columns) * cell, size, size);
    }
    if (this.#hover) this.#showTooltip(now);
  }

  #showTooltip(now: number): void {
    const hover = this.#hover;
    if (!hover) return;
    const { cell, columns } = this.#layout;
    const column = Math.floor(hover.x / cell);
    const index = Math.floor(hover.y / cell) * columns + column;
    const slave = column < columns ? this.#cells[index] : undefined;
    const tooltip = this.#tooltip;
    if (slave === undefined) {
      tooltip.hidden = true;
      return;
    }
    const model = this.#model;
    const lines = [
      slave.name,
      slave.address,
      `${model.health(slave, now)} · heartbeat ${formatSeconds(model.ageSeconds(slave.slot, now))} ago`,
      `tasks in flight: ${model.tasksInFlight(slave.slot)}`,
    ];
    tooltip.replaceChildren(
      ...lines.map((line, i) => {
        const div = document.createElement('div');
        if (i === 0) div.className = 'tooltip-name';
        div.textContent = line;
        return div;
      }),
    );
    tooltip.hidden = false;
    tooltip.style.left = `${Math.min(hover.x + 14, (this.#canvas.clientWidth || 0) - 220)}px`;
    tooltip.style.top = `${hover.y + 14}px`;
  }
}
