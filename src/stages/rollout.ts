/**
 * rollout — answers of pi_theta0 that continue each trace, and plain samples of pi_theta0.
 *
 * `rollout` reads samples + traces and writes N rollouts per trace: prompt R(x) + z, stop at
 * "<|end_of_solution|>" (kept), so each response begins with "_thought|>". Rollout n of trace k
 * uses seed seed0 + k*N + n.
 * `prior_sample` reads samples only and writes M samples of pi_theta0 on R(x) alone (k = -1), the
 * z_m of the posterior (forward-KL) set.
 */
import { defineStage, type StageContext } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import type { GenerateRequest } from '../engines/types.js';
import { ROLLOUTS } from './tables.js';
import { renderTemplate, templateText, cutTrace, END_OF_SOLUTION } from './templates.js';
import { GroupCursor } from './join.js';

export interface RolloutParams {
  n: number;
  seed0: number;
  temperature: number;
  top_p: number;
  top_k: number;
  max_tokens: number;
  reasoning_template: string;
  batch: number;
}

const commonParams = {
  seed0: { type: 'integer', default: 0, describe: 'rollout n of trace k uses seed seed0 + k*N + n' },
  temperature: { type: 'number', default: 0.7, describe: 'sampling temperature (the paper: 0.7)' },
  top_p: { type: 'number', default: 1.0, describe: 'nucleus sampling threshold (1 = off)' },
  top_k: { type: 'integer', default: 0, describe: 'top-k sampling (0 = off)' },
  max_tokens: { type: 'integer', default: 32764, describe: 'most tokens per rollout (the paper: 32764)' },
  reasoning_template: { type: 'string', default: 'reasoning', describe: 'the reasoning prompt R(x)' },
  batch: { type: 'integer', default: 16, describe: 'prompts sent to the engine per call', affectsResult: false },
} as const;

interface Job {
  sampleId: unknown;
  k: number;
  request: GenerateRequest;
}

/** Sends jobs in batches and writes one row per completion. */
async function generateRows(ctx: StageContext<RolloutParams>, jobs: AsyncIterable<Job>): Promise<void> {
  const engine = await ctx.engine('prior');
  let pending: Job[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const results = await engine.generate(pending.map((j) => j.request));
    const rows: Row[] = [];
    pending.forEach((job, i) => {
      results[i]!.forEach((c, n) => {
        rows.push({
          sample_id: job.sampleId,
          k: job.k,
          n,
          seed: job.request.options.seed + n,
          response: c.text,
          finish_reason: c.finishReason,
          tokens: c.tokens,
        });
      });
    });
    await ctx.write('rollouts', rows);
    ctx.progress.tick(pending.length);
    pending = [];
  };
  for await (const job of jobs) {
    pending.push(job);
    if (pending.length >= ctx.params.batch) await flush();
  }
  await flush();
}

function options(p: RolloutParams, seed: number) {
  return { n: p.n, seed, temperature: p.temperature, topP: p.top_p, topK: p.top_k, maxTokens: p.max_tokens, stop: [END_OF_SOLUTION] };
}

export const rolloutStage = defineStage<RolloutParams>({
  name: 'rollout',
  version: 1,
  describe: 'N answers of pi_theta0 per trace, on R(x) + z (needed by the Acc estimator)',
  inputs: { samples: ['sample_id', 'question'], traces: ['sample_id', 'k', 'trace'] },
  outputs: { rollouts: ROLLOUTS },
  engines: { prior: 'pi_theta0: answers after the trace' },
  params: { n: { type: 'integer', default: 8, describe: 'rollouts per trace (N)' }, ...commonParams },
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  async run(ctx) {
    const p = ctx.params;
    const traces = new GroupCursor(ctx.read('traces'), 'traces');
    async function* jobs(): AsyncGenerator<Job> {
      for await (const batch of ctx.read('samples')) {
        for (const s of batch) {
          const prompt = renderTemplate(p.reasoning_template, { question: String(s.question) });
          for (const t of await traces.take(String(s.sample_id))) {
            const k = Number(t.k);
            yield { sampleId: s.sample_id, k, request: { prompt: prompt + cutTrace(String(t.trace)).z, options: options(p, p.seed0 + k * p.n) } };
          }
        }
      }
    }
    await generateRows(ctx, jobs());
    await traces.finish();
  },
});

export const priorSampleStage = defineStage<RolloutParams>({
  name: 'prior_sample',
  version: 1,
  describe: 'M samples of pi_theta0 on R(x) alone (k = -1), for the posterior (forward-KL) set',
  inputs: { samples: ['sample_id', 'question'] },
  outputs: { rollouts: ROLLOUTS },
  engines: { prior: 'pi_theta0: samples whole responses' },
  params: { n: { type: 'integer', default: 8, describe: 'samples per question (M)' }, ...commonParams },
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  async run(ctx) {
    const p = ctx.params;
    async function* jobs(): AsyncGenerator<Job> {
      for await (const batch of ctx.read('samples')) {
        for (const s of batch) {
          yield { sampleId: s.sample_id, k: -1, request: { prompt: renderTemplate(p.reasoning_template, { question: String(s.question) }), options: options(p, p.seed0) } };
        }
      }
    }
    await generateRows(ctx, jobs());
  },
});
