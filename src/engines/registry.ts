/**
 * From an engine's configuration (a pipeline's `engines:` entry or CLI flags) to a binding the
 * runner can fingerprint without loading anything, and opens on first use.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineBinding, JournalWrapper } from '../pipeline/runner.js';
import type { Engine } from './types.js';
import { Journal, journaled } from './journal.js';
import { DEFAULT_BATCH_ROWS } from './onnx/batching.js';
import { sha256, sha256File, stableStringify } from '../util/hash.js';
import { VrdataError } from '../util/errors.js';

export interface OnnxEngineConfig {
  kind: 'onnx';
  /** Model folder in the Hugging Face ONNX layout. */
  model: string;
  threads?: number;
  device?: 'cpu' | 'cuda';
  /** Prompts per engine call (they share one batched decode). */
  batch?: number;
}

export interface OpenAIEngineConfig {
  kind: 'openai';
  endpoints?: string[];
  endpoints_file?: string;
  model?: string;
  dialect?: 'vllm' | 'sglang' | 'auto';
  concurrency?: number;
  timeout_ms?: number;
  api_key_env?: string;
  tokenizer?: string;
}

export type EngineConfigInput = OnnxEngineConfig | OpenAIEngineConfig;

const ONNX_KEYS = ['kind', 'model', 'threads', 'device', 'batch'];
const OPENAI_KEYS = ['kind', 'endpoints', 'endpoints_file', 'model', 'dialect', 'concurrency', 'timeout_ms', 'api_key_env', 'tokenizer'];

/** Validates a configuration and returns its binding: `id` names the model's content, not where it is served. */
export async function bindEngine(config: EngineConfigInput | Record<string, unknown>): Promise<EngineBinding & { batch: number }> {
  const kind = config.kind;
  const allowed = kind === 'onnx' ? ONNX_KEYS : kind === 'openai' ? OPENAI_KEYS : undefined;
  if (!allowed) throw new VrdataError('engines', `unknown engine kind ${JSON.stringify(kind)}: use onnx or openai.`, { exitCode: 2 });
  for (const key of Object.keys(config)) {
    if (!allowed.includes(key)) throw new VrdataError('engines', `engine of kind ${kind}: unknown key "${key}". Allowed: ${allowed.join(', ')}.`, { exitCode: 2 });
  }
  if (kind === 'onnx') {
    const c = config as OnnxEngineConfig;
    if (typeof c.model !== 'string' || c.model === '') throw new VrdataError('engines', 'an onnx engine needs model: <model folder>.', { exitCode: 2 });
    const id = `onnx:${await modelFingerprint(c.model)}`;
    return {
      id,
      batch: c.batch ?? 16,
      open: async (): Promise<Engine> => {
        const { openOnnxEngine } = await import('./onnx/engine.js');
        return openOnnxEngine({ modelDir: c.model, threads: c.threads ?? 1, device: c.device ?? 'cpu' });
      },
    };
  }
  const c = config as OpenAIEngineConfig;
  if (!c.endpoints?.length && !c.endpoints_file) throw new VrdataError('engines', 'an openai engine needs endpoints: [url, ...] or endpoints_file.', { exitCode: 2 });
  // The key and the URLs stay out of the id: results do not depend on which server answered.
  const id = `openai:${sha256(stableStringify({ model: c.model ?? '', tokenizer: c.tokenizer ?? '' })).slice(0, 16)}:${c.model ?? 'default'}`;
  return {
    id,
    batch: 1,
    open: async (): Promise<Engine> => {
      const { openOpenAIEngine } = await import('./openai/engine.js');
      return openOpenAIEngine({
        endpoints: c.endpoints,
        endpointsFile: c.endpoints_file,
        model: c.model || undefined,
        dialect: c.dialect ?? 'auto',
        concurrency: c.concurrency,
        timeoutMs: c.timeout_ms,
        apiKeyEnv: c.api_key_env,
        tokenizer: c.tokenizer,
      });
    },
  };
}

/** Content identity of a model folder: hashes of its graph, weights and tokenizer (size + mtime past 256 MB). */
export async function modelFingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['config.json', 'tokenizer.json', 'onnx/model.onnx', 'onnx/model.onnx_data']) {
    const path = join(dir, name);
    let info;
    try {
      info = await stat(path);
    } catch {
      if (name.endsWith('_data')) continue;
      throw new VrdataError('engines', `model folder ${dir} has no ${name}. Give a folder in the Hugging Face ONNX layout (vrdata model init --out DIR makes one).`, { exitCode: 2 });
    }
    parts.push(`${name}:${info.size > 256 * 2 ** 20 ? `${info.size}@${info.mtimeMs}` : await sha256File(path)}`);
  }
  return sha256(parts.join('\n')).slice(0, 16);
}

/**
 * The runner's journal hook: every generate/score call of a stage part goes through a journal
 * file, so a crash loses only calls in flight and re-parsing never re-generates.
 */
export const journalWrapper: JournalWrapper = async (engine, path) => {
  const journal = await Journal.open(path);
  // Embedded: up to 16 requests, one decode batch of samples, per journaled call (an HTTP engine: one request).
  const embedded = !engine.id.startsWith('openai');
  const wrapped = journaled(engine, journal, embedded ? { batchSize: 16, rowsPerCall: DEFAULT_BATCH_ROWS } : { batchSize: 1 });
  // The base engine is shared by every part of the stage: the runner closes it once, at the end.
  const view: Engine = {
    id: wrapped.id,
    generate: (requests) => wrapped.generate(requests),
    score: (requests) => wrapped.score(requests),
    tokenize: (text) => wrapped.tokenize(text),
    close: async () => undefined,
  };
  return { engine: view, close: () => journal.close() };
};
