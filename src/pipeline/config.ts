/**
 * Pipelines are declarative YAML, validated in full before any model is called:
 *
 *   name: small                 # run folder name under runs/ (the CLI's --name wins)
 *   parts: 4                    # hash partitions of sample_id, the unit of resume and of --shard
 *   engines:                    # named engines; stages bind roles to them
 *     q_phi: { kind: onnx, model: data/models/q_phi, threads: 1 }
 *     pi0:   { kind: openai, endpoints: [http://127.0.0.1:8000], model: Qwen3-4B, dialect: auto }
 *   rounds: 1                   # variational EM rounds; round r > 1 runs in <run>/round-<r>/
 *   next_round:                 # engine -> its model for the next round, from the previous round's folder
 *     pi0: run:models/train_pi  #   (pi_theta of round r becomes pi_theta0 of round r + 1)
 *     q_phi: run:models/train_q
 *   stages:
 *     - stage: sample           # a stage from src/stages/index.ts
 *       id: sample              # unique instance id (default: the stage name)
 *       params: { k: 8 }        # checked against the stage's parameter specs
 *       engines: { posterior: q_phi }   # role -> engine name (default: an engine named like the role)
 *       tables: { traces: traces }      # logical -> folder name in the run (default: the same)
 *
 * Unknown keys are rejected everywhere; every table a stage reads must be written by an earlier
 * stage (or already finished in the run folder), and every column it reads must be in that table's
 * schema.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve, isAbsolute } from 'node:path';
import YAML from 'yaml';
import { usageError, VrdataError } from '../util/errors.js';
import { resolveParams } from './params.js';
import type { StageDefinition } from './stage.js';
import type { Schema } from '../io/schema.js';

export interface EngineConfig {
  kind: 'onnx' | 'openai';
  [key: string]: unknown;
}

export interface StageConfig {
  stage: string;
  id: string;
  params: Record<string, unknown>;
  engines: Record<string, string>;
  tables: Record<string, string>;
}

export interface PipelineConfig {
  name: string;
  parts: number;
  rounds: number;
  /** Engine name -> model path (run:…) in the previous round's folder, used from round 2 on. */
  nextRound: Record<string, string>;
  engines: Record<string, EngineConfig>;
  stages: StageConfig[];
  /** Folder of the YAML file: relative paths in engines and params resolve against it. */
  baseDir: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StageRegistry = Record<string, StageDefinition<any>>;

const TOP_KEYS = ['name', 'parts', 'engines', 'stages', 'description', 'rounds', 'next_round'];
const STAGE_KEYS = ['stage', 'id', 'params', 'engines', 'tables'];

/** Reads and validates a pipeline file. `overrides` are `stageId.param=value` strings from the CLI. */
export async function loadPipeline(
  path: string,
  registry: StageRegistry,
  overrides: string[] = [],
): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw usageError('pipeline', `cannot read ${path} (${(err as Error).message}). Give the path of a pipeline YAML file, e.g. pipelines/demo.yaml.`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw usageError('pipeline', `${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parsePipeline(doc, { registry, baseDir: dirname(resolve(path)), where: path, overrides });
}

/** Validates a parsed pipeline document (see the module doc for the format). */
export function parsePipeline(
  doc: unknown,
  options: { registry: StageRegistry; baseDir: string; where: string; overrides?: string[] },
): PipelineConfig {
  const { registry, where } = options;
  const fail = (message: string) => usageError('pipeline', `${where}: ${message}`);
  if (!isObject(doc)) throw fail('the file must be a mapping with name, parts, engines and stages.');
  rejectUnknown(doc, TOP_KEYS, 'top level', fail);
  const parts = doc.parts ?? 1;
  if (typeof parts !== 'number' || !Number.isInteger(parts) || parts < 1) throw fail(`parts must be a positive integer, got ${JSON.stringify(parts)}.`);
  const rounds = doc.rounds ?? 1;
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1) throw fail(`rounds must be a positive integer, got ${JSON.stringify(rounds)}.`);
  const engines: Record<string, EngineConfig> = {};
  if (doc.engines !== undefined) {
    if (!isObject(doc.engines)) throw fail('engines must be a mapping of engine name -> { kind, ... }.');
    for (const [name, config] of Object.entries(doc.engines)) {
      if (!isObject(config) || (config.kind !== 'onnx' && config.kind !== 'openai')) {
        throw fail(`engine "${name}" needs kind: onnx or kind: openai.`);
      }
      engines[name] = config as EngineConfig;
    }
  }
  if (!Array.isArray(doc.stages) || doc.stages.length === 0) throw fail('stages must be a non-empty list.');
  const overrides = parseOverrides(options.overrides ?? [], fail);
  const stages: StageConfig[] = [];
  const ids = new Set<string>();
  for (const [index, entry] of doc.stages.entries()) {
    if (!isObject(entry)) throw fail(`stages[${index}] must be a mapping with at least "stage".`);
    rejectUnknown(entry, STAGE_KEYS, `stages[${index}]`, fail);
    const name = entry.stage;
    if (typeof name !== 'string' || !(name in registry)) {
      throw fail(`stages[${index}]: unknown stage ${JSON.stringify(name)}. Known stages: ${Object.keys(registry).join(', ')}.`);
    }
    const definition = registry[name]!;
    const id = typeof entry.id === 'string' ? entry.id : name;
    if (ids.has(id)) throw fail(`stages[${index}]: id "${id}" is used twice; give each instance its own id.`);
    ids.add(id);
    const given = { ...(isObject(entry.params) ? entry.params : {}), ...(overrides.get(id) ?? {}) };
    overrides.delete(id);
    let params: Record<string, unknown>;
    try {
      params = resolveParams(id, definition.params, given);
    } catch (err) {
      // resolveParams does not know the file: say which one, as every other message here does.
      if (err instanceof VrdataError) throw fail(err.message.replace(/^pipeline: /, ''));
      throw err;
    }
    const roleBindings: Record<string, string> = {};
    const boundEngines = isObject(entry.engines) ? (entry.engines as Record<string, unknown>) : {};
    for (const role of Object.keys(boundEngines)) {
      if (!(role in (definition.engines ?? {}))) throw fail(`stage ${id}: it has no engine role "${role}". Roles: ${Object.keys(definition.engines ?? {}).join(', ') || '(none)'}.`);
    }
    for (const role of Object.keys(definition.engines ?? {})) {
      const engineName = String(boundEngines[role] ?? role);
      if (!(engineName in engines)) throw fail(`stage ${id}: role "${role}" is bound to engine "${engineName}", which is not defined under engines.`);
      roleBindings[role] = engineName;
    }
    const tables: Record<string, string> = {};
    const tableMap = isObject(entry.tables) ? (entry.tables as Record<string, unknown>) : {};
    for (const [logical, physical] of Object.entries(tableMap)) {
      if (!(logical in definition.inputs) && !(logical in definition.outputs)) {
        throw fail(`stage ${id}: it has no table "${logical}" to rename. Its tables: ${[...Object.keys(definition.inputs), ...Object.keys(definition.outputs)].join(', ')}.`);
      }
      tables[logical] = String(physical);
    }
    stages.push({ stage: name, id, params: resolvePaths(params, definition, options.baseDir), engines: roleBindings, tables });
  }
  if (overrides.size > 0) throw fail(`--set names stage ids that are not in the pipeline: ${[...overrides.keys()].join(', ')}.`);
  const resolvedEngines = Object.fromEntries(
    Object.entries(engines).map(([name, config]) => [name, resolveEnginePaths(config, options.baseDir)]),
  );
  const nextRound: Record<string, string> = {};
  if (doc.next_round !== undefined) {
    if (!isObject(doc.next_round)) throw fail('next_round must map engine names to model paths such as run:models/train_pi.');
    for (const [engineName, model] of Object.entries(doc.next_round)) {
      if (!(engineName in engines)) throw fail(`next_round names engine "${engineName}", which is not defined under engines.`);
      if (typeof model !== 'string' || !model.startsWith('run:')) throw fail(`next_round.${engineName} must be a run: path (a model trained in the round), got ${JSON.stringify(model)}.`);
      nextRound[engineName] = model;
    }
  }
  if (rounds > 1 && Object.keys(nextRound).length === 0) throw fail('rounds > 1 needs next_round: which engines take which trained models into the next round.');
  const name = typeof doc.name === 'string' ? doc.name : 'run';
  return { name, parts, rounds, nextRound, engines: resolvedEngines, stages, baseDir: options.baseDir };
}

/**
 * Checks the data flow: each input table is written earlier in the pipeline (or is finished in the
 * run folder: `existing`), and every column read is in the producer's schema.
 */
export function checkDataFlow(config: PipelineConfig, registry: StageRegistry, existing: Map<string, Schema> = new Map()): void {
  const produced = new Map<string, { schema: Schema; by: string }>();
  for (const [table, schema] of existing) produced.set(table, { schema, by: 'an earlier run' });
  for (const stage of config.stages) {
    const definition = registry[stage.stage]!;
    for (const [logical, columns] of Object.entries(definition.inputs)) {
      const table = stage.tables[logical] ?? logical;
      const producer = produced.get(table);
      if (!producer) {
        throw new VrdataError('pipeline', `stage ${stage.id} reads table "${table}", but no earlier stage writes it and the run folder has none. Add the stage that writes it before ${stage.id}, or run it first.`, { exitCode: 2 });
      }
      const names = new Set(producer.schema.map((c) => c.name));
      for (const column of columns) {
        if (!names.has(column)) {
          throw new VrdataError('pipeline', `stage ${stage.id} reads column "${column}" of table "${table}", which ${producer.by} does not write (its columns: ${[...names].join(', ')}).`, { exitCode: 2 });
        }
      }
    }
    for (const [logical, schema] of Object.entries(definition.outputs)) {
      produced.set(stage.tables[logical] ?? logical, { schema, by: `stage ${stage.id}` });
    }
  }
}

function parseOverrides(list: string[], fail: (m: string) => Error): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const item of list) {
    const match = /^([\w-]+)\.([\w-]+)=(.*)$/s.exec(item);
    if (!match) throw fail(`--set ${item}: write it as stageId.param=value, e.g. --set sample.k=4.`);
    const [, id, key, raw] = match;
    let value: unknown = raw;
    try {
      value = YAML.parse(raw!);
    } catch {
      /* keep the raw string */
    }
    const params = out.get(id!) ?? {};
    params[key!.replace(/-/g, '_')] = value;
    out.set(id!, params);
  }
  return out;
}

/** Parameters declared as paths, and .jinja template files, resolve against the pipeline file's folder. */
function resolvePaths(
  params: Record<string, unknown>,
  definition: StageDefinition<any>, // eslint-disable-line @typescript-eslint/no-explicit-any
  baseDir: string,
): Record<string, unknown> {
  const out = { ...params };
  const fix = (v: string) => (v === '' || isAbsolute(v) || /^[a-z]+:/.test(v) ? v : resolve(baseDir, v));
  for (const [key, spec] of Object.entries(definition.params)) {
    const value = out[key];
    // A template parameter names a built-in template or a .jinja file: the file is a path like any other.
    if (!spec.path && typeof value === 'string' && value.endsWith('.jinja')) out[key] = fix(value);
    if (!spec.path) continue;
    if (typeof value === 'string') out[key] = fix(value);
    else if (Array.isArray(value)) out[key] = value.map((v) => fix(String(v)));
  }
  return out;
}

function resolveEnginePaths(config: EngineConfig, baseDir: string): EngineConfig {
  const out: EngineConfig = { ...config };
  for (const key of ['model', 'tokenizer', 'endpoints_file']) {
    const value = out[key];
    if (typeof value === 'string' && (config.kind === 'onnx' || key !== 'model') && !isAbsolute(value) && !value.startsWith('run:')) out[key] = resolve(baseDir, value);
  }
  return out;
}

function rejectUnknown(obj: Record<string, unknown>, allowed: string[], where: string, fail: (m: string) => Error): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw fail(`${where}: unknown key "${key}". Allowed: ${allowed.join(', ')}.`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
