/** Checks on a run folder that hold whatever stage wrote it: no temp files, every manifest vouches for its file. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { duckdbQuery, sqlString } from './duckdb.js';

/** Every file under `dir` (recursive), relative paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true, encoding: 'utf8' });
  const out: string[] = [];
  for (const name of names) if ((await stat(join(dir, name))).isFile()) out.push(name);
  return out.sort();
}

/** Temporary files (names from src/util/fs.ts tempPathFor: ".<name>.<pid>.tmp") anywhere under `dir`. */
export async function tempFiles(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((f) => /(^|\/)\..*\.tmp$/.test(f));
}

export interface ManifestCheck {
  table: string;
  part: number;
  parts: number;
  rows: number;
  problems: string[];
}

/**
 * For each manifest in `<runDir>/<table>/`: the Parquet file exists with the recorded size and
 * sha256 (hashed here, independently of the runner), and DuckDB counts the recorded rows.
 */
export async function checkManifests(runDir: string, table: string): Promise<ManifestCheck[]> {
  const dir = join(runDir, table);
  const out: ManifestCheck[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const match = /^part-(\d{5})-of-(\d{5})\.json$/.exec(name);
    if (!match) continue;
    const manifest = JSON.parse(await readFile(join(dir, name), 'utf8')) as { rows: number; bytes: number; sha256: string; part: number; parts: number };
    const file = join(dir, name.replace(/\.json$/, '.parquet'));
    const problems: string[] = [];
    try {
      const bytes = await readFile(file);
      if (bytes.length !== manifest.bytes) problems.push(`size ${bytes.length} != manifest ${manifest.bytes}`);
      const hash = createHash('sha256').update(bytes).digest('hex');
      if (hash !== manifest.sha256) problems.push(`sha256 differs from manifest`);
      const [{ n }] = (await duckdbQuery(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlString(file)})`)) as [{ n: number }];
      if (n !== manifest.rows) problems.push(`DuckDB counts ${n} rows, manifest says ${manifest.rows}`);
    } catch (err) {
      problems.push(`cannot check ${file}: ${(err as Error).message}`);
    }
    if (manifest.part !== Number(match[1]) || manifest.parts !== Number(match[2])) problems.push('part numbers differ from the file name');
    out.push({ table, part: manifest.part, parts: manifest.parts, rows: manifest.rows, problems });
  }
  return out;
}
