/**
 * originals — the plain SFT set: every question's original response on R(x), weight 1. It trains
 * pi_theta0 and is the "SFT on the original traces" baseline the weighted sets are compared with.
 *
 * reads:  samples (question, reference thought and solution)
 * writes: sft_set (TRAINING_SET columns; rows without a thought/solution are left out and counted)
 */
import { defineStage } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import { TRAINING_SET } from './tables.js';
import { renderTemplate, templateText, originalResponse } from './templates.js';

export interface OriginalsParams {
  reasoning_template: string;
}

export const originalsStage = defineStage<OriginalsParams>({
  name: 'originals',
  version: 1,
  describe: 'The SFT set of the original responses on R(x), weight 1 (trains pi_theta0; the plain-SFT baseline)',
  inputs: { samples: ['sample_id', 'question', 'reference_thought', 'reference_solution'] },
  outputs: { sft_set: TRAINING_SET },
  params: {
    reasoning_template: { type: 'string', default: 'reasoning', describe: 'the reasoning prompt R(x) put in the prompt column' },
  },
  fingerprintExtra: (p) => templateText(p.reasoning_template),
  async run(ctx) {
    let left = 0;
    for await (const batch of ctx.read('samples')) {
      const rows: Row[] = [];
      for (const s of batch) {
        if (s.reference_thought == null || s.reference_solution == null) { left++; continue; }
        const response = originalResponse(String(s.reference_thought), String(s.reference_solution));
        rows.push({
          prompt: renderTemplate(ctx.params.reasoning_template, { question: String(s.question) }),
          response, completion: response, weight: 1, sample_id: s.sample_id, k: null,
          source_kind: 'original', estimator: null, log_rho: null, acc: null, g: null,
        });
      }
      if (rows.length) await ctx.write('sft_set', rows);
      ctx.progress.tick(batch.length);
    }
    if (left) ctx.log(`${left} questions without an original thought/solution left out`);
  },
});
