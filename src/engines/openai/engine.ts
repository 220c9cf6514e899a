/**
 * The `openai` engine: vLLM / SGLang / `vrdata serve` over HTTP (DESIGN.md, "Engines").
 * Generation goes through /v1/completions; scoring through vLLM's echoed /v1/completions or
 * SGLang's /generate (one sequence per request, never with n>1, so it never shares a batch
 * slot with sampling); tokenization through a local tokenizer.json when given, else the
 * server's /tokenize. The API key is read from the environment variable named by `apiKeyEnv`
 * at open time and lives only in request headers: never in `id`, errors or logs.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { Completion, Engine, GenerateOptions, GenerateRequest, ScoreRequest, ScoreResult } from '../types.js';
import { DEFAULT_RETRY_POLICY, systemClock, type Clock, type RetryPolicy } from '../ratelimit.js';
import { VrdataError, usageError } from '../../util/errors.js';
import { httpJson } from './http.js';
import { EndpointPool, type Endpoint } from './pool.js';
import {
  completionRequest,
  parseCompletionResponse,
  parseSglangScore,
  parseTokenizeResponse,
  parseVllmScore,
  sglangScoreRequest,
  tokenizeRequest,
  vllmScoreRequest,
  type Dialect,
} from './protocol.js';

export interface OpenAIEngineOptions {
  /** Base URLs (`http://host:port`, a trailing /v1 is accepted). */
  endpoints?: string[];
  /** A file with one URL per line (blank lines and # comments ignored); added to `endpoints`. */
  endpointsFile?: string;
  /** The served model's name; default: the first id of GET /v1/models. */
  model?: string;
  /** 'auto' asks GET /v1/models: owned_by "sglang" means SGLang, anything else vLLM's API. */
  dialect?: Dialect | 'auto';
  /** Requests in flight per endpoint (default 32). */
  concurrency?: number;
  /** Per attempt (default 600 000 ms: long reasoning traces take minutes). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Name of the environment variable holding the API key (sent as a Bearer token). */
  apiKeyEnv?: string;
  /** A local tokenizer.json (tokenizer_config.json beside it is read when present). */
  tokenizer?: string;
  clock?: Clock;
  random?: () => number;
}

/** The engine plus what the HTTP layer adds: token-id prompts, the dialect, and counters. */
export interface OpenAIEngine extends Engine {
  readonly dialect: Dialect;
  readonly model: string;
  /** Generates for one prompt given as text or token ids. */
  complete(prompt: string | number[], options: GenerateOptions): Promise<Completion[]>;
  /** Per-endpoint attempt counts and total retries. */
  stats(): { retries: number; endpoints: { url: string; ok: number; transient: number; failed: number }[] };
}

/** Reads the endpoint list: `endpoints` plus the lines of `endpointsFile`; at least one is required. */
export function resolveEndpoints(options: Pick<OpenAIEngineOptions, 'endpoints' | 'endpointsFile'>): string[] {
  const urls = [...(options.endpoints ?? [])];
  if (options.endpointsFile) {
    let text: string;
    try {
      text = readFileSync(options.endpointsFile, 'utf8');
    } catch (err) {
      throw usageError('openai', `cannot read the endpoints file ${options.endpointsFile}: ${(err as Error).message}. Give a file with one URL per line.`);
    }
    text.split('\n').forEach((line, i) => {
      const url = line.replace(/#.*/, '').trim();
      if (!url) return;
      if (!/^https?:\/\//.test(url)) throw usageError('openai', `${options.endpointsFile} line ${i + 1}: "${url}" is not an http(s) URL.`);
      urls.push(url);
    });
  }
  if (urls.length === 0) throw usageError('openai', 'no endpoints: give --endpoint URL (repeatable) or --endpoints-file FILE.');
  for (const u of urls) {
    try {
      new URL(u);
    } catch {
      throw usageError('openai', `"${u}" is not a URL; give e.g. http://127.0.0.1:8000.`);
    }
  }
  return urls;
}

/** Opens the engine: resolves endpoints, the API key, the model name and the dialect (one request each when not given). */
export async function openOpenAIEngine(options: OpenAIEngineOptions): Promise<OpenAIEngine> {
  const urls = resolveEndpoints(options);
  const clock = options.clock ?? systemClock;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...(options.retry ?? {}) };
  const timeoutMs = options.timeoutMs ?? 600_000;
  let headers: Record<string, string> | undefined;
  if (options.apiKeyEnv) {
    const key = process.env[options.apiKeyEnv];
    if (!key) throw usageError('openai', `the environment variable ${options.apiKeyEnv} (named by apiKeyEnv) is empty or unset; export the API key in it.`);
    headers = { authorization: `Bearer ${key}` };
  }
  const pool = new EndpointPool({ urls, concurrency: options.concurrency ?? 32, policy, clock, random: options.random });
  const call = (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> =>
    pool.run(async (ep: Endpoint) => (await httpJson({ pool: ep.http, where: `${method} ${ep.origin}${path}`, path, method, body, headers, timeoutMs })).json);

  try {
    let model = options.model;
    let dialect = options.dialect && options.dialect !== 'auto' ? options.dialect : undefined;
    if (!model || !dialect) {
      const models = (await call('GET', '/v1/models')) as { data?: { id?: string; owned_by?: string }[] };
      const first = models?.data?.[0];
      if (!model) {
        if (typeof first?.id !== 'string') throw new VrdataError('openai', `${urls[0]}/v1/models lists no model; pass the model name explicitly.`);
        model = first.id;
      }
      dialect ??= first?.owned_by === 'sglang' ? 'sglang' : 'vllm';
    }
    const tokenizer = options.tokenizer ? loadTokenizer(options.tokenizer) : undefined;
    return buildEngine({ pool, call, model, dialect, tokenizer });
  } catch (err) {
    await pool.close();
    throw err;
  }
}

function loadTokenizer(path: string): Tokenizer {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as object;
    let config: object = {};
    try {
      config = JSON.parse(readFileSync(join(dirname(path), 'tokenizer_config.json'), 'utf8')) as object;
    } catch {
      // tokenizer_config.json is optional: it only adds chat-template and cleanup settings.
    }
    return new Tokenizer(json, config);
  } catch (err) {
    throw usageError('openai', `cannot load the tokenizer ${path}: ${(err as Error).message}. Give the model's tokenizer.json.`);
  }
}

function buildEngine(parts: {
  pool: EndpointPool;
  call: (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<unknown>;
  model: string;
  dialect: Dialect;
  tokenizer: Tokenizer | undefined;
}): OpenAIEngine {
  const { pool, call, model, dialect, tokenizer } = parts;

  const tokenize = async (text: string): Promise<number[]> => {
    if (tokenizer) return tokenizer.encode(text, { add_special_tokens: false }).ids;
    return parseTokenizeResponse(await call('POST', '/tokenize', tokenizeRequest(model, text)), `${model} POST /tokenize`);
  };

  const complete = async (prompt: string | number[], options: GenerateOptions): Promise<Completion[]> => {
    const json = await call('POST', '/v1/completions', completionRequest(model, prompt, options));
    return parseCompletionResponse(json, options.n, `${model} POST /v1/completions`);
  };

  const scoreOne = async (req: ScoreRequest): Promise<ScoreResult> => {
    // Tokenized apart and concatenated, so the continuation's tokens are exactly its own.
    const [promptIds, contIds] = await Promise.all([tokenize(req.prompt), tokenize(req.continuation)]);
    const ids = [...promptIds, ...contIds];
    if (contIds.length === 0) return { tokens: [], logprobs: new Float32Array(0) };
    if (dialect === 'sglang') {
      const json = await call('POST', '/generate', sglangScoreRequest(ids, promptIds.length));
      return { tokens: contIds, logprobs: parseSglangScore(json, ids, promptIds.length, `${model} POST /generate`) };
    }
    if (promptIds.length === 0) throw new VrdataError('openai', 'vLLM scoring cannot give the first token of a sequence a log-prob; give a non-empty prompt.');
    const json = await call('POST', '/v1/completions', vllmScoreRequest(model, ids));
    return { tokens: contIds, logprobs: parseVllmScore(json, ids.length, contIds.length, `${model} POST /v1/completions (echo)`) };
  };

  return {
    // The model name only: the journal keys on it, so results stay valid across endpoints; no URL, no key.
    id: `openai:${model}`,
    dialect,
    model,
    complete,
    generate: (requests: GenerateRequest[]) => Promise.all(requests.map((r) => complete(r.prompt, r.options))),
    score: (requests: ScoreRequest[]) => Promise.all(requests.map(scoreOne)),
    tokenize,
    stats: () => ({
      retries: pool.retries,
      endpoints: pool.endpoints.map((ep) => ({ url: ep.url.origin, ...ep.counts })),
    }),
    close: () => pool.close(),
  };
}
