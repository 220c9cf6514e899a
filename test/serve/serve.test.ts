/**
 * `vrdata serve` answers in vLLM's shapes: every response is compared, key by key and type by
 * type, with fixtures written from vLLM's vllm/entrypoints/openai/completion/protocol.py
 * (test/fixtures/openai/README.md). Served here: the exact toy model (the ONNX engine's own
 * end-to-end check lives in test/openai/engine.test.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer } from '../../src/serve/server.js';
import { backendFromEngine } from '../../src/serve/backend.js';
import { ToyEngine } from '../fixtures/openai/toy-engine.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/openai/${name}`, import.meta.url), 'utf8'));
const toy = new ToyEngine();
const server = await startServer({ backend: backendFromEngine(toy, 'toy-model') });
after(() => server.close());

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

/** The same keys at every level, and the same JSON types (null matches anything the fixture leaves null). */
function assertSameShape(actual: unknown, expected: unknown, path = '$'): void {
  if (expected === null || actual === null) return;
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    if (expected.length > 0) for (const [i, item] of (actual as unknown[]).entries()) assertSameShape(item, expected[Math.min(i, expected.length - 1)], `${path}[${i}]`);
    return;
  }
  if (typeof expected === 'object') {
    assert.equal(typeof actual, 'object', `${path}: expected an object`);
    // Objects keyed by token text (top_logprobs entries) only need string -> number.
    if (path.endsWith(']') && path.includes('top_logprobs')) {
      for (const v of Object.values(actual as object)) assert.equal(typeof v, 'number', path);
      return;
    }
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected as object).sort(), `${path}: keys`);
    for (const key of Object.keys(expected as object)) assertSameShape((actual as any)[key], (expected as any)[key], `${path}.${key}`);
    return;
  }
  assert.equal(typeof actual, typeof expected, `${path}: type`);
}

test('GET /health and /v1/models', async () => {
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as any;
  assertSameShape(models, fixture('vllm-models-response.json'));
  assert.equal(models.data[0].id, 'toy-model');
});

test('POST /v1/completions with n, seed and logprobs=0 has vLLM\'s shape and the engine\'s results', async () => {
  const { status, json } = await post('/v1/completions', { model: 'toy-model', prompt: 'Q: 2+2=', n: 2, seed: 3, temperature: 0.8, top_p: 0.95, top_k: 50, max_tokens: 16, stop: ['\n'], include_stop_str_in_output: true, logprobs: 0 });
  assert.equal(status, 200);
  assertSameShape(json, fixture('vllm-completion-response.json'));
  const direct = await toy.generateDetailed('Q: 2+2=', { n: 2, seed: 3, temperature: 0.8, topP: 0.95, topK: 50, maxTokens: 16, stop: ['\n'] });
  assert.deepEqual(json.choices.map((c: any) => c.text), direct.map((d) => d.text));
  assert.deepEqual(json.choices.map((c: any) => c.logprobs.token_logprobs), direct.map((d) => d.tokenLogprobs));
  assert.equal(json.usage.completion_tokens, direct[0]!.tokenIds.length + direct[1]!.tokenIds.length);
  assert.equal(json.usage.prompt_tokens, 7);
});

test('POST /v1/completions echo + max_tokens=0 scores a token-id prompt, first entry null', async () => {
  const ids = await toy.tokenize('2+2= 4');
  const { status, json } = await post('/v1/completions', { model: 'toy-model', prompt: ids, echo: true, logprobs: 0, max_tokens: 0 });
  assert.equal(status, 200);
  assertSameShape(json, fixture('vllm-echo-score-response.json'));
  const lp = json.choices[0].logprobs.token_logprobs;
  assert.equal(lp.length, ids.length);
  assert.equal(lp[0], null);
  assert.deepEqual(lp.slice(1), Array.from(await toy.scoreIds(ids)));
  assert.equal(json.choices[0].text, '2+2= 4');
});

test('a list of prompts gives n choices per prompt, indexed in order', async () => {
  const { json } = await post('/v1/completions', { prompt: ['a', [98]], n: 2, seed: 1, max_tokens: 3 });
  assert.deepEqual(json.choices.map((c: any) => c.index), [0, 1, 2, 3]);
  const fromIds = await toy.generateDetailed([98], { n: 2, seed: 1, temperature: 1, topP: 1, topK: 0, maxTokens: 3, stop: [] });
  assert.equal(json.choices[2].text, fromIds[0]!.text);
  assert.equal(json.choices[0].logprobs, null, 'no logprobs unless asked');
});

test('POST /tokenize has vLLM\'s shape', async () => {
  const { json } = await post('/tokenize', { model: 'toy-model', prompt: 'hi!', add_special_tokens: false });
  assertSameShape(json, fixture('vllm-tokenize-response.json'));
  assert.deepEqual(json.tokens, [104, 105, 33]);
});

test('bad requests get vLLM-style errors with the offending parameter', async () => {
  const wrongModel = await post('/v1/completions', { model: 'other', prompt: 'x' });
  assert.equal(wrongModel.status, 404);
  assert.match(wrongModel.json.error.message, /The model `other` does not exist/);
  const badN = await post('/v1/completions', { prompt: 'x', n: 0 });
  assert.equal(badN.status, 400);
  assert.equal(badN.json.error.param, 'n');
  const noPrompt = await post('/v1/completions', { max_tokens: 1 });
  assert.equal(noPrompt.json.error.param, 'prompt');
  const stream = await post('/v1/completions', { prompt: 'x', stream: true });
  assert.equal(stream.status, 400);
  const notJson = await fetch(`${server.url}/v1/completions`, { method: 'POST', body: '{' });
  assert.equal(notJson.status, 400);
  assert.equal((await fetch(`${server.url}/nope`)).status, 404);
  assert.ok((server.counts.get('POST /v1/completions') ?? 0) >= 5);
});
