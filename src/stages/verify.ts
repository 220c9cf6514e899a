/**
 * verify — a verdict for every rollout, from src/verify's `verify()`.
 *
 * reads:  samples (domain, reference_answer, tests), rollouts (response)
 * writes: verdicts (correct, extracted answer, reason, time, and the verifier's identity:
 *         the same data gives very different yields under different verifiers)
 *
 * Kept apart from rollout so that changing a verifier re-verifies without re-generating.
 */
import pLimit from 'p-limit';
import { defineStage } from '../pipeline/stage.js';
import type { Row } from '../io/schema.js';
import { VERDICTS } from './tables.js';
import { GroupCursor } from './join.js';
import { verify, hasVerifier, VERIFIER_VERSION, type Domain, type CodeTests, type Verdict } from '../verify/index.js';
import { parseCodeTests } from '../verify/code/index.js';

export interface VerifyParams {
  concurrency: number;
}

/**
 * The code tests of a samples row for src/verify: samples.tests holds the source's JSON as is
 * (APPS input_output, LiveCodeBench test lists, or tests already in CodeTests form). LiveCodeBench's
 * call-based tests name their function in the starter code, which lives in the question text.
 */
export function codeTestsOf(testsJson: unknown, question: string): CodeTests | undefined {
  if (typeof testsJson !== 'string' || testsJson.trim() === '') return undefined;
  const parsed = JSON.parse(testsJson) as unknown;
  if (Array.isArray(parsed)) return parseCodeTests({ tests: parsed, starter_code: question }) ?? undefined;
  if (parsed && typeof parsed === 'object') {
    const o = parsed as Record<string, unknown>;
    if (Array.isArray(o.cases) && (o.kind === 'stdin' || o.kind === 'call')) return o as unknown as CodeTests;
    if ('inputs' in o) return parseCodeTests({ input_output: testsJson }) ?? undefined;
  }
  return undefined;
}

/** src/verify seen from a stage: tests as samples.tests holds them (a JSON string or null). */
export interface VerifyModule {
  verify(input: { domain: string; response: string; reference: string; tests?: string | null; question?: string }): Promise<Verdict>;
  hasVerifier(domain: string, reference: string, tests?: string | null, question?: string): boolean;
}

/** src/verify behind the samples-row contract (used by the eval stage): tests JSON is parsed with codeTestsOf. */
export async function loadVerifier(): Promise<VerifyModule> {
  return {
    verify: (i) => verify({ domain: i.domain as Domain, response: i.response, reference: i.reference, tests: codeTestsOf(i.tests, i.question ?? '') }),
    hasVerifier: (domain, reference, tests, question) => hasVerifier(domain as Domain, reference, codeTestsOf(tests, question ?? '')),
  };
}

/** Whether src/verify can judge answers to this samples row (else Acc falls back to GML). */
export function rowHasVerifier(s: Row): boolean {
  return hasVerifier(String(s.domain) as Domain, String(s.reference_answer), codeTestsOf(s.tests, String(s.question)));
}

export const verifyStage = defineStage<VerifyParams>({
  name: 'verify',
  version: 1,
  describe: 'Verdicts for every rollout (correct or not, extracted answer, reason, verifier)',
  inputs: {
    samples: ['sample_id', 'domain', 'question', 'reference_answer', 'tests'],
    rollouts: ['sample_id', 'k', 'n', 'response'],
  },
  outputs: { verdicts: VERDICTS },
  params: {
    concurrency: { type: 'integer', default: 8, describe: 'verifications in flight (code runs in subprocesses)', affectsResult: false },
  },
  fingerprintExtra: () => `verifier@${VERIFIER_VERSION}`,
  async run(ctx) {
    const limit = pLimit(Math.max(1, ctx.params.concurrency));
    const rollouts = new GroupCursor(ctx.read('rollouts'), 'rollouts');
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const group = await rollouts.take(String(s.sample_id));
        if (group.length === 0) continue;
        const tests = codeTestsOf(s.tests, String(s.question));
        const verdicts = await Promise.all(
          group.map((r) =>
            limit(async (): Promise<Row> => {
              const v = await verify({ domain: String(s.domain) as Domain, response: String(r.response), reference: String(s.reference_answer), tests });
              return { sample_id: r.sample_id, k: r.k, n: r.n, correct: v.correct, extracted: v.extracted, reason: v.reason, ms: v.ms, verifier: v.verifier };
            }),
          ),
        );
        await ctx.write('verdicts', verdicts);
        ctx.progress.tick(group.length);
      }
    }
    await rollouts.finish();
  },
});
