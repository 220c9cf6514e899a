/**
 * Runs one stage over a run folder with exactly-once semantics per part:
 * inputs are read by part, outputs are written to temporary names, fsynced and renamed, and the
 * manifests are written last. A part whose manifests match the current fingerprint is skipped;
 * every other part is redone from scratch (its model calls come back from the journal).
 */
import { mkdir, rm, appendFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Row, Schema } from '../io/schema.js';
import { ParquetWriter, readRows } from '../io/parquet.js';
import type { Engine } from '../engines/types.js';
import type { StageDefinition, StageContext } from './stage.js';
import { fingerprintParams } from './params.js';
import { partOf, partsForShard } from './partition.js';
import { partPath, partName, tableDir, logPath, journalPath, manifestPath } from './layout.js';
import { isPartDone, listManifests, writeManifest, type Manifest } from './manifest.js';
import { renameDurable, tempPathFor } from '../util/fs.js';
import { sha256, stableStringify } from '../util/hash.js';
import { Progress } from '../util/progress.js';
import { VrdataError } from '../util/errors.js';
import { VRDATA_VERSION } from '../version.js';

/** An engine bound to a role: `id` goes into fingerprints, `open` loads it on first use. */
export interface EngineBinding {
  id: string;
  open(): Promise<Engine>;
}

/** Wraps an engine so its calls are journaled at `path` (set by the engines module). */
export type JournalWrapper = (engine: Engine, path: string) => Promise<{ engine: Engine; close(): Promise<void> }>;

export interface RunStageOptions {
  runDir: string;
  stage: StageDefinition<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Instance id in the pipeline (defaults to the stage name); names logs and journals. */
  id?: string;
  params: Record<string, unknown>;
  /** Hash partitions of the run (same for every table of a run). */
  parts: number;
  shard?: { index: number; count: number };
  /** Logical table name -> folder name in the run (defaults to the logical name). */
  tables?: Record<string, string>;
  engines?: Record<string, EngineBinding>;
  journal?: JournalWrapper;
  /** Re-hash finished files before trusting them (default true). */
  verifyHashes?: boolean;
  quiet?: boolean;
}

export interface RunStageResult {
  stage: string;
  partsRun: number[];
  partsSkipped: number[];
  rows: Record<string, number>;
  seconds: number;
}

/** Runs (or resumes) a stage. Throws VrdataError naming the missing input part when upstream is unfinished. */
export async function runStage(options: RunStageOptions): Promise<RunStageResult> {
  const { runDir, stage } = options;
  const params = resolveRunPaths(options.params, stage, runDir);
  const id = options.id ?? stage.name;
  const started = Date.now();
  const tableName = (logical: string) => options.tables?.[logical] ?? logical;
  const parts = stage.scope === 'all' ? 1 : options.parts;
  const assigned = partsForShard(parts, options.shard ?? { index: 0, count: 1 });
  const engines = options.engines ?? {};
  for (const role of Object.keys(stage.engines ?? {})) {
    if (!engines[role]) {
      throw new VrdataError('pipeline', `stage ${id} needs an engine for role "${role}" (${stage.engines?.[role]}). Give one in the pipeline's engines or with --${role}-model.`, { exitCode: 2 });
    }
  }
  const baseFingerprint = sha256(
    stableStringify({
      stage: stage.name,
      version: stage.version,
      params: fingerprintParams(stage.params, params),
      extra: stage.fingerprintExtra ? await stage.fingerprintExtra(params) : '',
      engines: Object.fromEntries(Object.keys(stage.engines ?? {}).map((role) => [role, engines[role]!.id])),
      parts,
    }),
  );
  await mkdir(dirname(logPath(runDir, id)), { recursive: true });
  const log = async (message: string) => {
    await appendFile(logPath(runDir, id), `${new Date().toISOString()} ${message}\n`);
  };
  await log(`start stage=${stage.name} version=${stage.version} parts=${assigned.join(',')}/${parts} params=${JSON.stringify(params)}`);

  // Inputs: which parts of each input table feed which part of this stage.
  const inputs = await planInputs(runDir, stage, parts, tableName);
  const fingerprintOf = (part: number) =>
    sha256(stableStringify({ base: baseFingerprint, part, inputs: inputHashes(inputs, part) }));

  const outputs = Object.keys(stage.outputs);
  for (const table of outputs) await removeStrayPartTemps(tableDir(runDir, tableName(table)), assigned, parts);
  const pending: number[] = [];
  const skipped: number[] = [];
  for (const part of assigned) {
    let done = true;
    for (const table of outputs) {
      if (!(await isPartDone(runDir, tableName(table), part, parts, fingerprintOf(part), { verifyHash: options.verifyHashes }))) {
        done = false;
        break;
      }
    }
    (done ? skipped : pending).push(part);
  }

  const progress = new Progress({ label: id, quiet: options.quiet });
  const rows: Record<string, number> = Object.fromEntries(outputs.map((t) => [t, 0]));
  const openEngines = new Map<string, Promise<Engine>>();
  const baseEngine = (role: string) => {
    if (!openEngines.has(role)) openEngines.set(role, engines[role]!.open());
    return openEngines.get(role)!;
  };

  try {
    if (pending.length > 0 && Object.keys(stage.inputs).length === 0) {
      // A source stage produces rows for every part in one pass; route them by sample_id.
      await runParts({ ...options, params, id, parts, tableName, fingerprintOf, inputs, pendingParts: pending, rows, progress, baseEngine, log });
    } else {
      for (const part of pending) {
        await runParts({ ...options, params, id, parts, tableName, fingerprintOf, inputs, pendingParts: [part], rows, progress, baseEngine, log });
      }
    }
  } finally {
    progress.stop();
    for (const engine of openEngines.values()) await (await engine).close().catch(() => undefined);
  }
  const seconds = (Date.now() - started) / 1000;
  await log(`done parts_run=${pending.join(',') || '-'} parts_skipped=${skipped.join(',') || '-'} rows=${JSON.stringify(rows)} seconds=${seconds.toFixed(2)}`);
  return { stage: id, partsRun: pending, partsSkipped: skipped, rows, seconds };
}

/** `run:x` in a path parameter names x inside the run folder. */
export function resolveRunPath(value: string, runDir: string): string {
  return value.startsWith('run:') ? join(runDir, value.slice(4)) : value;
}

function resolveRunPaths(
  params: Record<string, unknown>,
  stage: StageDefinition<any>, // eslint-disable-line @typescript-eslint/no-explicit-any
  runDir: string,
): Record<string, unknown> {
  const out = { ...params };
  for (const [key, spec] of Object.entries(stage.params)) {
    if (!spec.path) continue;
    const value = out[key];
    if (typeof value === 'string') out[key] = resolveRunPath(value, runDir);
    else if (Array.isArray(value)) out[key] = value.map((v) => (typeof v === 'string' ? resolveRunPath(v, runDir) : v));
  }
  return out;
}

interface InputPlan {
  table: string;
  logical: string;
  columns: readonly string[];
  /** Every finished part of the input table. */
  manifests: Manifest[];
  /** True when the input has the same part count, so part p reads only part p. */
  aligned: boolean;
}

async function planInputs(
  runDir: string,
  stage: StageDefinition<any>, // eslint-disable-line @typescript-eslint/no-explicit-any
  parts: number,
  tableName: (logical: string) => string,
): Promise<InputPlan[]> {
  const plans: InputPlan[] = [];
  for (const [logical, columns] of Object.entries(stage.inputs)) {
    const table = tableName(logical);
    const manifests = await listManifests(runDir, table);
    if (manifests.length === 0) {
      throw new VrdataError('pipeline', `stage ${stage.name} reads table "${table}", which has no finished part in ${runDir}. Run the stage that writes it first (vrdata run runs them in order).`);
    }
    const inputParts = manifests[0]!.parts;
    if (manifests.length < inputParts) {
      const have = new Set(manifests.map((m) => m.part));
      const missing = [...Array(inputParts).keys()].filter((p) => !have.has(p));
      throw new VrdataError('pipeline', `stage ${stage.name} reads table "${table}", whose parts ${missing.join(', ')} of ${inputParts} are not finished. Finish the stage that writes it (every --shard) first.`);
    }
    plans.push({ table, logical, columns, manifests, aligned: inputParts === parts });
  }
  return plans;
}

function inputHashes(inputs: InputPlan[], part: number): { table: string; part: number; sha256: string }[] {
  const out: { table: string; part: number; sha256: string }[] = [];
  for (const input of inputs) {
    for (const m of input.manifests) {
      if (!input.aligned || m.part === part) out.push({ table: input.table, part: m.part, sha256: m.sha256 });
    }
  }
  return out;
}

interface PartRun extends RunStageOptions {
  id: string;
  parts: number;
  tableName: (logical: string) => string;
  fingerprintOf: (part: number) => string;
  inputs: InputPlan[];
  pendingParts: number[];
  rows: Record<string, number>;
  progress: Progress;
  baseEngine: (role: string) => Promise<Engine>;
  log: (message: string) => Promise<void>;
}

/** Runs the stage once, writing the given parts; commits them only if the whole run succeeds. */
async function runParts(run: PartRun): Promise<void> {
  const { runDir, stage, parts, pendingParts, tableName } = run;
  const startedAt = new Date();
  const writers = new Map<string, { writer: ParquetWriter; tmp: string; final: string; rows: number }>();
  const outputs = Object.entries(stage.outputs) as [string, Schema][];
  for (const [table] of outputs) {
    const dir = tableDir(runDir, tableName(table));
    await mkdir(dir, { recursive: true });
    for (const part of pendingParts) {
      // An old manifest must never vouch for the file we are about to replace; removed first, so a
      // crash between the two removals leaves a bare file, which is never taken as finished.
      await rm(manifestPath(runDir, tableName(table), part, parts), { force: true });
      // The stale file goes too: if this run fails, nothing of the old result lingers beside the new
      // inputs for a reader that globs *.parquet without looking at manifests.
      await rm(partPath(runDir, tableName(table), part, parts), { force: true });
    }
  }
  const key = (table: string, part: number) => `${table}\u0000${part}`;
  for (const [table, schema] of outputs) {
    for (const part of pendingParts) {
      const final = partPath(runDir, tableName(table), part, parts);
      const tmp = tempPathFor(final);
      writers.set(key(table, part), { writer: await ParquetWriter.open(tmp, { schema }), tmp, final, rows: 0 });
    }
  }
  const single = pendingParts.length === 1 ? pendingParts[0]! : undefined;
  const routed = new Set(pendingParts);
  const journals: { close(): Promise<void> }[] = [];
  const journaledEngines = new Map<string, Promise<Engine>>();

  const context: StageContext<Record<string, unknown>> = {
    params: run.params,
    stageId: run.id,
    part: single ?? -1,
    parts,
    runDir,
    tableName,
    read: (logical, options) => readInput(run, logical, single ?? 0, options?.columns),
    write: async (table, rows) => {
      if (!(table in stage.outputs)) {
        throw new VrdataError('pipeline', `stage ${stage.name} wrote to table "${table}", which it does not declare in outputs.`);
      }
      if (single !== undefined && Object.keys(stage.inputs).length > 0) {
        const entry = writers.get(key(table, single))!;
        await entry.writer.write(rows);
        entry.rows += rows.length;
        return;
      }
      // Source stage: route each row to its part; parts already done drop their rows (deterministic output).
      const byPart = new Map<number, Row[]>();
      for (const row of rows) {
        const part = partOf(String(row.sample_id ?? ''), parts);
        if (!routed.has(part)) continue;
        let list = byPart.get(part);
        if (!list) byPart.set(part, (list = []));
        list.push(row);
      }
      for (const [part, list] of byPart) {
        const entry = writers.get(key(table, part))!;
        await entry.writer.write(list);
        entry.rows += list.length;
      }
    },
    engine: (role) => {
      if (!journaledEngines.has(role)) {
        journaledEngines.set(
          role,
          (async () => {
            const engine = await run.baseEngine(role);
            if (!run.journal) return engine;
            const path = journalPath(runDir, run.id, single ?? 0, parts);
            await mkdir(dirname(path), { recursive: true });
            const wrapped = await run.journal(engine, path);
            journals.push(wrapped);
            return wrapped.engine;
          })(),
        );
      }
      return journaledEngines.get(role)!;
    },
    progress: { setTotal: (n) => run.progress.addTotal(n), tick: (n, kind) => run.progress.tick(n, kind) },
    log: (message) => void run.log(`part=${single ?? 'all'} ${message}`),
  };

  try {
    await stage.run(context);
  } catch (err) {
    for (const entry of writers.values()) await entry.writer.abort().catch(() => undefined);
    throw err;
  } finally {
    for (const journal of journals) await journal.close().catch(() => undefined);
  }

  // Commit: close + fsync every file, rename them all into place, then write the manifests.
  const closed: { table: string; part: number; info: { rows: number; bytes: number; sha256: string } }[] = [];
  for (const [table] of outputs) {
    for (const part of pendingParts) {
      const entry = writers.get(key(table, part))!;
      const info = await entry.writer.close();
      closed.push({ table, part, info });
    }
  }
  for (const { table, part } of closed) {
    const entry = writers.get(key(table, part))!;
    await renameDurable(entry.tmp, entry.final);
  }
  const finishedAt = new Date();
  for (const { table, part, info } of closed) {
    await writeManifest(runDir, {
      table: tableName(table),
      stage: stage.name,
      stage_version: stage.version,
      part,
      parts,
      rows: info.rows,
      bytes: info.bytes,
      sha256: info.sha256,
      fingerprint: run.fingerprintOf(part),
      params: run.params,
      inputs: inputHashes(run.inputs, part),
      engines: Object.fromEntries(Object.entries(run.engines ?? {}).map(([role, binding]) => [role, binding.id])),
      vrdata_version: VRDATA_VERSION,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      seconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    });
    run.rows[table] = (run.rows[table] ?? 0) + info.rows;
    await run.log(`part ${part}/${parts} table=${tableName(table)} rows=${info.rows} bytes=${info.bytes}`);
  }
}

/**
 * Removes temporary files (src/util/fs.ts tempPathFor: ".<name>.<pid>.tmp") of the given parts only:
 * under --shard, other machines may be writing their own parts' temps in the same folder right now.
 */
async function removeStrayPartTemps(dir: string, partList: number[], parts: number): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const prefixes = partList.map((part) => `.${partName(part, parts)}.`);
  for (const name of names) {
    if (name.endsWith('.tmp') && prefixes.some((prefix) => name.startsWith(prefix))) await rm(join(dir, name), { force: true });
  }
}

async function* readInput(run: PartRun, logical: string, part: number, columns?: string[]): AsyncGenerator<Row[]> {
  const input = run.inputs.find((i) => i.logical === logical);
  if (!input) {
    throw new VrdataError('pipeline', `stage ${run.stage.name} read table "${logical}", which it does not declare in inputs.`);
  }
  const wanted = columns ?? [...input.columns];
  const filterBySample = !input.aligned && run.parts > 1;
  const readColumns = filterBySample && !wanted.includes('sample_id') ? [...wanted, 'sample_id'] : wanted;
  for (const manifest of input.manifests) {
    if (input.aligned && manifest.part !== part) continue;
    const path = partPath(run.runDir, input.table, manifest.part, manifest.parts);
    for await (const batch of readRows(path, { columns: readColumns })) {
      yield filterBySample ? batch.filter((row) => partOf(String(row.sample_id), run.parts) === part) : batch;
    }
  }
}
