/**
 * Joins tables of one part by sample_id without holding a part in memory. Every table of a run
 * lists its questions in the order of `samples` (a stage keeps its input's order), and may skip
 * some; so a reader walks `samples` once and each other table's cursor hands out the group whose
 * sample_id is at its head, or nothing when that question is absent from it.
 */
import type { Row } from '../io/schema.js';
import { VrdataError } from '../util/errors.js';

/** Groups of consecutive rows with one sample_id, taken in samples order. */
export class GroupCursor {
  private readonly iterator: AsyncIterator<Row[]>;
  private buffer: Row[] = [];
  private index = 0;
  private ended = false;

  constructor(batches: AsyncIterable<Row[]>, private readonly table: string) {
    this.iterator = batches[Symbol.asyncIterator]();
  }

  private async head(): Promise<Row | undefined> {
    while (this.index >= this.buffer.length) {
      if (this.ended) return undefined;
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return undefined;
      }
      this.buffer = next.value;
      this.index = 0;
    }
    return this.buffer[this.index];
  }

  /** The rows of `sampleId` if they are next in this table, else [] (the question is not in it). */
  async take(sampleId: string): Promise<Row[]> {
    const out: Row[] = [];
    for (;;) {
      const row = await this.head();
      if (!row || row.sample_id !== sampleId) return out;
      out.push(row);
      this.index++;
    }
  }

  /** Throws when rows are left: their sample_id is not in samples, or the table is out of order. */
  async finish(): Promise<void> {
    const row = await this.head();
    if (row) {
      throw new VrdataError(
        'pipeline',
        `table "${this.table}" has rows for sample_id ${String(row.sample_id)} that are not in the samples of this part, or are out of samples order; rebuild it from the current samples (delete its folder and rerun)`,
      );
    }
  }
}

/** Splits a list into chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
