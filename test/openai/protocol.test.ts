/**
 * Request and response shapes against fixtures written from the servers' source
 * (test/fixtures/openai/README.md names the files): vLLM
 * vllm/entrypoints/openai/completion/protocol.py, SGLang python/sglang/srt/managers/io_struct.py
 * and scheduler_output_processor_mixin.py.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  completionRequest,
  parseCompletionResponse,
  parseSglangScore,
  parseTokenizeResponse,
  parseVllmScore,
  sglangScoreRequest,
  tokenizeRequest,
  vllmScoreRequest,
} from '../../src/engines/openai/protocol.js';
import { DEFAULT_GENERATE_OPTIONS } from '../../src/engines/types.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/openai/${name}`, import.meta.url), 'utf8'));

// Field names of vLLM's CompletionRequest (completion/protocol.py) that vrdata may send.
const VLLM_COMPLETION_FIELDS = new Set([
  'model', 'prompt', 'echo', 'logprobs', 'max_tokens', 'n', 'seed', 'stop', 'temperature', 'top_p', 'top_k',
  'include_stop_str_in_output', 'add_special_tokens', 'prompt_logprobs', 'return_token_ids',
]);
// Field names of SGLang's GenerateReqInput (io_struct.py) and of its sampling_params.
const SGLANG_GENERATE_FIELDS = new Set(['text', 'input_ids', 'sampling_params', 'return_logprob', 'logprob_start_len', 'top_logprobs_num', 'return_text_in_logprobs', 'stream', 'rid']);
const SGLANG_SAMPLING_FIELDS = new Set(['max_new_tokens', 'temperature', 'top_p', 'top_k', 'stop', 'n', 'sampling_seed']);

test('generation requests use only vLLM CompletionRequest fields, with include_stop_str_in_output and no n>1 surprises', () => {
  const body = completionRequest('m', 'Q:', { ...DEFAULT_GENERATE_OPTIONS, n: 4, seed: 9, temperature: 0.7, topP: 0.9, topK: 20, maxTokens: 64, stop: ['</s>'] });
  for (const key of Object.keys(body)) assert.ok(VLLM_COMPLETION_FIELDS.has(key), `unknown field ${key}`);
  assert.deepEqual(body, {
    model: 'm', prompt: 'Q:', n: 4, seed: 9, temperature: 0.7, top_p: 0.9, top_k: 20, max_tokens: 64, stop: ['</s>'],
    include_stop_str_in_output: true, logprobs: 0, add_special_tokens: false,
  });
  assert.equal('top_k' in completionRequest('m', [1, 2], DEFAULT_GENERATE_OPTIONS), false, 'top_k off is left out');
  assert.deepEqual(completionRequest('m', [1, 2], DEFAULT_GENERATE_OPTIONS).prompt, [1, 2]);
});

test('scoring requests: vLLM echo with logprobs=0, max_tokens=0, n=1 and token ids', () => {
  const body = vllmScoreRequest('m', [5, 6, 7]);
  for (const key of Object.keys(body)) assert.ok(VLLM_COMPLETION_FIELDS.has(key) || key === 'temperature', `unknown field ${key}`);
  assert.equal(body.echo, true);
  assert.equal(body.logprobs, 0);
  assert.equal(body.max_tokens, 0);
  assert.equal(body.n, 1);
  assert.deepEqual(body.prompt, [5, 6, 7]);
});

test('scoring requests: SGLang /generate starts logprobs one token before the continuation', () => {
  const body = sglangScoreRequest([9, 10, 17, 28, 220], 3);
  for (const key of Object.keys(body)) assert.ok(SGLANG_GENERATE_FIELDS.has(key), `unknown field ${key}`);
  for (const key of Object.keys(body.sampling_params as object)) assert.ok(SGLANG_SAMPLING_FIELDS.has(key), `unknown sampling field ${key}`);
  assert.deepEqual(body, { input_ids: [9, 10, 17, 28, 220], sampling_params: { max_new_tokens: 0, temperature: 0 }, return_logprob: true, logprob_start_len: 2 });
  assert.throws(() => sglangScoreRequest([1], 0), /non-empty prompt/);
});

test('vLLM completion response: choices by index, token counts, per-token log-probs and their sums from logprobs', () => {
  const out = parseCompletionResponse(fixture('vllm-completion-response.json'), 2, 'w');
  assert.deepEqual(out, [
    { text: ' 4.</s', finishReason: 'stop', tokens: 3, logprob: -1.875, tokenLogprobs: [-0.25, -1.5, -0.125] },
    { text: ' four', finishReason: 'length', tokens: 1, logprob: -2, tokenLogprobs: [-2] },
  ]);
  assert.throws(() => parseCompletionResponse(fixture('vllm-completion-response.json'), 3, 'w'), /2 choices for n=3/);
  const aborted = structuredClone(fixture('vllm-completion-response.json')) as { choices: { finish_reason: string }[] };
  aborted.choices[1]!.finish_reason = 'abort';
  assert.throws(() => parseCompletionResponse(aborted, 2, 'w'), /finish_reason "abort"/);
});

test('vLLM echo scoring response: the continuation is the tail; entry 0 is null', () => {
  const lp = parseVllmScore(fixture('vllm-echo-score-response.json'), 5, 2, 'w');
  assert.deepEqual(Array.from(lp), [-0.5, -0.0625]);
  assert.throws(() => parseVllmScore(fixture('vllm-echo-score-response.json'), 6, 2, 'w'), /5 token_logprobs for a 6-token prompt/);
  // Asking for the null first entry is an error, not a silent zero.
  assert.throws(() => parseVllmScore(fixture('vllm-echo-score-response.json'), 5, 5, 'w'), /log-prob 0 of the continuation is null/);
});

test('SGLang scoring response: triples aligned with input_ids[logprob_start_len:], ids checked', () => {
  const ids = [9, 10, 17, 28, 220];
  assert.deepEqual(Array.from(parseSglangScore(fixture('sglang-generate-score-response.json'), ids, 3, 'w')), [-0.5, -0.0625]);
  assert.throws(() => parseSglangScore(fixture('sglang-generate-score-response.json'), [9, 10, 17, 29, 220], 3, 'w'), /not for token 29/);
});

test('tokenize request and response follow vLLM /tokenize', () => {
  assert.deepEqual(tokenizeRequest('m', 'x'), { model: 'm', prompt: 'x', add_special_tokens: false });
  assert.deepEqual(parseTokenizeResponse(fixture('vllm-tokenize-response.json'), 'w'), [17, 10, 17]);
  assert.throws(() => parseTokenizeResponse({ count: 1 }, 'w'), /no integer "tokens" array/);
});
