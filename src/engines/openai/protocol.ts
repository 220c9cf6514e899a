/**
 * The request and response shapes of vLLM's and SGLang's HTTP APIs that the openai engine
 * and `vrdata serve` use, as pure functions (tested against fixtures written from their source):
 * - vLLM: vllm/entrypoints/openai/completion/protocol.py (CompletionRequest, CompletionResponse,
 *   CompletionLogProbs) and the /tokenize request/response (TokenizeCompletionRequest, TokenizeResponse).
 * - SGLang: python/sglang/srt/managers/io_struct.py (GenerateReqInput) and the meta_info of
 *   /generate; input_token_logprobs are [logprob, token_id, text] triples aligned with
 *   input_ids[logprob_start_len:], whose entry 0 is always null
 *   (python/sglang/srt/managers/scheduler_output_processor_mixin.py pads it with None).
 */
import type { Completion, FinishReason, GenerateOptions } from '../types.js';
import { VrdataError } from '../../util/errors.js';

export type Dialect = 'vllm' | 'sglang';

/** vLLM's CompletionRequest, the fields vrdata sends. */
export interface VllmCompletionRequest {
  model: string;
  prompt: string | number[];
  n?: number;
  seed?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_tokens: number;
  stop?: string[];
  include_stop_str_in_output?: boolean;
  echo?: boolean;
  logprobs?: number | null;
  add_special_tokens?: boolean;
}

export interface VllmLogprobs {
  text_offset: number[];
  token_logprobs: (number | null)[];
  tokens: string[];
  top_logprobs: (Record<string, number> | null)[] | null;
}

export interface VllmCompletionResponse {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: number; text: string; logprobs: VllmLogprobs | null; finish_reason: string | null; stop_reason?: string | number | null }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** The body of a generation request: vrdata's options in vLLM's names; logprobs=0 returns each sampled token's log-prob (the token count comes from it). */
export function completionRequest(model: string, prompt: string | number[], options: GenerateOptions): VllmCompletionRequest {
  const body: VllmCompletionRequest = {
    model,
    prompt,
    n: options.n,
    seed: options.seed,
    temperature: options.temperature,
    top_p: options.topP,
    max_tokens: options.maxTokens,
    stop: options.stop,
    include_stop_str_in_output: true,
    logprobs: 0,
    add_special_tokens: false,
  };
  // vLLM reads top_k 0 or -1 as "off"; leave it out when off so servers without top_k accept the body.
  if (options.topK > 0) body.top_k = options.topK;
  return body;
}

/** Reads a completion response into n Completions, ordered by choice index. */
export function parseCompletionResponse(json: unknown, n: number, where: string): Completion[] {
  const res = json as Partial<VllmCompletionResponse>;
  if (!res || !Array.isArray(res.choices)) throw shapeError(where, 'no "choices" array');
  if (res.choices.length !== n) throw shapeError(where, `${res.choices.length} choices for n=${n}`);
  const out: Completion[] = new Array(n);
  for (const choice of res.choices) {
    if (typeof choice.index !== 'number' || choice.index < 0 || choice.index >= n || out[choice.index]) {
      throw shapeError(where, `bad choice index ${String(choice.index)}`);
    }
    if (typeof choice.text !== 'string') throw shapeError(where, `choice ${choice.index} has no text`);
    const completion: Completion = { text: choice.text, finishReason: finishReason(choice.finish_reason, where), tokens: 0 };
    const lp = choice.logprobs?.token_logprobs;
    if (Array.isArray(lp)) {
      completion.tokens = lp.length;
      completion.logprob = lp.reduce<number>((sum, v) => sum + (v ?? 0), 0);
      if (lp.every((v) => typeof v === 'number')) completion.tokenLogprobs = lp as number[];
    } else if (n === 1 && typeof res.usage?.completion_tokens === 'number') {
      completion.tokens = res.usage.completion_tokens;
    }
    out[choice.index] = completion;
  }
  return out;
}

function finishReason(value: unknown, where: string): FinishReason {
  // vLLM reports "abort" for cancelled requests: that is no result at all.
  if (value === 'stop' || value === 'length') return value;
  throw shapeError(where, `finish_reason ${JSON.stringify(value)} (expected "stop" or "length")`);
}

/** vLLM scoring: the whole sequence as token ids, echoed with each token's log-prob and nothing generated. */
export function vllmScoreRequest(model: string, ids: number[]): VllmCompletionRequest {
  return { model, prompt: ids, echo: true, logprobs: 0, max_tokens: 0, temperature: 0, n: 1, add_special_tokens: false };
}

/** The log-probs of the last `count` tokens of an echoed vLLM scoring response (entry 0 of token_logprobs is null). */
export function parseVllmScore(json: unknown, total: number, count: number, where: string): Float32Array {
  const res = json as Partial<VllmCompletionResponse>;
  const lp = res?.choices?.[0]?.logprobs?.token_logprobs;
  if (!Array.isArray(lp)) throw shapeError(where, 'no choices[0].logprobs.token_logprobs (does the server support echo with logprobs?)');
  // Echo with max_tokens=0 returns exactly the prompt's tokens; a longer list means something was generated.
  if (lp.length !== total) throw shapeError(where, `${lp.length} token_logprobs for a ${total}-token prompt`);
  return toLogprobs(lp.slice(total - count), where);
}

/** SGLang's GenerateReqInput for scoring: entry 0 is null, so start one token before the continuation. */
export function sglangScoreRequest(ids: number[], promptTokens: number): Record<string, unknown> {
  if (promptTokens < 1) throw new VrdataError('openai', 'SGLang scoring needs at least one prompt token before the continuation; give a non-empty prompt.');
  return {
    input_ids: ids,
    sampling_params: { max_new_tokens: 0, temperature: 0 },
    return_logprob: true,
    logprob_start_len: promptTokens - 1,
  };
}

/** The continuation's log-probs from SGLang's meta_info.input_token_logprobs ([logprob, id, text] triples). */
export function parseSglangScore(json: unknown, ids: number[], promptTokens: number, where: string): Float32Array {
  const triples = (json as { meta_info?: { input_token_logprobs?: unknown } })?.meta_info?.input_token_logprobs;
  if (!Array.isArray(triples)) throw shapeError(where, 'no meta_info.input_token_logprobs');
  const expected = ids.length - (promptTokens - 1);
  if (triples.length !== expected) throw shapeError(where, `${triples.length} input_token_logprobs, expected ${expected}`);
  const values: (number | null)[] = [];
  for (let i = 1; i < triples.length; i++) {
    const t = triples[i] as [number | null, number, string | null];
    if (!Array.isArray(t) || t[1] !== ids[promptTokens - 1 + i]) throw shapeError(where, `input_token_logprobs[${i}] is not for token ${ids[promptTokens - 1 + i]}`);
    values.push(t[0]);
  }
  return toLogprobs(values, where);
}

/** vLLM's POST /tokenize body; add_special_tokens=false so a prompt and a continuation concatenate cleanly. */
export function tokenizeRequest(model: string, text: string): Record<string, unknown> {
  return { model, prompt: text, add_special_tokens: false };
}

export function parseTokenizeResponse(json: unknown, where: string): number[] {
  const tokens = (json as { tokens?: unknown })?.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) throw shapeError(where, 'no integer "tokens" array');
  return tokens as number[];
}

function toLogprobs(values: (number | null)[], where: string): Float32Array {
  const out = new Float32Array(values.length);
  values.forEach((v, i) => {
    if (typeof v !== 'number') throw shapeError(where, `log-prob ${i} of the continuation is ${JSON.stringify(v)}`);
    out[i] = v;
  });
  return out;
}

function shapeError(where: string, what: string): VrdataError {
  return new VrdataError('openai', `${where} answered in an unexpected shape: ${what}. Is it a vLLM or SGLang server of a supported version (set --dialect)?`);
}
