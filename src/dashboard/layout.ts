/** Geometry of the page's two big views, pure: the heat map's grid and the virtual table's window. */

/** Which rows of a long list a scrolled viewport shows: the virtual table renders only these. Pure. */
export interface RowWindow {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Pixels from the list's top to the first rendered row. */
  offset: number;
}

export function rowWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  rowCount: number,
  overscan = 8,
): RowWindow {
  if (rowCount <= 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0 };
  const top = Math.max(0, Math.min(scrollTop, rowCount * rowHeight - viewportHeight));
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(rowCount, first + visible + overscan);
  return { start, end, offset: start * rowHeight };
}

/** Largest height the map takes before its cells shrink, in CSS pixels. */
const kMaxHeight = 260;

export interface HeatmapLayout {
  cell: number;
  columns: number;
  rows: number;
}

/** Cell size and grid for `count` cells in `width` CSS pixels. Pure. */
export function heatmapLayout(count: number, width: number, maxHeight = kMaxHeight): HeatmapLayout {
  const n = Math.max(1, count);
  const w = Math.max(1, width);
  const cell = Math.max(4, Math.min(28, Math.floor(Math.sqrt((w * maxHeight) / n))));
  const columns = Math.max(1, Math.floor(w / cell));
  return { cell, columns, rows: Math.ceil(count / columns) };
}
