/**
 * Manifests: the only proof that a part is finished. Written last, after the Parquet file has been
 * fsynced and renamed into place; a part is done when its manifest exists, its fingerprint is the
 * current one and the file it names has the recorded size and hash.
 */
import { readFile, stat, readdir } from 'node:fs/promises';
import { manifestPath, partPath, tableDir, PART_FILE } from './layout.js';
import { writeFileAtomic } from '../util/fs.js';
import { sha256File } from '../util/hash.js';
import { VrdataError } from '../util/errors.js';

export interface Manifest {
  table: string;
  stage: string;
  stage_version: number;
  part: number;
  parts: number;
  rows: number;
  bytes: number;
  sha256: string;
  fingerprint: string;
  params: Record<string, unknown>;
  inputs: { table: string; part: number; sha256: string }[];
  engines: Record<string, string>;
  vrdata_version: string;
  started_at: string;
  finished_at: string;
  seconds: number;
}

export async function readManifest(runDir: string, table: string, part: number, parts: number): Promise<Manifest | undefined> {
  const path = manifestPath(runDir, table, part, parts);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch {
    return undefined; // a manifest is written atomically; an unreadable one means "not done"
  }
}

export async function writeManifest(runDir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(
    manifestPath(runDir, manifest.table, manifest.part, manifest.parts),
    `${JSON.stringify(manifest, null, 2)}\n`,
  );
}

/** True when the part's manifest matches `fingerprint` and its file is intact. */
export async function isPartDone(
  runDir: string,
  table: string,
  part: number,
  parts: number,
  fingerprint: string,
  options: { verifyHash?: boolean } = {},
): Promise<boolean> {
  const manifest = await readManifest(runDir, table, part, parts);
  if (!manifest || manifest.fingerprint !== fingerprint) return false;
  const path = partPath(runDir, table, part, parts);
  try {
    const info = await stat(path);
    if (info.size !== manifest.bytes) return false;
  } catch {
    return false;
  }
  if (options.verifyHash !== false && (await sha256File(path)) !== manifest.sha256) return false;
  return true;
}

/** The finished parts of a table, as their manifests say. Refuses a folder that mixes part counts. */
export async function listManifests(runDir: string, table: string): Promise<Manifest[]> {
  let names: string[];
  try {
    names = await readdir(tableDir(runDir, table));
  } catch {
    return [];
  }
  const out: Manifest[] = [];
  for (const name of names.sort()) {
    const match = PART_FILE.exec(name);
    if (!match) continue;
    const manifest = await readManifest(runDir, table, Number(match[1]), Number(match[2]));
    if (manifest) out.push(manifest);
  }
  const counts = new Set(out.map((m) => m.parts));
  if (counts.size > 1) {
    throw new VrdataError(
      'pipeline',
      `table ${table} in ${runDir} mixes part counts (${[...counts].join(', ')}): it was written with different --parts. ` +
        `Delete the folder ${tableDir(runDir, table)} and rerun the stage that writes it.`,
    );
  }
  return out;
}
