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

export interface VerifyParams {
  concurrency: number;
}

/** The verifier module's contract (src/verify/index.ts), loaded lazily so stages load without it. */
export interface VerifyModule {
  verify(input: { domain: string; response: string; reference: string; tests?: string | null }): Promise<{
    correct: boolean;
    extracted: string | null;
    reason: string;
    ms: number;
    verifier: string;
  }>;
  hasVerifier(domain: string, reference: string, tests?: string | null): boolean;
}

/** Loads src/verify lazily (another module; the registry must load even while it is absent). */
export async function loadVerifier(): Promise<VerifyModule> {
  const path = '../verify/index.js';
  return (await import(path)) as VerifyModule;
}

export const verifyStage = defineStage<VerifyParams>({
  name: 'verify',
  version: 1,
  describe: 'Verdicts for every rollout (correct or not, extracted answer, reason, verifier)',
  inputs: {
    samples: ['sample_id', 'domain', 'reference_answer', 'tests'],
    rollouts: ['sample_id', 'k', 'n', 'response'],
  },
  outputs: { verdicts: VERDICTS },
  params: {
    concurrency: { type: 'integer', default: 8, describe: 'verifications in flight (code runs in subprocesses)', affectsResult: false },
  },
  async run(ctx) {
    const { verify } = await loadVerifier();
    const limit = pLimit(Math.max(1, ctx.params.concurrency));
    const rollouts = new GroupCursor(ctx.read('rollouts'), 'rollouts');
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const group = await rollouts.take(String(s.sample_id));
        if (group.length === 0) continue;
        const verdicts = await Promise.all(
          group.map((r) =>
            limit(async (): Promise<Row> => {
              const v = await verify({ domain: String(s.domain), response: String(r.response), reference: String(s.reference_answer), tests: (s.tests as string | null) ?? null });
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
