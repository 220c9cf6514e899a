/**
 * eval — a model's answers to an eval set, verified by the same verifiers as the rollouts.
 *
 * reads:  samples (an eval set prepared like any source; rename it in the pipeline, e.g.
 *         `tables: { samples: eval_samples, eval: eval_before }`)
 * writes: eval (one row per response: correct, extracted answer, reason)
 *
 * Response i of every question is generated on R(x) with seed seed0 + i, stopping after the
 * end-of-solution marker. Accuracy and unbiased pass@k come from src/eval/metrics.ts; each part
 * logs its own, and `vrdata report` shows them for the whole table.
 */
import pLimit from 'p-limit';
import { defineStage } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import type { GenerateRequest } from '../engines/types.js';
import { summarizeEval, type EvalOutcome } from '../eval/metrics.js';
import { usageError } from '../util/errors.js';
import { EVAL } from './tables.js';
import { renderTemplate, templateText, END_OF_SOLUTION } from './templates.js';
import { loadVerifier } from './verify.js';

export interface EvalParams {
  n: number;
  seed0: number;
  temperature: number;
  top_p: number;
  top_k: number;
  max_tokens: number;
  reasoning_template: string;
  batch: number;
  concurrency: number;
}

interface Job {
  sample: Row;
  request: GenerateRequest;
}

export const evalStage = defineStage<EvalParams>({
  name: 'eval',
  version: 1,
  describe: 'Answers of a model to an eval set, verified; accuracy and pass@k come from this table',
  inputs: { samples: ['sample_id', 'source', 'domain', 'question', 'reference_answer', 'tests'] },
  outputs: { eval: EVAL },
  engines: { model: 'the model being evaluated, on the reasoning prompt R(x)' },
  params: {
    n: { type: 'integer', default: 1, describe: 'responses per question (pass@k needs n >= k)' },
    seed0: { type: 'integer', default: 0, describe: 'response i of a question uses seed seed0 + i' },
    temperature: { type: 'number', default: 0, describe: 'sampling temperature (0 = greedy; use > 0 with n > 1)' },
    top_p: { type: 'number', default: 1.0, describe: 'nucleus sampling threshold (1 = off)' },
    top_k: { type: 'integer', default: 0, describe: 'top-k sampling (0 = off)' },
    max_tokens: { type: 'integer', default: 32764, describe: 'most tokens per response' },
    reasoning_template: { type: 'string', default: 'reasoning', describe: 'the reasoning prompt R(x)' },
    batch: { type: 'integer', default: 16, describe: 'prompts sent to the engine per call', affectsResult: false },
    concurrency: { type: 'integer', default: 8, describe: 'verifications in flight (code runs in subprocesses)', affectsResult: false },
  },
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  async run(ctx) {
    const p = ctx.params;
    if (p.n > 1 && p.temperature === 0) {
      throw usageError('eval', `n = ${p.n} with temperature 0 gives ${p.n} identical greedy answers; set eval.temperature above 0 (e.g. 0.7) or n = 1`);
    }
    const { verify } = await loadVerifier();
    const engine = await ctx.engine('model');
    const limit = pLimit(Math.max(1, p.concurrency));
    const outcomes: EvalOutcome[] = [];
    let pending: Job[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const results = await engine.generate(pending.map((j) => j.request));
      const rows = await Promise.all(
        pending.flatMap((job, j) =>
          (results[j] ?? []).map((c, i) =>
            limit(async (): Promise<Row> => {
              const s = job.sample;
              const v = await verify({ domain: String(s.domain), response: c.text, reference: String(s.reference_answer), tests: (s.tests as string | null) ?? null });
              return { sample_id: s.sample_id, source: s.source, n: i, response: c.text, correct: v.correct, extracted: v.extracted, reason: v.reason };
            }),
          ),
        ),
      );
      for (const r of rows) outcomes.push({ sample_id: String(r.sample_id), source: String(r.source), correct: r.correct === true });
      await ctx.write('eval', rows);
      ctx.progress.tick(pending.length);
      pending = [];
    };
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const prompt = renderTemplate(p.reasoning_template, { question: String(s.question) });
        pending.push({
          sample: s,
          request: { prompt, options: { n: p.n, seed: p.seed0, temperature: p.temperature, topP: p.top_p, topK: p.top_k, maxTokens: p.max_tokens, stop: [END_OF_SOLUTION] } },
        });
        if (pending.length >= p.batch) await flush();
      }
    }
    await flush();
    const ks = [1, 2, 4, 8, 16, 32, 64].filter((k) => k <= p.n);
    const o = summarizeEval(outcomes, { ks }).overall;
    const passAt = ks.filter((k) => k > 1).map((k) => `, pass@${k} ${((o.passAtK[k] ?? Number.NaN) * 100).toFixed(1)}%`).join('');
    ctx.log(`part ${ctx.part}: accuracy ${(o.accuracy * 100).toFixed(1)}% ± ${(o.stderr * 100).toFixed(1)}% over ${o.questions} questions${passAt}`);
  },
});
