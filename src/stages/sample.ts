/**
 * sample — K traces per question from q_phi on the posterior prompt P(x, y').
 *
 * reads:  samples (question, hint)
 * writes: traces (one row per question x k; trace k is sampled with seed seed0 + k)
 */
import { basename } from 'node:path';
import { defineStage } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import { TRACES } from './tables.js';
import { renderTemplate, templateText } from './templates.js';

export interface SampleParams {
  k: number;
  seed0: number;
  temperature: number;
  top_p: number;
  top_k: number;
  max_tokens: number;
  template: string;
  batch: number;
}

/** The name a template is recorded under: built-ins by name, files by base name. */
export function templateLabel(template: string): string {
  return template.endsWith('.jinja') ? basename(template) : template;
}

export const sampleStage = defineStage<SampleParams>({
  name: 'sample',
  version: 1,
  describe: 'Sample K traces per question from the variational posterior q_phi on P(x, y\')',
  inputs: { samples: ['sample_id', 'question', 'hint'] },
  outputs: { traces: TRACES },
  engines: { posterior: 'q_phi: samples traces given the question and the hint' },
  params: {
    k: { type: 'integer', default: 8, describe: 'traces per question (K)' },
    seed0: { type: 'integer', default: 0, describe: 'trace k is sampled with seed seed0 + k' },
    temperature: { type: 'number', default: 0.7, describe: 'sampling temperature (the paper: 0.7)' },
    top_p: { type: 'number', default: 1.0, describe: 'nucleus sampling threshold (1 = off)' },
    top_k: { type: 'integer', default: 0, describe: 'top-k sampling (0 = off)' },
    max_tokens: { type: 'integer', default: 32764, describe: 'most tokens per trace (the paper: 32764)' },
    template: { type: 'string', default: 'posterior_b', describe: 'posterior prompt: posterior_a, posterior_b or a .jinja file' },
    batch: { type: 'integer', default: 16, describe: 'questions sent to the engine per call', affectsResult: false },
  },
  fingerprintExtra: (params) => templateText(params.template),
  async run(ctx) {
    const p = ctx.params;
    const engine = await ctx.engine('posterior');
    let pending: Row[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const requests = pending.map((s) => ({
        prompt: renderTemplate(p.template, { question: String(s.question), hint: String(s.hint) }),
        options: { n: p.k, seed: p.seed0, temperature: p.temperature, topP: p.top_p, topK: p.top_k, maxTokens: p.max_tokens, stop: [] },
      }));
      const results = await engine.generate(requests);
      const rows: Row[] = [];
      pending.forEach((s, i) => {
        results[i]!.forEach((c, k) => {
          rows.push({
            sample_id: s.sample_id,
            k,
            seed: p.seed0 + k,
            template: templateLabel(p.template),
            trace: c.text,
            finish_reason: c.finishReason,
            tokens: c.tokens,
          });
        });
      });
      await ctx.write('traces', rows);
      ctx.progress.tick(pending.length);
      pending = [];
    };
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        pending.push(s);
        if (pending.length >= p.batch) await flush();
      }
    }
    await flush();
  },
});
