/**
 * The HTTP path's cost, in two measurements made in the same run:
 * 1. tokens/s of the same generation work through `vrdata serve` + the openai engine (client
 *    concurrency 16) against the embedded engine in-process (one batched generate call), on a
 *    seeded Qwen3-style ONNX model. Goal: at most 10% overhead.
 * 2. requests/s the openai engine sustains against a loopback server that answers instantly
 *    (a fixed vLLM completion body), next to autocannon's rate on the same server with the same
 *    body and connection count. Goal: at least 0.8 of autocannon's.
 * BENCH_SERVE_SECONDS sets the length of the rate runs (default 5). Generation runs alternate,
 * best of 3; the rate runs are one each (autocannon first).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { initModelFolder } from '../src/model/folder.js';
import { openOnnxEngine } from '../src/engines/onnx/engine.js';
import { onnxBackend } from '../src/serve/onnx-backend.js';
import { startServer } from '../src/serve/server.js';
import { openOpenAIEngine } from '../src/engines/openai/engine.js';
import { completionRequest } from '../src/engines/openai/protocol.js';
import { DEFAULT_GENERATE_OPTIONS, type GenerateRequest } from '../src/engines/types.js';

const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 5);

async function tokensPerSecond(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-bench-serve-'));
  await initModelFolder({ out: dir, layers: 4, hidden: 256, heads: 8, kvHeads: 4, seed: 3, initStd: 0.3 });
  const work: GenerateRequest[] = Array.from({ length: 16 }, (_, i) => ({
    prompt: `Question ${i}: what is ${i} times ${i + 7}? Think step by step.\n`,
    options: { ...DEFAULT_GENERATE_OPTIONS, n: 4, seed: 100 + i, temperature: 1, maxTokens: 64 },
  }));
  const count = (out: { tokens: number }[][]): number => out.flat().reduce((sum, c) => sum + c.tokens, 0);
  const local = await openOnnxEngine({ modelDir: dir, threads: 1 });
  const served = await openOnnxEngine({ modelDir: dir, threads: 1 });
  const server = await startServer({ backend: onnxBackend(served, 'bench') });
  const client = await openOpenAIEngine({ endpoints: [server.url], concurrency: 16 });
  await local.generate(work.slice(0, 1)); // warm-up both
  await client.generate(work.slice(0, 1));
  // Alternate the two, best of 3 each, so a burst of load on a shared machine hits both alike.
  let inProcess = 0;
  let overHttp = 0;
  for (let round = 0; round < 3; round++) {
    let t0 = performance.now();
    inProcess = Math.max(inProcess, count(await local.generate(work)) / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    overHttp = Math.max(overHttp, count(await client.generate(work)) / ((performance.now() - t0) / 1000));
  }
  await client.close();
  await server.close();
  await served.close();
  await local.close();
  await rm(dir, { recursive: true });
  console.log(`serve: generation, 16 prompts x n=4 x 64 tokens, 4-layer 256-wide model, 1 onnxruntime thread`);
  console.log(`  in-process (baseline)      ${inProcess.toFixed(0)} tokens/s`);
  console.log(`  vrdata serve + openai      ${overHttp.toFixed(0)} tokens/s  ratio ${(overHttp / inProcess).toFixed(3)} (goal >= 0.90)`);
}

async function requestRate(): Promise<void> {
  const body = JSON.stringify({
    id: 'cmpl-bench', object: 'text_completion', created: 0, model: 'bench',
    choices: [{ index: 0, text: ' 42', logprobs: { text_offset: [0], token_logprobs: [-0.5], tokens: [' 42'], top_logprobs: [{ ' 42': -0.5 }] }, finish_reason: 'stop', stop_reason: null }],
    usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 },
  });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const connections = 64;
  const options = { ...DEFAULT_GENERATE_OPTIONS, maxTokens: 16, seed: 1 };
  const requestBody = JSON.stringify(completionRequest('bench', 'What is 6 times 7?', options));

  const cannon = await autocannon({ url: `${url}/v1/completions`, method: 'POST', body: requestBody, headers: { 'content-type': 'application/json' }, connections, duration: SECONDS });
  const cannonRate = cannon.requests.average;

  const client = await openOpenAIEngine({ endpoints: [url], model: 'bench', dialect: 'vllm', concurrency: connections });
  const until = performance.now() + SECONDS * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < until) {
      await client.complete('What is 6 times 7?', options);
      done++;
    }
  }));
  const clientRate = done / ((performance.now() - t0) / 1000);
  await client.close();
  await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  console.log(`serve: request rate against an instant loopback server, ${connections} connections, ${SECONDS} s each`);
  console.log(`  autocannon (baseline)      ${cannonRate.toFixed(0)} req/s`);
  console.log(`  openai engine              ${clientRate.toFixed(0)} req/s  ratio ${(clientRate / cannonRate).toFixed(3)} (goal >= 0.80)`);
}

export async function run(): Promise<void> {
  await tokensPerSecond();
  await requestRate();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
