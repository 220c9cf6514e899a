/**
 * score — the per-token log-probs behind the weights (DESIGN.md "The weights (exactly)").
 *
 * reads:  samples (question, hint, reference_solution), traces (trace)
 * writes: scores: z = the trace cut just after the first "<|end_of" (appended when absent);
 *         lq = log q_phi(trace | P(x, y')), lp = log pi_theta0(z | R(x)),
 *         la = log pi_theta0(a | R(x) + z) with a = "_thought|>\n\n<|begin_of_solution|>{solution}<|end_of_solution|>".
 *
 * lq scores the raw trace by default, as the paper's estimate_logp_variational_posterior.py does
 * (`lq_on: trace`); weigh then compares the first min(len lp, len lq) tokens. `lq_on: z` scores
 * the cut trace instead, so both lists cover the same text.
 */
import { defineStage } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import type { ScoreRequest } from '../engines/types.js';
import { SCORES } from './tables.js';
import { renderTemplate, templateText, cutTrace, referenceAnswerText } from './templates.js';
import { GroupCursor } from './join.js';

export interface ScoreParams {
  template: string;
  reasoning_template: string;
  lq_on: string;
  batch: number;
}

export const scoreStage = defineStage<ScoreParams>({
  name: 'score',
  version: 1,
  describe: 'Per-token log-probs lq (q_phi), lp and la (pi_theta0) of every trace',
  inputs: {
    samples: ['sample_id', 'question', 'hint', 'reference_solution', 'reference_answer'],
    traces: ['sample_id', 'k', 'trace'],
  },
  outputs: { scores: SCORES },
  engines: { posterior: 'q_phi: scores the trace under P(x, y\')', prior: 'pi_theta0: scores z under R(x) and the reference answer after z' },
  params: {
    template: { type: 'string', default: 'posterior_b', describe: 'posterior prompt the traces were sampled with (as in sample)' },
    reasoning_template: { type: 'string', default: 'reasoning', describe: 'the reasoning prompt R(x)' },
    lq_on: { type: 'string', default: 'trace', choices: ['trace', 'z'], describe: 'what q_phi scores: the raw trace (the paper) or the cut trace z' },
    batch: { type: 'integer', default: 16, describe: 'traces per engine call', affectsResult: false },
  },
  fingerprintExtra: (p) => `${templateText(p.template)}\n---\n${templateText(p.reasoning_template)}`,
  async run(ctx) {
    const p = ctx.params;
    const posterior = await ctx.engine('posterior');
    const prior = await ctx.engine('prior');
    const traces = new GroupCursor(ctx.read('traces'), 'traces');
    type Item = { sampleId: unknown; k: unknown; z: string; q: ScoreRequest; p: ScoreRequest; a: ScoreRequest };
    let pending: Item[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const [lq, lpla] = await Promise.all([
        posterior.score(pending.map((i) => i.q)),
        prior.score(pending.flatMap((i) => [i.p, i.a])),
      ]);
      const rows: Row[] = pending.map((item, i) => ({
        sample_id: item.sampleId,
        k: item.k,
        z: item.z,
        lq: lq[i]!.logprobs,
        lp: lpla[2 * i]!.logprobs,
        la: lpla[2 * i + 1]!.logprobs,
      }));
      await ctx.write('scores', rows);
      ctx.progress.tick(pending.length);
      pending = [];
    };
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const group = await traces.take(String(s.sample_id));
        if (group.length === 0) continue;
        const posteriorPrompt = renderTemplate(p.template, { question: String(s.question), hint: String(s.hint) });
        const reasoningPrompt = renderTemplate(p.reasoning_template, { question: String(s.question) });
        // Rows without a solution part (question/answer sources) score the bare reference answer.
        const answer = referenceAnswerText(s.reference_solution == null ? String(s.reference_answer) : String(s.reference_solution));
        for (const t of group) {
          const trace = String(t.trace);
          const { z } = cutTrace(trace);
          pending.push({
            sampleId: t.sample_id,
            k: t.k,
            z,
            q: { prompt: posteriorPrompt, continuation: p.lq_on === 'z' ? z : trace },
            p: { prompt: reasoningPrompt, continuation: z },
            a: { prompt: reasoningPrompt + z, continuation: answer },
          });
        }
        if (pending.length >= p.batch) await flush();
      }
    }
    await flush();
    await traces.finish();
  },
});
