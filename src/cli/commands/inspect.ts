/**
 * `vrdata inspect <file.parquet | folder>`: schema, rows, row groups, bytes, per-column statistics
 * and the first rows of a Parquet file, or of all part-*.parquet files of a stage's folder.
 * Streams row group by row group, so memory stays bounded whatever the file's size.
 */
import type { CommandModule } from 'yargs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readInfo, readRows, type ParquetInfo } from '../../io/parquet.js';
import { StatsCollector, preview, type ColumnStats, type Range } from '../../io/parquet-stats.js';
import type { Row } from '../../io/schema.js';
import { VrdataError, usageError } from '../../util/errors.js';

interface InspectArgs {
  path: string;
  json: boolean;
  head: number;
  width: number;
}

/** Everything `inspect` finds; this is also the --json output. */
export interface InspectResult {
  path: string;
  files: string[];
  rows: number;
  rowGroups: number;
  bytes: number;
  createdBy?: string;
  columns: { name: string; type: string; nullable: boolean; stats: ColumnStats }[];
  head: Row[];
}

/** The Parquet files behind a path: the file itself, or a folder's part-*.parquet files in name order. */
export async function parquetFiles(path: string): Promise<string[]> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new VrdataError('inspect', `${path} does not exist; give a .parquet file or a stage folder of part-*.parquet files`);
  }
  if (!st.isDirectory()) return [path];
  const files = (await readdir(path)).filter((f) => /^part-.*\.parquet$/.test(f)).sort().map((f) => join(path, f));
  if (files.length === 0) throw new VrdataError('inspect', `${path} has no part-*.parquet files; give a .parquet file or a stage's output folder`);
  return files;
}

/** Reads the footers, checks that all parts share one schema, then streams every row for statistics. */
export async function inspect(path: string, options: { head?: number; width?: number } = {}): Promise<InspectResult> {
  const files = await parquetFiles(path);
  const infos: ParquetInfo[] = [];
  for (const f of files) infos.push(await readInfo(f));
  const shape = (i: ParquetInfo) => i.columns.map((c) => `${c.name}: ${c.type}`).join(', ');
  for (let k = 1; k < infos.length; k++) {
    if (shape(infos[k]) !== shape(infos[0])) {
      throw new VrdataError('inspect', `${files[k]} has columns (${shape(infos[k])}) but ${files[0]} has (${shape(infos[0])}); the folder mixes outputs of different stage versions: rerun the stage`);
    }
  }
  const names = infos[0].columns.map((c) => c.name);
  const stats = new StatsCollector(names);
  const head: Row[] = [];
  const wanted = options.head ?? 5;
  for (const f of files) {
    for await (const rows of readRows(f)) {
      stats.add(rows);
      for (const r of rows) {
        if (head.length >= wanted) break;
        head.push(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, preview(v, options.width)])));
      }
    }
  }
  const colStats = stats.result();
  return {
    path,
    files,
    rows: infos.reduce((a, i) => a + i.rows, 0),
    rowGroups: infos.reduce((a, i) => a + i.rowGroups, 0),
    bytes: infos.reduce((a, i) => a + i.bytes, 0),
    createdBy: infos[0].createdBy,
    columns: infos[0].columns.map((c, k) => ({ ...c, stats: colStats[k] })),
    head,
  };
}

function num(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(3) : x.toFixed(3);
}

function range(r: Range): string {
  return `${num(r.min)} / ${num(r.mean)} / ${num(r.max)}`;
}

function bytesText(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

/** The human-readable report. */
export function renderInspect(r: InspectResult): string {
  const lines: string[] = [];
  const parts = r.files.length > 1 ? ` (${r.files.length} parts)` : '';
  lines.push(`${r.path}${parts}`);
  lines.push(`rows ${r.rows}, row groups ${r.rowGroups}, ${bytesText(r.bytes)}${r.createdBy ? `, written by ${r.createdBy}` : ''}`);
  lines.push('');
  const table = [['column', 'type', 'nulls', 'min / mean / max']];
  for (const c of r.columns) {
    const s = c.stats;
    const bits: string[] = [];
    if (s.values) bits.push(range(s.values));
    if (s.nan) bits.push(`${s.nan} NaN`);
    if (s.length) bits.push(`length ${range(s.length)}`);
    if (s.trueCount !== undefined) bits.push(`${s.trueCount} true of ${s.count - s.nulls}`);
    table.push([c.name, c.type + (c.nullable ? '?' : ''), String(s.nulls), bits.join('; ')]);
  }
  const w = [0, 1, 2].map((k) => Math.max(...table.map((row) => row[k].length)));
  for (const row of table) lines.push(`${row[0].padEnd(w[0])}  ${row[1].padEnd(w[1])}  ${row[2].padStart(w[2])}  ${row[3]}`.trimEnd());
  if (r.head.length > 0) {
    lines.push('', `first ${r.head.length} row${r.head.length > 1 ? 's' : ''}:`);
    for (const row of r.head) lines.push(JSON.stringify(row));
  }
  return `${lines.join('\n')}\n`;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <path>',
  describe: 'Show the schema, size, per-column statistics and first rows of a Parquet file or a stage folder',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'a .parquet file, or a folder of part-*.parquet files (statistics over all parts)' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of text' })
      .option('head', { type: 'number', default: 5, describe: 'how many first rows to show (0 for none)' })
      .option('width', { type: 'number', default: 60, describe: 'cut strings longer than this many characters in the rows shown' })
      .example('$0 inspect runs/demo/scores', 'statistics over every part of the score stage')
      .example('$0 inspect train.parquet --head 2 --json', 'machine-readable summary'),
  handler: async (args) => {
    if (!Number.isInteger(args.head) || args.head < 0) throw usageError('inspect', `--head must be a whole number >= 0, got ${args.head}`);
    if (!Number.isInteger(args.width) || args.width < 1) throw usageError('inspect', `--width must be a whole number >= 1, got ${args.width}`);
    const result = await inspect(args.path, { head: args.head, width: args.width });
    // JSON has no NaN/Infinity: write them as strings rather than as a misleading null
    const json = () => JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
    process.stdout.write(args.json ? `${json()}\n` : renderInspect(result));
  },
};
