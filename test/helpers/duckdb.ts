/**
 * DuckDB as the independent oracle: tests read every Parquet output back with it, never with the
 * reader under test. Values come back canonical (bigint -> number, typed arrays -> arrays).
 */
import { DuckDBInstance } from '@duckdb/node-api';

// One in-memory instance per test process (creating one costs ~0.4 s on a busy machine), with
// Parquet metadata caching off so a file rewritten between queries is read afresh.
let shared: Promise<DuckDBInstance> | undefined;
async function instance(): Promise<DuckDBInstance> {
  shared ??= (async () => {
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const con = await db.connect();
    for (const setting of ['SET parquet_metadata_cache = false', 'SET enable_object_cache = false']) await con.run(setting).catch(() => undefined);
    con.closeSync();
    return db;
  })();
  return shared;
}

/** Runs one query (DuckDB, one thread, a fresh connection) and returns canonical rows. */
export async function duckdbQuery(sql: string): Promise<Record<string, unknown>[]> {
  const con = await (await instance()).connect();
  try {
    const reader = await con.runAndReadAll(sql);
    return (reader.getRowObjectsJS() as Record<string, unknown>[]).map((r) => canon(r) as Record<string, unknown>);
  } finally {
    con.closeSync();
  }
}

/** Runs statements for their effect (e.g. COPY … TO). */
export async function duckdbRun(sql: string): Promise<void> {
  const con = await (await instance()).connect();
  try {
    await con.run(sql);
  } finally {
    con.closeSync();
  }
}

/**
 * Rows of a Parquet file (or a glob of them) in stored order, as DuckDB reads them.
 * `orderBy` sorts instead; `columns` picks columns. Stored order across a glob follows file names.
 */
export async function duckdbRows(path: string, options: { columns?: string[]; orderBy?: string; where?: string } = {}): Promise<Record<string, unknown>[]> {
  const cols = options.columns?.map((c) => `"${c}"`).join(', ') ?? '* EXCLUDE (filename, file_row_number)';
  const order = options.orderBy ?? 'filename, file_row_number';
  const where = options.where ? ` WHERE ${options.where}` : '';
  return duckdbQuery(`SELECT ${cols} FROM read_parquet(${sqlString(path)}, filename = true, file_row_number = true)${where} ORDER BY ${order}`);
}

/** A SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** One canonical JS form for comparing values: typed arrays -> arrays, bigints -> numbers. */
export function canon(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, canon(x)]));
  return v;
}
