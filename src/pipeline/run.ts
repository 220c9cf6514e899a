/**
 * Runs a whole pipeline: validate everything (parameters, engines, the data flow of tables and
 * columns) before any model is loaded, save the resolved configuration in the run folder, then run
 * the stages in order. Engines are shared between stages and loaded once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadPipeline, checkDataFlow, type PipelineConfig } from './config.js';
import { runStage, resolveRunPath, type EngineBinding, type RunStageResult } from './runner.js';
import { pipelinePath } from './layout.js';
import { listManifests } from './manifest.js';
import { stages as registry } from '../stages/index.js';
import { bindEngine, journalWrapper } from '../engines/registry.js';
import type { Engine } from '../engines/types.js';
import { writeFileAtomic } from '../util/fs.js';
import { VrdataError, usageError } from '../util/errors.js';
import { VRDATA_VERSION } from '../version.js';
import type { Schema } from '../io/schema.js';

export interface RunPipelineOptions {
  pipelineFile: string;
  runDir?: string;
  runsDir?: string;
  name?: string;
  from?: string;
  until?: string;
  shard?: { index: number; count: number };
  overrides?: string[];
  dryRun?: boolean;
  quiet?: boolean;
}

export interface RunPipelineResult {
  runDir: string;
  config: PipelineConfig;
  resolvedYaml: string;
  /** Every stage run, in order (round after round). */
  stages: RunStageResult[];
}

/** The folder of round r (1-based): the run folder itself for round 1. */
export function roundDir(runDir: string, round: number): string {
  return round === 1 ? runDir : join(runDir, `round-${round}`);
}

export async function runPipeline(options: RunPipelineOptions): Promise<RunPipelineResult> {
  const config = await loadPipeline(options.pipelineFile, registry, options.overrides ?? []);
  const runDir = options.runDir ?? join(options.runsDir ?? 'runs', options.name ?? config.name);
  const ids = config.stages.map((s) => s.id);
  const fromIndex = options.from ? ids.indexOf(options.from) : 0;
  const untilIndex = options.until ? ids.indexOf(options.until) : ids.length - 1;
  if (fromIndex < 0) throw usageError('pipeline', `--from ${options.from}: no such stage id. Stage ids: ${ids.join(', ')}.`);
  if (untilIndex < 0) throw usageError('pipeline', `--until ${options.until}: no such stage id. Stage ids: ${ids.join(', ')}.`);

  const existing = new Map<string, Schema>();
  checkDataFlow(config, registry, existing);
  const resolved = {
    vrdata_version: VRDATA_VERSION,
    pipeline_file: options.pipelineFile,
    name: config.name,
    parts: config.parts,
    rounds: config.rounds,
    next_round: config.nextRound,
    engines: config.engines,
    stages: config.stages,
  };
  const resolvedYaml = YAML.stringify(resolved);
  if (options.dryRun) return { runDir, config, resolvedYaml, stages: [] };

  await refuseChangedParts(runDir, config);
  await writeFileAtomic(pipelinePath(runDir), resolvedYaml);

  const results: RunStageResult[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    const dir = roundDir(runDir, round);
    const engineConfigs = { ...config.engines };
    if (round > 1) {
      // pi_theta of the last round becomes pi_theta0 (and the retrained q_phi the posterior) of this one.
      for (const [name, model] of Object.entries(config.nextRound)) {
        engineConfigs[name] = { ...engineConfigs[name]!, model: resolveRunPath(model, roundDir(runDir, round - 1)) };
      }
    }
    if (!options.quiet && config.rounds > 1) process.stderr.write(`=== round ${round} of ${config.rounds}: ${dir}\n`);
    results.push(...(await runRound({ ...options, config, runDir: dir, engineConfigs, fromIndex, untilIndex })));
  }
  return { runDir, config, resolvedYaml, stages: results };
}

function bindMethods(engine: Engine): Engine {
  return {
    id: engine.id,
    generate: (r) => engine.generate(r),
    score: (r) => engine.score(r),
    tokenize: (t) => engine.tokenize(t),
    close: () => engine.close(),
  };
}

/** A run folder keeps its part count: resuming with another would mix partitions. */
async function refuseChangedParts(runDir: string, config: PipelineConfig): Promise<void> {
  let previous: { parts?: number } | undefined;
  try {
    previous = YAML.parse(await readFile(pipelinePath(runDir), 'utf8')) as { parts?: number };
  } catch {
    return;
  }
  if (previous?.parts !== undefined && previous.parts !== config.parts) {
    for (const stage of config.stages) {
      for (const table of Object.keys(registry[stage.stage]!.outputs)) {
        const manifests = await listManifests(runDir, stage.tables[table] ?? table);
        if (manifests.some((m) => m.parts !== config.parts && m.parts !== 1)) {
          throw new VrdataError('pipeline', `${runDir} was written with parts: ${previous.parts}, and this pipeline says parts: ${config.parts}. Resume with the same parts, or use a new run folder (--name).`, { exitCode: 2 });
        }
      }
    }
  }
}

interface RoundOptions extends RunPipelineOptions {
  config: PipelineConfig;
  runDir: string;
  engineConfigs: PipelineConfig['engines'];
  fromIndex: number;
  untilIndex: number;
}

/** One pass over the pipeline's stages in one folder; engines are shared between stages and loaded once. */
async function runRound(options: RoundOptions): Promise<RunStageResult[]> {
  const { config, runDir } = options;
  const shared = new Map<string, { binding: EngineBinding; engine?: Promise<Engine> }>();
  const bindingFor = async (engineName: string): Promise<EngineBinding> => {
    let entry = shared.get(engineName);
    if (!entry) {
      const engineConfig = { ...options.engineConfigs[engineName]! };
      if (typeof engineConfig.model === 'string') engineConfig.model = resolveRunPath(engineConfig.model, runDir);
      entry = { binding: await bindEngine(engineConfig) };
      shared.set(engineName, entry);
    }
    const holder = entry;
    return {
      id: holder.binding.id,
      open: async () => {
        holder.engine ??= holder.binding.open();
        const engine = await holder.engine;
        // Stages close what they open; a shared engine is closed once, when the round ends.
        return { ...bindMethods(engine), close: async () => undefined };
      },
    };
  };
  const results: RunStageResult[] = [];
  try {
    for (const stage of config.stages.slice(options.fromIndex, options.untilIndex + 1)) {
      const engines: Record<string, EngineBinding> = {};
      for (const [role, engineName] of Object.entries(stage.engines)) engines[role] = await bindingFor(engineName);
      if (!options.quiet) process.stderr.write(`== ${stage.id}\n`);
      results.push(
        await runStage({
          runDir,
          stage: registry[stage.stage]!,
          id: stage.id,
          params: engineModelParams(stage.params, options.engineConfigs, runDir),
          parts: config.parts,
          shard: options.shard,
          tables: stage.tables,
          engines,
          journal: journalWrapper,
          quiet: options.quiet,
        }),
      );
    }
  } finally {
    for (const entry of shared.values()) {
      if (entry.engine) await (await entry.engine).close().catch(() => undefined);
    }
  }
  return results;
}

/**
 * `engine:<name>` in a parameter stands for that engine's model folder in this round (e.g. a train
 * stage's `base: engine:pi0` fine-tunes whatever pi_theta0 is in round r, after next_round).
 */
function engineModelParams(params: Record<string, unknown>, engines: PipelineConfig['engines'], runDir: string): Record<string, unknown> {
  const out = { ...params };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string' || !value.startsWith('engine:')) continue;
    const engine = engines[value.slice('engine:'.length)];
    if (!engine || typeof engine.model !== 'string') {
      throw new VrdataError('pipeline', `parameter ${key}: ${value} names no engine with a model folder; define it under engines (kind: onnx, model: ...).`, { exitCode: 2 });
    }
    out[key] = resolveRunPath(engine.model, runDir);
  }
  return out;
}
