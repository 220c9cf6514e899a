/**
 * Writes a model folder in the Hugging Face ONNX layout, the one the engine and transformers.js
 * load: config.json, generation_config.json, tokenizer.json, tokenizer_config.json and
 * onnx/model.onnx (the KV-cache inference graph, weights embedded). The trainer writes its
 * result through writeModelFolder too.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from './graph.js';
import { buildDecoder, qwen3Config, qwen3ParamCount, qwen3ParamShapes, validateConfig, type Qwen3Config } from './qwen3.js';
import { learnMerges, makeTokenizer } from './tokenizer.js';
import { checkWeights, initWeights, readOnnxWeights, type Weights } from './weights.js';
import { VrdataError } from '../util/errors.js';

/** The files of a model folder, relative to it. */
export const MODEL_FILES = {
  config: 'config.json',
  generationConfig: 'generation_config.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  onnx: join('onnx', 'model.onnx'),
} as const;

/** Serialises the inference graph (KV cache, Hugging Face ONNX layout) of `config` with `weights`. */
export function inferenceOnnxBytes(config: Qwen3Config, weights: ReadonlyMap<string, Float32Array>): Uint8Array {
  checkWeights(config, weights);
  const g = new GraphBuilder();
  buildDecoder(g, config, { kvCache: true });
  return g.toBytes({ weights, producer: 'vrdata', docString: 'Qwen3 decoder built by vrdata' });
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/**
 * Writes (or overwrites) a model folder. The tokenizer comes either as JSON objects or from
 * another folder (`tokenizerFrom`, e.g. the base model a trainer started from).
 */
export async function writeModelFolder(options: {
  dir: string;
  config: Qwen3Config;
  weights: ReadonlyMap<string, Float32Array>;
  tokenizer?: { tokenizerJson: unknown; tokenizerConfig: unknown };
  tokenizerFrom?: string;
  eosTokenIds?: number[];
  padTokenId?: number;
}): Promise<void> {
  const { dir, config } = options;
  validateConfig(config);
  let tokJson: unknown, tokConfig: unknown;
  if (options.tokenizer) ({ tokenizerJson: tokJson, tokenizerConfig: tokConfig } = options.tokenizer);
  else if (options.tokenizerFrom) {
    tokJson = JSON.parse(await readFile(join(options.tokenizerFrom, MODEL_FILES.tokenizer), 'utf8'));
    tokConfig = JSON.parse(await readFile(join(options.tokenizerFrom, MODEL_FILES.tokenizerConfig), 'utf8'));
  } else throw new VrdataError('model', 'writeModelFolder needs a tokenizer or tokenizerFrom');
  const bytes = inferenceOnnxBytes(config, options.weights);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const eos = options.eosTokenIds ?? (Array.isArray(config.eos_token_id) ? config.eos_token_id : config.eos_token_id === undefined ? [] : [config.eos_token_id]);
  await writeAtomic(join(dir, MODEL_FILES.onnx), bytes);
  await writeAtomic(join(dir, MODEL_FILES.tokenizer), json(tokJson));
  await writeAtomic(join(dir, MODEL_FILES.tokenizerConfig), json(tokConfig));
  await writeAtomic(join(dir, MODEL_FILES.generationConfig), json({
    eos_token_id: eos, pad_token_id: options.padTokenId ?? config.pad_token_id ?? null, do_sample: true, temperature: 1.0, top_p: 1.0,
  }));
  // config.json last: its presence marks a complete folder.
  await writeAtomic(join(dir, MODEL_FILES.config), json(config));
}

/** Reads config.json and the weights (exactly the config's, by Hugging Face name) of a model folder this project wrote (for the trainer). */
export async function readModelFolder(dir: string): Promise<{ config: Qwen3Config; weights: Weights }> {
  let config: Qwen3Config;
  try {
    config = JSON.parse(await readFile(join(dir, MODEL_FILES.config), 'utf8')) as Qwen3Config;
  } catch (err) {
    throw new VrdataError('model', `cannot read ${join(dir, MODEL_FILES.config)} (${(err as Error).message}); is ${dir} a model folder?`, { cause: err });
  }
  validateConfig(config, join(dir, MODEL_FILES.config));
  const all = await readOnnxWeights(join(dir, MODEL_FILES.onnx));
  checkWeights(config, all, join(dir, MODEL_FILES.onnx));
  // Only the model's weights: the graph's float constants (RoPE frequencies, eps) are not trainable.
  const weights: Weights = new Map();
  for (const name of qwen3ParamShapes(config).keys()) weights.set(name, all.get(name)!);
  return { config, weights };
}

/**
 * Rewrites onnx/model.onnx of a folder this project made with the current inference graph and the
 * same weights (config and tokenizer untouched): folders written before a graph change, such as
 * the kv_step outputs the engine decodes through, get it without retraining.
 */
export async function rebuildModelGraph(dir: string): Promise<{ params: number }> {
  const { config, weights } = await readModelFolder(dir);
  await writeAtomic(join(dir, MODEL_FILES.onnx), inferenceOnnxBytes(config, weights));
  return { params: qwen3ParamCount(config) };
}

/** What `vrdata model init` takes. */
export interface InitModelOptions {
  out: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim?: number;
  intermediate?: number;
  seed: number;
  initStd?: number;
  /** Corpus text to learn merges from, and how many. */
  mergesCorpus?: string;
  merges?: number;
  ropeTheta?: number;
  tie?: boolean;
}

/** Makes a fresh seeded model folder; returns its config and parameter count. */
export async function initModelFolder(o: InitModelOptions): Promise<{ config: Qwen3Config; params: number; vocabSize: number }> {
  const merges = o.mergesCorpus && (o.merges ?? 0) > 0 ? learnMerges(o.mergesCorpus, o.merges!) : [];
  const tok = makeTokenizer({ merges });
  const config = qwen3Config({
    vocabSize: tok.vocabSize, hidden: o.hidden, layers: o.layers, heads: o.heads, kvHeads: o.kvHeads,
    headDim: o.headDim, intermediate: o.intermediate, ropeTheta: o.ropeTheta, tie: o.tie,
  });
  config.eos_token_id = tok.eosTokenIds;
  config.pad_token_id = tok.padTokenId;
  config.bos_token_id = null;
  const weights = initWeights(config, { seed: o.seed, std: o.initStd });
  await writeModelFolder({ dir: o.out, config, weights, tokenizer: tok, eosTokenIds: tok.eosTokenIds, padTokenId: tok.padTokenId });
  let params = 0;
  for (const w of weights.values()) params += w.length;
  return { config, params, vocabSize: tok.vocabSize };
}
