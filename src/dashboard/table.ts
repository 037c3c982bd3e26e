/**
 * The slaves as a table: sortable by any column, filtered by name or address and by health, virtualised (only the
 * rows in view, plus a few, exist in the DOM) so 10,000 rows scroll smoothly. Reading it changes nothing.
 */
import { formatSeconds, kHealthLabels } from './format.ts';
import { rowWindow } from './layout.ts';
import type { FleetModel, Health, SlaveView } from './model.ts';

export const kRowHeight = 26;

type Column = 'name' | 'address' | 'health' | 'age' | 'tasks';
const kColumns: Column[] = ['name', 'address', 'health', 'age', 'tasks'];
const kHealthOrder: Record<Health, number> = { silent: 0, late: 1, fresh: 2, pending: 3 };

interface Row {
  slave: SlaveView;
  health: Health;
  age: number;
  tasks: number;
}

export class SlaveTable {
  readonly #model: FleetModel;
  readonly #viewport: HTMLElement;
  readonly #spacer: HTMLElement;
  readonly #body: HTMLElement;
  readonly #count: HTMLElement;
  readonly #headers: Map<Column, HTMLButtonElement>;
  #rows: Row[] = [];
  #sort: { column: Column; descending: boolean } = { column: 'name', descending: false };
  #text = '';
  #health: Health | 'all' = 'all';
  #scheduled = false;

  constructor(root: HTMLElement, model: FleetModel) {
    this.#model = model;
    this.#viewport = root.querySelector<HTMLElement>('.table-viewport')!;
    this.#spacer = root.querySelector<HTMLElement>('.table-spacer')!;
    this.#body = root.querySelector<HTMLElement>('.table-rows')!;
    this.#count = root.querySelector<HTMLElement>('.table-count')!;
    this.#headers = new Map(
      kColumns.map((column) => [
        column,
        root.querySelector<HTMLButtonElement>(`button[data-sort="${column}"]`)!,
      ]),
    );
    for (const [column, button] of this.#headers) {
      button.addEventListener('click', () => {
        const same = this.#sort.column === column;
        this.#sort = {
          column,
          descending: same ? !this.#sort.descending : column === 'age' || column === 'tasks',
        };
        this.refresh(performance.now());
      });
    }
    root.querySelector<HTMLInputElement>('input.table-filter')!.addEventListener('input', (e) => {
      this.#text = (e.target as HTMLInputElement).value.trim().toLowerCase();
      this.refresh(performance.now());
    });
    root.querySelector<HTMLSelectElement>('select.table-health')!.addEventListener('change', (e) => {
      this.#health = (e.target as HTMLSelectElement).value as Health | 'all';
      this.refresh(performance.now());
    });
    this.#viewport.addEventListener('scroll', () => this.#schedule(), { passive: true });
  }

  /** Filters and sorts anew (a frame came, or the person changed the sort or the filter). */
  refresh(now: number): void {
    const model = this.#model;
    const text = this.#text;
    const wanted = this.#health;
    const rows: Row[] = [];
    for (const slave of model.sorted()) {
      if (
        text !== '' &&
        !slave.name.toLowerCase().includes(text) &&
        !slave.address.toLowerCase().includes(text)
      ) {
        continue;
      }
      const health = model.health(slave, now);
      if (wanted !== 'all' && health !== wanted) continue;
      rows.push({
        slave,
        health,
        age: model.ageSeconds(slave.slot, now),
        tasks: model.tasksInFlight(slave.slot),
      });
    }
    const { column, descending } = this.#sort;
    if (column !== 'name') {
      const key = (r: Row): number | string =>
        column === 'address'
          ? r.slave.address
          : column === 'health'
            ? kHealthOrder[r.health]
            : column === 'age'
              ? r.age
              : r.tasks;
      // stable on the name order underneath
      rows.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        return x < y ? -1 : x > y ? 1 : 0;
      });
    }
    if (descending) rows.reverse();
    this.#rows = rows;
    this.#count.textContent = `${rows.length.toLocaleString('en')} of ${model.sorted().length.toLocaleString('en')} slaves`;
    for (const [c, button] of this.#headers) {
      button.dataset.active = c === column ? (descending ? 'desc' : 'asc') : '';
    }
    this.#spacer.style.height = `${rows.length * kRowHeight}px`;
    this.#render();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.#render();
    });
  }

  #render(): void {
    const viewport = this.#viewport;
    const { start, end, offset } = rowWindow(
      viewport.scrollTop,
      viewport.clientHeight,
      kRowHeight,
      this.#rows.length,
    );
    const body = this.#body;
    body.style.transform = `translateY(${offset}px)`;
    while (body.children.length < end - start) body.append(makeRow());
    while (body.children.length > end - start) body.lastElementChild!.remove();
    for (let i = start; i < end; i++) {
      const row = this.#rows[i]!;
      const element = body.children[i - start] as HTMLElement;
      element.dataset.index = String(i);
      element.dataset.health = row.health;
      const cells = element.children;
      set(cells[0]!, row.slave.name);
      set(cells[1]!, row.slave.address);
      set(cells[2]!, kHealthLabels[row.health]);
      set(cells[3]!, row.health === 'pending' ? '–' : formatSeconds(row.age));
      set(cells[4]!, String(row.tasks));
    }
  }
}

function makeRow(): HTMLElement {
  const row = document.createElement('div');
  row.className = 'table-row';
  for (const column of kColumns) {
    const cell = document.createElement('span');
    cell.className = `cell cell-${column}`;
    row.append(cell);
  }
  return row;
}

function set(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
