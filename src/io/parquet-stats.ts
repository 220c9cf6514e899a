/**
 * Per-column statistics over streamed rows (for `vrdata inspect`), in constant memory:
 * nulls; min/max/mean of numbers (NaN counted apart); min/mean/max length of strings and lists;
 * the share of true for booleans.
 */
import type { Row } from './schema.js';

/** Running min/mean/max of a quantity. */
export interface Range { min: number; mean: number; max: number }

/** What `inspect` reports for one column; fields are present only where they apply. */
export interface ColumnStats {
  name: string;
  count: number;
  nulls: number;
  values?: Range;
  nan?: number;
  length?: Range;
  trueCount?: number;
}

class Acc {
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  add(x: number): void {
    this.n++;
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }
  range(): Range | undefined {
    return this.n === 0 ? undefined : { min: this.min, mean: this.sum / this.n, max: this.max };
  }
}

/** Accumulates statistics of named columns over batches of rows. */
export class StatsCollector {
  private readonly cols: { name: string; count: number; nulls: number; nan: number; trues: number; bools: number; values: Acc; lengths: Acc }[];

  constructor(names: readonly string[]) {
    this.cols = names.map((name) => ({ name, count: 0, nulls: 0, nan: 0, trues: 0, bools: 0, values: new Acc(), lengths: new Acc() }));
  }

  /** Adds a batch; values of other columns are ignored. */
  add(rows: readonly Row[]): void {
    for (const c of this.cols) {
      for (const row of rows) {
        const v = row[c.name];
        c.count++;
        if (v === null || v === undefined) { c.nulls++; continue; }
        if (typeof v === 'number') {
          if (Number.isNaN(v)) c.nan++;
          else c.values.add(v);
        } else if (typeof v === 'string') {
          c.lengths.add(v.length);
        } else if (typeof v === 'boolean') {
          c.bools++;
          if (v) c.trues++;
        } else if (Array.isArray(v) || ArrayBuffer.isView(v)) {
          c.lengths.add((v as unknown as ArrayLike<unknown>).length);
        }
      }
    }
  }

  /** The statistics so far, one entry per column in the constructor's order. */
  result(): ColumnStats[] {
    return this.cols.map((c) => {
      const s: ColumnStats = { name: c.name, count: c.count, nulls: c.nulls };
      const values = c.values.range();
      if (values) s.values = values;
      if (c.nan > 0) s.nan = c.nan;
      const length = c.lengths.range();
      if (length) s.length = length;
      if (c.bools > 0) s.trueCount = c.trues;
      return s;
    });
  }
}

/** A short, JSON-safe form of a value for a preview: long strings and lists cut, typed arrays as arrays. */
export function preview(v: unknown, width = 60, items = 5): unknown {
  if (typeof v === 'string') return v.length > width ? `${v.slice(0, width)}… (${v.length} chars)` : v;
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const arr = Array.from(v as unknown as ArrayLike<unknown>);
    const head = arr.slice(0, items).map((x) => preview(x, width, items));
    return arr.length > items ? [...head, `… (${arr.length} items)`] : head;
  }
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, preview(x, width, items)]));
  }
  return v;
}
