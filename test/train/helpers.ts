// Shared fixtures of the trainer tests: a tiny seeded model folder and a small training set.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { initModelFolder, readModelFolder } from '../../src/model/folder.js';
import { ParquetWriter, type Row } from '../../src/io/parquet.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `vrdata-${prefix}-`));
}

/** A 2-layer Qwen3 (byte-level vocab, GQA) with seeded weights. */
export async function tinyModel(dir: string, o: { hidden?: number; layers?: number } = {}): Promise<string> {
  await initModelFolder({ out: dir, layers: o.layers ?? 2, hidden: o.hidden ?? 32, heads: 4, kvHeads: 2, seed: 1, initStd: 0.05, ropeTheta: 10000 });
  return dir;
}

/** Writes a training set with the stage's columns. */
export async function writeSet(path: string, rows: { prompt: string; response: string; weight: number }[]): Promise<string> {
  const w = await ParquetWriter.open(path, {
    schema: [
      { name: 'prompt', type: 'string' },
      { name: 'response', type: 'string' },
      { name: 'weight', type: 'float64' },
    ],
  });
  await w.write(rows as unknown as Row[]);
  await w.close();
  return path;
}

/** Short question/answer rows the model can memorise in a few dozen steps. */
export function arithmeticRows(n: number): { prompt: string; response: string; weight: number }[] {
  const rows = [];
  for (let i = 0; i < n; i++) {
    const a = (i * 7) % 10;
    const b = (i * 3 + 1) % 10;
    rows.push({ prompt: `Q: ${a}+${b}=? A:`, response: ` ${a + b}.`, weight: 1 });
  }
  return rows;
}

/** Asserts that two model folders hold bit-identical weights (a resumed run against an uninterrupted one). */
export async function assertSameWeights(expectedDir: string, actualDir: string): Promise<void> {
  const a = (await readModelFolder(expectedDir)).weights;
  const b = (await readModelFolder(actualDir)).weights;
  for (const [n, w] of a) assert.deepEqual(b.get(n), w, `${n} differs after resume`);
}
