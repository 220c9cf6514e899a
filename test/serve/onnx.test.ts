/**
 * End to end on loopback with the real embedded engine: a seeded Qwen3-style ONNX model served
 * by `vrdata serve`'s server, driven by the openai engine, against the same model in-process.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initModelFolder } from '../../src/model/folder.js';
import { openOnnxEngine, type OnnxEngine } from '../../src/engines/onnx/engine.js';
import { onnxBackend } from '../../src/serve/onnx-backend.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { openOpenAIEngine, type OpenAIEngine } from '../../src/engines/openai/engine.js';
import { DEFAULT_GENERATE_OPTIONS, type GenerateRequest } from '../../src/engines/types.js';

let dir = '';
let local: OnnxEngine;
let served: OnnxEngine;
let server: RunningServer;
let client: OpenAIEngine;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vrdata-serve-onnx-'));
  await initModelFolder({ out: dir, layers: 2, hidden: 64, heads: 4, kvHeads: 2, seed: 7, initStd: 0.5 });
  local = await openOnnxEngine({ modelDir: dir, threads: 1 });
  served = await openOnnxEngine({ modelDir: dir, threads: 1 });
  server = await startServer({ backend: onnxBackend(served, 'pi0') });
  client = await openOpenAIEngine({ endpoints: [server.url] });
});
after(async () => {
  await client.close();
  await server.close();
  await local.close();
  await rm(dir, { recursive: true });
});

const requests: GenerateRequest[] = [
  { prompt: 'Question: 2+3=?\nThink:', options: { ...DEFAULT_GENERATE_OPTIONS, n: 3, seed: 11, maxTokens: 24, temperature: 1 } },
  { prompt: 'x', options: { ...DEFAULT_GENERATE_OPTIONS, n: 1, seed: 4, maxTokens: 16, temperature: 0.7, topP: 0.9, topK: 20, stop: ['a'] } },
  { prompt: 'Greedy:', options: { ...DEFAULT_GENERATE_OPTIONS, n: 2, seed: 0, maxTokens: 12, temperature: 0 } },
];

test('same seeds give the same texts, token counts and log-probs as the engine in-process', async () => {
  assert.equal(client.model, 'pi0');
  const scoredBefore = served.stats.scoredTokens;
  for (const req of requests) {
    const [viaHttp] = await client.generate([req]);
    const [direct] = await local.generate([req]);
    assert.deepEqual(viaHttp!.map((c) => c.text), direct!.map((c) => c.text));
    assert.deepEqual(viaHttp!.map((c) => [c.finishReason, c.tokens]), direct!.map((c) => [c.finishReason, c.tokens]));
    // The engine reports each sampled token's log-prob; serve passes them on (JSON keeps doubles
    // exactly) and the client sums them in the same order: equal bit for bit.
    assert.deepEqual(viaHttp!.map((c) => c.logprob), direct!.map((c) => c.logprob));
  }
  assert.equal(served.stats.scoredTokens, scoredBefore, 'serve ran a scoring pass the engine made unnecessary');
});

test('scores through HTTP equal the in-process scores bit for bit', async () => {
  const pairs = [
    { prompt: 'Question: 2+3=?\n', continuation: 'Think: 2 plus 3 is 5.' },
    { prompt: 'a', continuation: 'bcd' },
  ];
  for (const p of pairs) {
    const [viaHttp] = await client.score([p]);
    const [direct] = await local.score([p]);
    assert.deepEqual(viaHttp!.tokens, direct!.tokens);
    assert.deepEqual(Array.from(viaHttp!.logprobs), Array.from(direct!.logprobs));
  }
  assert.deepEqual(await client.tokenize('Think: 5'), await local.tokenize('Think: 5'));
});

test('an engine without per-token log-probs gets them from one scoring pass per batch', async () => {
  // The same engine with tokenLogprobs stripped, as an engine that reports only sums would answer.
  const sumsOnly = Object.create(served) as OnnxEngine;
  sumsOnly.generate = async (reqs) => (await served.generate(reqs)).map((cs) => cs.map((c) => ({ ...c, tokenLogprobs: undefined as unknown as number[] })));
  const backend = onnxBackend(sumsOnly, 'pi0');
  const before = served.stats.scoredTokens;
  const [a, b] = await Promise.all(requests.slice(0, 2).map((r) => backend.generate(r.prompt, r.options, true)));
  const direct = await local.generate(requests.slice(0, 2));
  [a!, b!].forEach((cs, i) =>
    cs.forEach((c, j) => {
      assert.equal(c.tokenLogprobs.length, c.tokenIds.length);
      const sum = c.tokenLogprobs.reduce((s, v) => s + v, 0);
      // Recomputed by a scoring pass: equal up to float32 noise, not bit for bit.
      assert.ok(Math.abs(sum - direct[i]![j]!.logprob!) < 1e-3 * Math.max(1, c.tokens), `${sum} vs ${direct[i]![j]!.logprob}`);
    }),
  );
  assert.ok(served.stats.scoredTokens > before, 'no scoring pass ran');
  // Without logprobs asked for, nothing is scored.
  const mid = served.stats.scoredTokens;
  const [plain] = await backend.generate(requests[0]!.prompt, requests[0]!.options, false).then((cs) => [cs]);
  assert.deepEqual(plain!.map((c) => c.tokenLogprobs), plain!.map(() => []));
  assert.equal(served.stats.scoredTokens, mid);
});
