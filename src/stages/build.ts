/**
 * build — the training sets (DESIGN.md "Training sets"), one Parquet file each so that
 * LLaMA-Factory can load it by name (scope 'all': every part is read, streamed by question).
 *
 * `build`:      mix + weighted from samples, traces, weights, rollouts and verdicts (any estimator)
 * `build_lik`:  the same without rollouts/verdicts (for weigh_lik's GML or L weights)
 * `build_posterior`: the posterior (forward-KL) set from prior_sample's rollouts and their verdicts
 *
 * Every set has TRAINING_SET's columns (prompt/response for LLaMA-Factory, prompt/completion for
 * TRL) and gets an entry in <run>/dataset_info.json.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineStage, type StageContext } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import { TRAINING_SET } from './tables.js';
import { GroupCursor } from './join.js';
import { renderTemplate, templateText, cutTrace, referenceAnswerText, originalResponse } from './templates.js';
import { partName } from '../pipeline/layout.js';
import { writeFileAtomic } from '../util/fs.js';
import { sha256 } from '../util/hash.js';
import { VrdataError } from '../util/errors.js';

/** The weights columns build reads. */
export interface WeightRow {
  k: number;
  estimator: string;
  eligible: boolean;
  log_rho: number;
  rho: number;
  acc: number | null;
  g: number;
  selected: boolean;
}

/** One question, as build sees it. */
export interface QuestionForBuild {
  sampleId: string;
  /** R(x). */
  prompt: string;
  /** The source row's response, or null when the source had no thought/solution. */
  original: string | null;
  /** The answer text a that follows z when no rollout is used: "_thought|>...<|end_of_solution|>". */
  referenceAnswer: string;
  weights: readonly WeightRow[];
  /** Raw trace text by k. */
  traces: ReadonlyMap<number, string>;
  /** The first verified-correct rollout of trace k (lowest n), when there is one. */
  correctRollout: ReadonlyMap<number, string>;
}

function trainingRow(q: QuestionForBuild, response: string, fields: Partial<Row>): Row {
  return {
    prompt: q.prompt,
    response,
    completion: response,
    weight: 1,
    sample_id: q.sampleId,
    k: null,
    source_kind: 'original',
    estimator: null,
    log_rho: null,
    acc: null,
    g: null,
    ...fields,
  };
}

/** z_k followed by a verified rollout (Acc) or the reference answer (GML, L, or Acc fallen back). */
function traceResponse(q: QuestionForBuild, w: WeightRow): { response: string; kind: 'rollout' | 'trace' } {
  const trace = q.traces.get(w.k);
  if (trace === undefined) {
    throw new VrdataError('build', `sample ${q.sampleId}: weights name trace k=${w.k}, which traces does not have; rerun weigh on the current traces`);
  }
  const { z } = cutTrace(trace);
  if (w.estimator === 'Acc') {
    const rollout = q.correctRollout.get(w.k);
    if (rollout !== undefined) return { response: z + rollout, kind: 'rollout' };
    if (w.selected) {
      throw new VrdataError('build', `sample ${q.sampleId}: trace k=${w.k} is selected by Acc but has no verified-correct rollout; rerun verify and weigh`);
    }
  }
  return { response: z + q.referenceAnswer, kind: 'trace' };
}

/**
 * The 17K "mix" rows of one question: exactly 2 — the original response, and the selected trace
 * (or, when no trace is eligible, the original again). [] when the source had no original response.
 */
export function mixRows(q: QuestionForBuild): Row[] {
  if (q.original === null) return [];
  const first = trainingRow(q, q.original, {});
  const best = q.weights.find((w) => w.selected);
  if (!best) return [first, trainingRow(q, q.original, { estimator: q.weights[0]?.estimator ?? null })];
  const { response, kind } = traceResponse(q, best);
  return [first, trainingRow(q, response, { k: best.k, source_kind: kind, estimator: best.estimator, log_rho: best.log_rho, acc: best.acc, g: best.g })];
}

/** The weighted rows of one question: every trace with weight rho~_k (zero-weight ones only when asked). */
export function weightedRows(q: QuestionForBuild, keepZeroWeight: boolean): Row[] {
  const out: Row[] = [];
  for (const w of q.weights) {
    if (!keepZeroWeight && !(w.rho > 0)) continue;
    const { response, kind } = traceResponse(q, w);
    out.push(trainingRow(q, response, { weight: w.rho, k: w.k, source_kind: kind, estimator: w.estimator, log_rho: Number.isFinite(w.log_rho) ? w.log_rho : null, acc: w.acc, g: w.g }));
  }
  return out;
}

/** The posterior-set rows of one question: rollout m with weight correct_m / (number correct). */
export function posteriorRows(sampleId: string, prompt: string, rollouts: readonly { n: number; response: string; correct: boolean }[], keepZeroWeight: boolean): Row[] {
  const hits = rollouts.filter((r) => r.correct).length;
  const out: Row[] = [];
  for (const r of rollouts) {
    const weight = hits === 0 ? 0 : (r.correct ? 1 : 0) / hits;
    if (!keepZeroWeight && weight === 0) continue;
    out.push({ prompt, response: r.response, completion: r.response, weight, sample_id: sampleId, k: null, source_kind: 'rollout', estimator: null, log_rho: null, acc: hits / rollouts.length, g: null });
  }
  return out;
}

/** The N sample_ids with the smallest sha256(seed:id): a subset that does not depend on order or parts. */
export function chooseSubset(ids: Iterable<string>, size: number, seed: number): Set<string> {
  const keyed: { key: string; id: string }[] = [];
  for (const id of ids) keyed.push({ key: sha256(`${seed}:${id}`), id });
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return new Set(keyed.slice(0, size).map((x) => x.id));
}

/** Adds (or replaces) this run's entry for a set in <run>/dataset_info.json (LLaMA-Factory's dataset_dir); `table` is the folder name as the pipeline named it. */
export async function writeDatasetInfo(runDir: string, table: string): Promise<void> {
  const path = join(runDir, 'dataset_info.json');
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first set of the run */
  }
  info[`vrdata_${table}`] = {
    file_name: `${table}/${partName(0, 1)}.parquet`,
    formatting: 'alpaca',
    // prompt is the fully rendered R(x) (or P(x,y')): train with LLaMA-Factory's `template: empty`.
    columns: { prompt: 'prompt', response: 'response' },
  };
  await writeFileAtomic(path, `${JSON.stringify(info, null, 2)}\n`);
}

export interface BuildParams {
  reasoning_template: string;
  weighted_questions: number;
  subset_seed: number;
  keep_zero_weight: boolean;
}

async function buildSets(ctx: StageContext<BuildParams>, withRollouts: boolean): Promise<void> {
  const p = ctx.params;
  let subset: Set<string> | undefined;
  if (p.weighted_questions > 0) {
    const ids: string[] = [];
    for await (const batch of ctx.read('samples', { columns: ['sample_id'] })) for (const r of batch) ids.push(String(r.sample_id));
    subset = chooseSubset(ids, p.weighted_questions, p.subset_seed);
  }
  const traces = new GroupCursor(ctx.read('traces'), 'traces');
  const weights = new GroupCursor(ctx.read('weights'), 'weights');
  const rollouts = withRollouts ? new GroupCursor(ctx.read('rollouts'), 'rollouts') : undefined;
  const verdicts = withRollouts ? new GroupCursor(ctx.read('verdicts'), 'verdicts') : undefined;
  let mix: Row[] = [];
  let weighted: Row[] = [];
  const counts = { questions: 0, selected: 0, stand_in: 0, no_original: 0, weighted_rows: 0 };
  for await (const batch of ctx.read('samples')) {
    for (const s of batch) {
      const id = String(s.sample_id);
      const w = await weights.take(id);
      const t = await traces.take(id);
      const correctRollout = new Map<number, string>();
      if (rollouts && verdicts) {
        const rs = await rollouts.take(id);
        const vs = await verdicts.take(id);
        const ok = new Set(vs.filter((v) => v.correct === true).map((v) => `${v.k}:${v.n}`));
        for (const r of rs) {
          const k = Number(r.k);
          if (!correctRollout.has(k) && ok.has(`${r.k}:${r.n}`)) correctRollout.set(k, String(r.response));
        }
      }
      const solution = s.reference_solution == null ? null : String(s.reference_solution);
      const q: QuestionForBuild = {
        sampleId: id,
        prompt: renderTemplate(p.reasoning_template, { question: String(s.question) }),
        original: s.reference_thought == null || solution === null ? null : originalResponse(String(s.reference_thought), solution),
        referenceAnswer: referenceAnswerText(solution ?? String(s.reference_answer)),
        weights: w.map((r) => ({ k: Number(r.k), estimator: String(r.estimator), eligible: Boolean(r.eligible), log_rho: Number(r.log_rho), rho: Number(r.rho), acc: r.acc == null ? null : Number(r.acc), g: Number(r.g), selected: Boolean(r.selected) })),
        traces: new Map(t.map((r) => [Number(r.k), String(r.trace)])),
        correctRollout,
      };
      counts.questions++;
      const m = mixRows(q);
      if (m.length === 0) counts.no_original++;
      else if (m[1]!.source_kind === 'original') counts.stand_in++;
      else counts.selected++;
      mix.push(...m);
      if (!subset || subset.has(id)) {
        const rows = weightedRows(q, p.keep_zero_weight);
        counts.weighted_rows += rows.length;
        weighted.push(...rows);
      }
      if (mix.length >= 256) await ctx.write('mix', mix.splice(0));
      if (weighted.length >= 256) await ctx.write('weighted', weighted.splice(0));
      ctx.progress.tick(1);
    }
  }
  if (mix.length) await ctx.write('mix', mix);
  if (weighted.length) await ctx.write('weighted', weighted);
  for (const c of [traces, weights, rollouts, verdicts]) await c?.finish();
  await writeDatasetInfo(ctx.runDir, ctx.tableName('mix'));
  await writeDatasetInfo(ctx.runDir, ctx.tableName('weighted'));
  ctx.log(`mix: ${counts.selected} questions with a selected trace, ${counts.stand_in} with the original standing in, ${counts.no_original} without an original response (left out); weighted: ${counts.weighted_rows} rows`);
}

const buildParams = {
  reasoning_template: { type: 'string', default: 'reasoning', describe: 'the reasoning prompt R(x) put in the prompt column' },
  weighted_questions: { type: 'integer', default: 1000, describe: 'questions in the weighted set, chosen by hash of sample_id (0 = all)' },
  subset_seed: { type: 'integer', default: 0, describe: 'seed of the weighted subset choice' },
  keep_zero_weight: { type: 'boolean', default: false, describe: 'keep traces of weight 0 in the weighted set (they add nothing to the loss)' },
} as const;

const sampleColumns = ['sample_id', 'question', 'reference_thought', 'reference_solution', 'reference_answer'] as const;
const weightColumns = ['sample_id', 'k', 'estimator', 'eligible', 'log_rho', 'rho', 'acc', 'g', 'selected'] as const;

export const buildStage = defineStage<BuildParams>({
  name: 'build',
  version: 1,
  describe: 'The 17K mix set and the weighted set (Acc uses verified rollouts, GML/L the reference solution)',
  scope: 'all',
  inputs: {
    samples: sampleColumns,
    traces: ['sample_id', 'k', 'trace'],
    weights: weightColumns,
    rollouts: ['sample_id', 'k', 'n', 'response'],
    verdicts: ['sample_id', 'k', 'n', 'correct'],
  },
  outputs: { mix: TRAINING_SET, weighted: TRAINING_SET },
  params: buildParams,
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  run: (ctx) => buildSets(ctx, true),
});

export const buildLikStage = defineStage<BuildParams>({
  name: 'build_lik',
  version: 1,
  describe: 'The mix and weighted sets from weigh_lik weights (reference solutions, no rollouts)',
  scope: 'all',
  inputs: { samples: sampleColumns, traces: ['sample_id', 'k', 'trace'], weights: weightColumns },
  outputs: { mix: TRAINING_SET, weighted: TRAINING_SET },
  params: buildParams,
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  run: (ctx) => buildSets(ctx, false),
});

export interface BuildPosteriorParams {
  template: string;
  keep_zero_weight: boolean;
}

export const buildPosteriorStage = defineStage<BuildPosteriorParams>({
  name: 'build_posterior',
  version: 1,
  describe: 'The posterior (forward-KL) set: pi_theta0 samples on R(x), weighted by correctness, paired with P(x, y\')',
  scope: 'all',
  inputs: {
    samples: ['sample_id', 'question', 'hint'],
    rollouts: ['sample_id', 'k', 'n', 'response'],
    verdicts: ['sample_id', 'k', 'n', 'correct'],
  },
  outputs: { posterior_set: TRAINING_SET },
  params: {
    template: { type: 'string', default: 'posterior_b', describe: 'posterior prompt P(x, y\') put in the prompt column' },
    keep_zero_weight: { type: 'boolean', default: false, describe: 'keep incorrect samples (weight 0)' },
  },
  fingerprintExtra: (p) => templateText(p.template),
  async run(ctx) {
    const rollouts = new GroupCursor(ctx.read('rollouts'), 'rollouts');
    const verdicts = new GroupCursor(ctx.read('verdicts'), 'verdicts');
    let out: Row[] = [];
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const id = String(s.sample_id);
        const rs = await rollouts.take(id);
        const correct = new Map((await verdicts.take(id)).map((v) => [`${v.k}:${v.n}`, v.correct === true]));
        if (rs.length === 0) continue;
        const prompt = renderTemplate(ctx.params.template, { question: String(s.question), hint: String(s.hint) });
        const list = rs.map((r) => ({ n: Number(r.n), response: String(r.response), correct: correct.get(`${r.k}:${r.n}`) ?? false }));
        out.push(...posteriorRows(id, prompt, list, ctx.params.keep_zero_weight));
        if (out.length >= 256) await ctx.write('posterior_set', out.splice(0));
        ctx.progress.tick(1);
      }
    }
    if (out.length) await ctx.write('posterior_set', out);
    await rollouts.finish();
    await verdicts.finish();
    await writeDatasetInfo(ctx.runDir, ctx.tableName('posterior_set'));
  },
});
