/**
 * Reads a run folder into a ReportData: table stats from the part manifests, and the few
 * columns the plots need, streamed batch by batch so a large run is not held in memory (only
 * numbers are kept). A table that is missing or unreadable becomes a note, never a crash: the
 * report of a half-finished run is still useful.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { summarizeEval, type EvalOutcome } from '../eval/metrics.js';
import { readRows } from '../io/parquet.js';
import type { Row } from '../io/schema.js';
import { pipelinePath } from '../pipeline/layout.js';
import { describeError, VrdataError } from '../util/errors.js';
import type { EvalData, ReportData, RoundData, SelectedVsOriginal, TableStat, WeightsData } from './types.js';

const PARQUET_PART = /^part-(\d{5})-of-(\d{5})\.parquet$/;
const MANIFEST_PART = /^part-(\d{5})-of-(\d{5})\.json$/;
/** Folders of a run that are not tables. */
const NOT_TABLES = new Set(['logs', '_journal', 'models', 'model']);
/** Pipeline order, for tables whose manifests carry no start time. */
const ORDER = ['samples', 'quarantine', 'traces', 'scores', 'rollouts', 'verdicts', 'weights', 'mix', 'weighted', 'posterior_set'];

interface PartManifest {
  stage?: string;
  rows?: number;
  seconds?: number;
  started_at?: string;
  finished_at?: string;
}

interface TableFiles {
  stat: TableStat;
  /** Parquet parts that have a manifest (finished), in part order. */
  done: string[];
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** One table folder: which parts are finished (manifest present), rows and seconds from the manifests. */
async function scanTable(dir: string, table: string, notes: string[]): Promise<TableFiles | undefined> {
  const names = (await readdir(dir)).sort();
  const parquet = names.filter((n) => PARQUET_PART.test(n));
  const manifests = names.filter((n) => MANIFEST_PART.test(n));
  if (parquet.length === 0 && manifests.length === 0) return undefined;
  const declared = new Set([...parquet, ...manifests].map((n) => Number((PARQUET_PART.exec(n) ?? MANIFEST_PART.exec(n))?.[2])));
  const s: TableStat = { table, partsDone: 0, parts: Math.max(...declared), rows: 0, seconds: 0 };
  if (declared.size > 1) notes.push(`${table}: parts written with different part counts (${[...declared].join(', ')}); counts below add them all.`);
  const done: string[] = [];
  let first: number | undefined;
  let last: number | undefined;
  for (const name of manifests) {
    let m: PartManifest;
    try {
      m = JSON.parse(await readFile(join(dir, name), 'utf8')) as PartManifest;
    } catch (err) {
      notes.push(`${table}: manifest ${name} is unreadable (${describeError(err)}); that part counts as unfinished.`);
      continue;
    }
    const pq = name.replace(/\.json$/, '.parquet');
    if (parquet.includes(pq)) done.push(join(dir, pq));
    s.partsDone++;
    s.rows += Number(m.rows ?? 0);
    s.seconds += Number(m.seconds ?? 0);
    if (m.stage && !s.stage) s.stage = m.stage;
    const st = m.started_at ? Date.parse(m.started_at) : Number.NaN;
    const fin = m.finished_at ? Date.parse(m.finished_at) : Number.NaN;
    if (Number.isFinite(st)) first = first === undefined ? st : Math.min(first, st);
    if (Number.isFinite(fin)) last = last === undefined ? fin : Math.max(last, fin);
  }
  if (first !== undefined) s.startedAt = new Date(first).toISOString();
  if (first !== undefined && last !== undefined) s.wallSeconds = (last - first) / 1000;
  if (s.partsDone < s.parts) notes.push(`${table}: ${s.partsDone} of ${s.parts} parts finished; plots use the finished ones.`);
  return { stat: s, done };
}

/** Streams the given columns of a table's finished parts. */
async function* rowsOf(t: TableFiles, columns: string[]): AsyncGenerator<Row> {
  for (const path of t.done) for await (const batch of readRows(path, { columns })) yield* batch;
}

/** Runs a reader; a failure becomes a note naming the table, and the plot shows the note instead. */
async function guarded<T>(table: string, notes: string[], read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    notes.push(`${table}: could not read it (${describeError(err)}).`);
    return undefined;
  }
}

const key = (r: Row) => `${String(r.sample_id)}\u0000${Number(r.k)}`;

async function readWeights(t: TableFiles): Promise<{ data: WeightsData; selected: Set<string> }> {
  const data: WeightsData = { rho: [], acc: [], eligible: 0, ineligible: 0, selected: 0, questions: 0, estimators: {} };
  const selected = new Set<string>();
  const questions = new Set<string>();
  for await (const r of rowsOf(t, ['sample_id', 'k', 'estimator', 'eligible', 'acc', 'rho', 'selected'])) {
    questions.add(String(r.sample_id));
    if (r.eligible === true) {
      data.eligible++;
      data.rho.push(Number(r.rho));
    } else data.ineligible++;
    if (r.acc !== null && r.acc !== undefined) data.acc.push(Number(r.acc));
    if (r.selected === true) {
      data.selected++;
      selected.add(key(r));
    }
    const e = String(r.estimator);
    data.estimators[e] = (data.estimators[e] ?? 0) + 1;
  }
  data.questions = questions.size;
  return { data, selected };
}

/** The thought part of a generated trace: up to the first end-of-thought marker, begin marker dropped. */
export function thoughtOf(trace: string): string {
  const end = trace.indexOf('<|end_of');
  return (end >= 0 ? trace.slice(0, end) : trace).replace('<|begin_of_thought|>', '').trim();
}

/** Orders eval tables: "before"/"base" first, "after"/"final" last, numbers inside names compared as numbers. */
export function evalOrder(a: string, b: string): number {
  const rank = (n: string) => (/before|base|init/.test(n) ? 0 : /after|final/.test(n) ? 2 : 1);
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}

/** Collects everything the report shows from `runDir`. Throws only when the folder does not exist. */
export async function collectRun(runDir: string, options: { now?: Date } = {}): Promise<ReportData> {
  const dir = resolve(runDir);
  if (!(await isDir(dir))) {
    throw new VrdataError('report', `no run folder at ${runDir}; pass the folder a pipeline run wrote (e.g. runs/demo)`, { exitCode: 2 });
  }
  const notes: string[] = [];
  const found = new Map<string, TableFiles>();
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.') || NOT_TABLES.has(name) || !(await isDir(join(dir, name)))) continue;
    const t = await scanTable(join(dir, name), name, notes);
    if (t) found.set(name, t);
  }
  if (found.size === 0) notes.push(`No tables in ${dir} yet: run a pipeline into it first (vrdata run <pipeline.yaml>).`);
  const orderIndex = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : n.startsWith('eval') ? 100 : 50);
  const tables = [...found.values()].map((t) => t.stat);
  // timed tables in the order they started, then the unfinished ones in pipeline order
  const byStart = (a: TableStat, b: TableStat) => (a.startedAt ?? '\uffff').localeCompare(b.startedAt ?? '\uffff');
  tables.sort((a, b) => byStart(a, b) || orderIndex(a.table) - orderIndex(b.table) || a.table.localeCompare(b.table));

  const data: ReportData = { run: basename(dir), runDir: dir, generatedAt: (options.now ?? new Date()).toISOString(), tables, evals: [], notes };
  try {
    data.pipelineYaml = await readFile(pipelinePath(dir), 'utf8');
  } catch {
    // a run made stage by stage has no pipeline.yaml; nothing to show
  }

  const weightsT = found.get('weights');
  const w = weightsT && (await guarded('weights', notes, () => readWeights(weightsT)));
  if (w) data.weights = w.data;

  const tracesT = found.get('traces');
  if (tracesT) {
    const read = await guarded('traces', notes, async () => {
      const tokens: number[] = [];
      const selected: number[] = [];
      for await (const r of rowsOf(tracesT, ['sample_id', 'k', 'tokens', 'trace'])) {
        tokens.push(Number(r.tokens));
        if (w?.selected.has(key(r))) selected.push(thoughtOf(String(r.trace)).length);
      }
      return { tokens, selected };
    });
    if (read) {
      data.traceTokens = read.tokens;
      if (w) data.selectedVsOriginal = { selected: read.selected, original: [] };
    }
  }
  const samplesT = found.get('samples');
  if (samplesT && data.selectedVsOriginal) {
    const svo: SelectedVsOriginal = data.selectedVsOriginal;
    await guarded('samples', notes, async () => {
      for await (const r of rowsOf(samplesT, ['reference_thought'])) {
        if (typeof r.reference_thought === 'string') svo.original.push(r.reference_thought.trim().length);
      }
    });
  }

  const verdictsT = found.get('verdicts');
  if (verdictsT) {
    data.verdicts = await guarded('verdicts', notes, async () => {
      let total = 0;
      let correct = 0;
      for await (const r of rowsOf(verdictsT, ['correct'])) {
        total++;
        if (r.correct === true) correct++;
      }
      return { total, correct };
    });
  }

  data.evals = await collectEvals(found, notes);
  const rounds = await collectRounds(dir, data.evals, notes);
  if (rounds) data.rounds = rounds;
  return data;
}

/** The eval tables among `found` (those the eval stage wrote, e.g. eval_before, eval_after), in before -> after order. */
async function collectEvals(found: Map<string, TableFiles>, notes: string[]): Promise<EvalData[]> {
  // an eval table is one the eval stage wrote, not an eval set's samples
  const isEval = (t: TableFiles) => (t.stat.stage ? t.stat.stage === 'eval' : /^eval/.test(t.stat.table));
  const out: EvalData[] = [];
  for (const name of [...found.keys()].filter((n) => isEval(found.get(n) as TableFiles)).sort(evalOrder)) {
    const t = found.get(name) as TableFiles;
    const e = await guarded(name, notes, async (): Promise<EvalData> => {
      const rows: EvalOutcome[] = [];
      for await (const r of rowsOf(t, ['sample_id', 'source', 'correct'])) rows.push({ sample_id: String(r.sample_id), source: String(r.source), correct: r.correct === true });
      const minSamples = summarizeEval(rows).overall.minSamples;
      const ks = [1, 2, 4, 8, 16, 32, 64, 128, 256].filter((k) => k === 1 || k <= minSamples);
      return { table: name, report: summarizeEval(rows, { ks }) };
    });
    if (e) out.push(e);
  }
  return out;
}

const ROUND_DIR = /^round-(\d+)$/;

/**
 * Eval accuracy per round of a multi-round (variational EM) run: round 1 is the run folder itself
 * (its evals are passed in), round r > 1 is <run>/round-r. Undefined for a run without round folders.
 */
export async function collectRounds(dir: string, roundOneEvals: EvalData[], notes: string[]): Promise<RoundData[] | undefined> {
  const later = (await readdir(dir))
    .map((name) => ({ name, match: ROUND_DIR.exec(name) }))
    .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
    .map((x) => ({ name: x.name, round: Number(x.match[1]) }))
    .sort((a, b) => a.round - b.round);
  if (later.length === 0) return undefined;
  const summary = (evals: EvalData[]) =>
    evals.map((e) => ({ table: e.table, accuracy: e.report.overall.accuracy, stderr: e.report.overall.stderr, questions: e.report.overall.questions }));
  const out: RoundData[] = [{ round: 1, evals: summary(roundOneEvals) }];
  for (const { name, round } of later) {
    const roundNotes: string[] = [];
    const found = new Map<string, TableFiles>();
    for (const table of (await readdir(join(dir, name))).sort()) {
      if (table.startsWith('.') || NOT_TABLES.has(table) || !(await isDir(join(dir, name, table)))) continue;
      const t = await scanTable(join(dir, name, table), table, roundNotes);
      if (t) found.set(table, t);
    }
    out.push({ round, evals: summary(await collectEvals(found, roundNotes)) });
    notes.push(...roundNotes.map((n) => `round ${round}: ${n}`));
  }
  return out;
}
