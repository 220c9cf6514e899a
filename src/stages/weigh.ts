/**
 * weigh — the importance weights of every trace (src/stages/weights-math.ts has the math).
 *
 * `weigh` reads samples, scores and verdicts and supports Acc (with the Acc->GML fallback for
 * questions without a verifier), GML and L; `weigh_lik` needs no rollouts or verdicts and supports
 * GML and L only (acc is null). Both write one weights row per trace, the estimator named.
 */
import { defineStage, type StageContext } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import { WEIGHTS } from './tables.js';
import { GroupCursor } from './join.js';
import { weighQuestion, accuracy, type Estimator, type TraceFigures } from './weights-math.js';
import { rowHasVerifier } from './verify.js';
import { VERIFIER_VERSION } from '../verify/index.js';

export interface WeighParams {
  estimator: string;
  max_think_tokens: number;
}

const params = (choices: readonly Estimator[], fallback: Estimator) => ({
  estimator: { type: 'string', default: fallback, choices, describe: `estimator of pi(Y|x,z): ${choices.join(', ')}` },
  max_think_tokens: { type: 'integer', default: 28000, describe: 'traces with L_k = min(len lp, len lq) >= this are not eligible (the paper: 28000)' },
}) as const;

/** One weights row per trace of one question. */
function rowsOf(sampleId: unknown, figures: TraceFigures[], options: Parameters<typeof weighQuestion>[1]): Row[] {
  return weighQuestion(figures, options).map((w) => ({
    sample_id: sampleId,
    k: w.k,
    estimator: w.estimator,
    think_tokens: w.thinkTokens,
    eligible: w.eligible,
    g: w.g,
    acc: w.acc,
    mean_la: w.meanLa,
    log_rho: w.logRho,
    rho: w.rho,
    selected: w.selected,
    fallback: w.fallback,
  }));
}

async function weighAll(ctx: StageContext<WeighParams>, withVerdicts: boolean): Promise<void> {
  const p = ctx.params;
  const scores = new GroupCursor(ctx.read('scores', { columns: ['sample_id', 'k', 'lp', 'lq', 'la'] }), 'scores');
  const verdicts = withVerdicts ? new GroupCursor(ctx.read('verdicts'), 'verdicts') : undefined;
  let out: Row[] = [];
  let questions = 0;
  let fallbacks = 0;
  for await (const batch of ctx.read('samples')) {
    for (const s of batch) {
      const id = String(s.sample_id);
      const group = await scores.take(id);
      const byTrace = new Map<number, boolean[]>();
      for (const v of verdicts ? await verdicts.take(id) : []) {
        const k = Number(v.k);
        if (!byTrace.has(k)) byTrace.set(k, []);
        byTrace.get(k)!.push(Boolean(v.correct));
      }
      if (group.length === 0) continue;
      const verifiable = withVerdicts && rowHasVerifier(s);
      const figures: TraceFigures[] = group.map((r) => ({
        k: Number(r.k),
        lp: r.lp as Float32Array,
        lq: r.lq as Float32Array,
        la: r.la as Float32Array,
        acc: verifiable ? accuracy(byTrace.get(Number(r.k)) ?? []) : null,
      }));
      const rows = rowsOf(s.sample_id, figures, { estimator: p.estimator as Estimator, maxThinkTokens: p.max_think_tokens, hasVerifier: verifiable });
      if (rows[0]?.fallback) fallbacks++;
      questions++;
      out.push(...rows);
      if (out.length >= 512) {
        await ctx.write('weights', out);
        out = [];
      }
      ctx.progress.tick(1);
    }
  }
  if (out.length) await ctx.write('weights', out);
  await scores.finish();
  await verdicts?.finish();
  ctx.log(`${questions} questions weighed with ${p.estimator}; ${fallbacks} fell back to GML (no verifier)`);
}

export const weighStage = defineStage<WeighParams>({
  name: 'weigh',
  version: 1,
  describe: 'Importance weights g_k, acc_k, log rho_k, rho~_k per trace (Acc, GML or L)',
  inputs: {
    samples: ['sample_id', 'domain', 'question', 'reference_answer', 'tests'],
    scores: ['sample_id', 'k', 'lp', 'lq', 'la'],
    verdicts: ['sample_id', 'k', 'n', 'correct'],
  },
  outputs: { weights: WEIGHTS },
  params: params(['Acc', 'GML', 'L'], 'Acc'),
  // hasVerifier decides the Acc->GML fallback.
  fingerprintExtra: () => `verifier@${VERIFIER_VERSION}`,
  run: (ctx) => weighAll(ctx, true),
});

export const weighLikStage = defineStage<WeighParams>({
  name: 'weigh_lik',
  version: 1,
  describe: 'Importance weights from log-probs alone (GML or L): needs no rollouts or verdicts',
  inputs: {
    samples: ['sample_id'],
    scores: ['sample_id', 'k', 'lp', 'lq', 'la'],
  },
  outputs: { weights: WEIGHTS },
  params: params(['GML', 'L'], 'GML'),
  run: (ctx) => weighAll(ctx, false),
});
