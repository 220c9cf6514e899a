/**
 * Opens a decoder folder in the Hugging Face ONNX layout (config.json, tokenizer.json,
 * tokenizer_config.json, onnx/model.onnx, optional generation_config.json) and checks it, so a bad
 * folder fails once, up front, with one message saying what is wrong and what to do.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { VrdataError } from '../../util/errors.js';
import { SCORE_GRAPH_MAX_BYTES, editGraph } from './scoregraph.js';
import { KV_STEP } from '../../model/qwen3.js';

/** How the session runs. */
export interface SessionOptions {
  /** Threads inside one operator (default 1 under tests, else 0 = onnxruntime's choice). */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** '0' (default): worker threads sleep when idle; spinning burns cores that other work on a busy machine needs. */
  allowSpinning?: '0' | '1';
  device?: 'cpu' | 'cuda';
  /** false: do not add the in-graph scoring outputs (scoring then reads full logits). */
  scoreGraph?: boolean;
  /** false: decode through present outputs even where the graph has kv_step outputs (to compare the two paths). */
  kvStep?: boolean;
  /** The .onnx file inside the folder (default onnx/model.onnx). */
  onnxFile?: string;
}

/** What the engine needs to know about a loaded folder. */
export interface LoadedModel {
  dir: string;
  session: ort.InferenceSession;
  tokenizer: Tokenizer;
  tokenizerJson: Record<string, unknown>;
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  kvType: 'float32' | 'float16';
  /** Element type of the logits output. */
  logitsType: 'float32' | 'float16';
  eosIds: number[];
  padId: number;
  maxPositions: number;
  hasPositionIds: boolean;
  /** Name of a logits-to-keep input (`num_logits_to_keep` or `logits_to_keep`), if the export has one. */
  logitsToKeep: string | null;
  hasUseCacheBranch: boolean;
  /** The session has the scoring outputs of scoregraph.ts (log-probs computed inside onnxruntime). */
  scoreOutputs: boolean;
  /** The graph has kv_step.{i}.key/value outputs (this step's keys and values alone) and its present outputs were dropped in memory: the engine keeps its own caches. */
  kvStep: boolean;
  /** sha256 prefix of config.json and the .onnx file, for engine ids and fingerprints. */
  hash: string;
}

const E = (msg: string, cause?: unknown): VrdataError => new VrdataError('engine', msg, cause === undefined ? {} : { cause });

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try { text = await readFile(path, 'utf8'); } catch (err) {
    throw E(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the model folder needs ${what}`, err);
  }
  try { return JSON.parse(text) as Record<string, unknown>; } catch (err) {
    throw E(`${path} is not valid JSON (${(err as Error).message}); restore the file from the model's source`, err);
  }
}

/** Where onnxruntime-node keeps its native libraries. */
function ortBinaryDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(dirname(require.resolve('onnxruntime-node')));
    const base = join(root, 'bin');
    for (const napi of readdirSync(base)) {
      const dir = join(base, napi, process.platform, process.arch);
      if (existsSync(dir)) return dir;
    }
  } catch { /* fall through */ }
  return null;
}

/** Throws a clear error when the CUDA execution provider's libraries are not installed. */
export function checkCudaAvailable(): void {
  const dir = ortBinaryDir();
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!dir || !existsSync(join(dir, lib))) {
    throw E(`--device cuda: onnxruntime-node's CUDA execution provider (${lib}) is not installed${dir ? ` in ${dir}` : ''}; ` +
      'reinstall it with `npm install onnxruntime-node --onnxruntime-node-install=cuda12` (needs CUDA 12 and cuDNN 9 on the machine), or use --device cpu');
  }
}

function sessionOptions(o: SessionOptions): ort.InferenceSession.SessionOptions {
  const underTest = process.env.VRDATA_TEST === '1';
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: o.intraOpNumThreads ?? (underTest ? 1 : 0),
    interOpNumThreads: o.interOpNumThreads ?? 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: o.allowSpinning ?? '0' }, inter_op: { allow_spinning: o.allowSpinning ?? '0' } } },
  };
  if (o.device === 'cuda') opts.executionProviders = [{ name: 'cuda' }, 'cpu'];
  return opts;
}

async function hashFiles(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) {
    const fh = await open(p, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
      }
    } finally { await fh.close(); }
  }
  return h.digest('hex').slice(0, 16);
}

const asIds = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : typeof v === 'number' ? [v] : []);

/** Loads and checks a model folder. */
export async function loadModelFolder(dirIn: string, o: SessionOptions = {}): Promise<LoadedModel> {
  const dir = resolve(dirIn);
  if (!existsSync(dir)) throw E(`model folder ${dir} does not exist; make one with \`vrdata model init --out ${dirIn}\` or pass another --model`);
  const onnxPath = join(dir, o.onnxFile ?? join('onnx', 'model.onnx'));
  const required = ['config.json', 'tokenizer.json', 'tokenizer_config.json', o.onnxFile ?? join('onnx', 'model.onnx')];
  const missing = required.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw E(`model folder ${dir} lacks ${missing.join(', ')}; a decoder folder in the Hugging Face ONNX layout has ${required.join(', ')}`);

  const config = await readJson(join(dir, 'config.json'), 'config.json');
  const tokJson = await readJson(join(dir, 'tokenizer.json'), 'tokenizer.json');
  const tokConfig = await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json');
  const genPath = join(dir, 'generation_config.json');
  const gen = existsSync(genPath) ? await readJson(genPath, 'generation_config.json') : {};

  const num = (k: string): number => {
    const v = config[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw E(`${join(dir, 'config.json')}: ${k} must be a positive integer, got ${JSON.stringify(v)}; fix config.json`);
    return v;
  };
  const layers = num('num_hidden_layers');
  const heads = num('num_attention_heads');
  const kvHeads = typeof config.num_key_value_heads === 'number' ? num('num_key_value_heads') : heads;
  const headDim = typeof config.head_dim === 'number' ? num('head_dim') : Math.floor(num('hidden_size') / heads);
  const vocabSize = num('vocab_size');

  let tokenizer: Tokenizer;
  try { tokenizer = new Tokenizer(tokJson, tokConfig); } catch (err) {
    throw E(`${join(dir, 'tokenizer.json')} could not be loaded (${(err as Error).message}); restore it from the model's source`, err);
  }
  let maxId = -1;
  for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
  if (maxId >= vocabSize) {
    throw E(`tokenizer and model disagree: tokenizer.json has ids up to ${maxId} but config.json says vocab_size ${vocabSize}; ` +
      'the tokenizer belongs to another model: copy tokenizer.json and tokenizer_config.json from the folder the model was made with');
  }

  if (o.device === 'cuda') checkCudaAvailable();
  const st = await stat(onnxPath);
  if (st.size === 0) throw E(`${onnxPath} is empty; re-export it`);
  // The graph is edited in memory where the file is small enough to rewrite (scoregraph.ts); else
  // scoring falls back to logits and decoding to present.
  const edits = st.size <= SCORE_GRAPH_MAX_BYTES
    ? editGraph(await readFile(onnxPath), { scoring: o.scoreGraph !== false, dropPresent: o.kvStep === false ? null : { layers, kvStep: KV_STEP } })
    : { bytes: null, scoreOutputs: false, droppedPresent: false };
  let session: ort.InferenceSession;
  try {
    session = edits.bytes ? await ort.InferenceSession.create(edits.bytes, sessionOptions(o)) : await ort.InferenceSession.create(onnxPath, sessionOptions(o));
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.slice(0, 300);
    throw E(`onnxruntime could not load ${onnxPath} (${msg}); the file is corrupt or not an ONNX model: re-export it or rerun \`vrdata model init\``, err);
  }

  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  const expectIn = ['input_ids', 'attention_mask'];
  const expectOut = ['logits'];
  for (let i = 0; i < layers; i++) {
    expectIn.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
    const cache = edits.droppedPresent ? KV_STEP : 'present';
    expectOut.push(`${cache}.${i}.key`, `${cache}.${i}.value`);
  }
  const lackIn = expectIn.filter((n) => !inputs.has(n));
  const lackOut = expectOut.filter((n) => !outputs.has(n));
  if (lackIn.length > 0 || lackOut.length > 0) {
    await session.release();
    const lack = [...lackIn.map((n) => `input ${n}`), ...lackOut.map((n) => `output ${n}`)];
    throw E(`${onnxPath} is not a decoder with a KV cache in the Hugging Face ONNX layout: it lacks ${lack.slice(0, 4).join(', ')}${lack.length > 4 ? ` and ${lack.length - 4} more` : ''} ` +
      `(it has inputs ${[...inputs].slice(0, 6).join(', ')}; outputs ${[...outputs].slice(0, 4).join(', ')}); export it with past key values (optimum: --task text-generation-with-past)`);
  }
  const known = new Set([...expectIn, 'position_ids', 'num_logits_to_keep', 'logits_to_keep', 'use_cache_branch']);
  const unknown = session.inputNames.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    await session.release();
    throw E(`${onnxPath} has inputs this engine cannot feed: ${unknown.join(', ')}; it expects input_ids, attention_mask, position_ids and past_key_values.{i}.key/value`);
  }
  const kvMeta = session.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
  const kvTypeRaw = kvMeta && kvMeta.isTensor ? kvMeta.type : 'float32';
  if (kvTypeRaw !== 'float32' && kvTypeRaw !== 'float16') {
    await session.release();
    throw E(`${onnxPath}: the KV cache has type ${kvTypeRaw}; only float32 and float16 caches are supported`);
  }
  const logitsMeta = session.outputMetadata.find((m) => m.name === 'logits');
  const logitsType = logitsMeta && logitsMeta.isTensor && logitsMeta.type === 'float16' ? 'float16' : 'float32';
  const logitsToKeep = inputs.has('num_logits_to_keep') ? 'num_logits_to_keep' : inputs.has('logits_to_keep') ? 'logits_to_keep' : null;

  const eosIds = [...new Set([...asIds(gen.eos_token_id), ...asIds(config.eos_token_id)])];
  const eosTok = typeof tokConfig.eos_token === 'string' ? tokConfig.eos_token : (tokConfig.eos_token as { content?: string } | undefined)?.content;
  const eosFromTok = eosTok ? tokenizer.token_to_id(eosTok) : undefined;
  if (eosFromTok !== undefined && !eosIds.includes(eosFromTok)) eosIds.push(eosFromTok);
  const padTok = typeof tokConfig.pad_token === 'string' ? tokConfig.pad_token : undefined;
  const padId = asIds(gen.pad_token_id)[0] ?? asIds(config.pad_token_id)[0] ?? (padTok ? tokenizer.token_to_id(padTok) : undefined) ?? eosIds[0] ?? 0;
  return {
    dir, session, tokenizer, tokenizerJson: tokJson, layers, kvHeads, headDim, vocabSize,
    kvType: kvTypeRaw, logitsType, eosIds, padId,
    maxPositions: typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : Number.MAX_SAFE_INTEGER,
    hasPositionIds: inputs.has('position_ids'), logitsToKeep, hasUseCacheBranch: inputs.has('use_cache_branch'), scoreOutputs: edits.scoreOutputs,
    kvStep: edits.droppedPresent,
    hash: await hashFiles([join(dir, 'config.json'), onnxPath]),
  };
}
