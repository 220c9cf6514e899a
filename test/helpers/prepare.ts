/** Running `prepare` in-process through the real runner (the CLI path is tested separately by spawning it). */
import { runStage, type RunStageResult } from '../../src/pipeline/runner.js';
import { resolveParams } from '../../src/pipeline/params.js';
import { prepareStage } from '../../src/stages/prepare.js';

/** prepare over `input` into `runDir`; extra parameters as the CLI would give them (snake_case). */
export async function prepareInProcess(
  input: string[],
  runDir: string,
  options: { parts?: number; params?: Record<string, unknown>; shard?: { index: number; count: number } } = {},
): Promise<RunStageResult> {
  const params = resolveParams('prepare', prepareStage.params, { input, ...options.params });
  return runStage({ runDir, stage: prepareStage, params, parts: options.parts ?? 1, shard: options.shard, quiet: true });
}
