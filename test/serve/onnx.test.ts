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
let server: RunningServer;
let client: OpenAIEngine;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vrdata-serve-onnx-'));
  await initModelFolder({ out: dir, layers: 2, hidden: 64, heads: 4, kvHeads: 2, seed: 7, initStd: 0.5 });
  local = await openOnnxEngine({ modelDir: dir, threads: 1 });
  const served = await openOnnxEngine({ modelDir: dir, threads: 1 });
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
  for (const req of requests) {
    const [viaHttp] = await client.generate([req]);
    const [direct] = await local.generate([req]);
    assert.deepEqual(viaHttp!.map((c) => c.text), direct!.map((c) => c.text));
    assert.deepEqual(viaHttp!.map((c) => [c.finishReason, c.tokens]), direct!.map((c) => [c.finishReason, c.tokens]));
    // The server recomputes per-token log-probs with a scoring pass (the engine reports only their
    // sum), so the sums agree to float32 noise rather than bit for bit.
    viaHttp!.forEach((c, i) => assert.ok(Math.abs(c.logprob! - direct![i]!.logprob!) < 1e-3 * Math.max(1, c.tokens), `${c.logprob} vs ${direct![i]!.logprob}`));
  }
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
