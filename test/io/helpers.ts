/** Shared helpers for the Parquet tests: temp folders and DuckDB as the independent oracle. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** A fresh temp folder; remove it with the returned function. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-io-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs SQL on a fresh in-memory DuckDB (one thread) and returns its rows as JS objects. */
export async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    const reader = await con.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** Runs SQL statements for their effect (e.g. COPY … TO) on a fresh in-memory DuckDB. */
export async function duckRun(sql: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    await con.run(sql);
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** One canonical JS form for comparing vrdata's values with DuckDB's (one definition, in test/helpers). */
export { canon } from '../helpers/duckdb.js';
