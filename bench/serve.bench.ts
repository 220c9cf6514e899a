/**
 * The HTTP path's cost, in two measurements made in the same run:
 * 1. tokens/s of the same generation work through `vrdata serve` + the openai engine (client
 *    concurrency 16 = the number of requests) against the embedded engine in-process (one
 *    generate call with all 16), on a seeded Qwen3-style ONNX model; the batches the server's
 *    engine got are printed, to check it batched like the baseline. Goal: at most 10% overhead.
 * 2. requests/s the openai engine sustains against a loopback server that answers instantly
 *    (a fixed vLLM completion body, in its own process), next to autocannon's rate on the same
 *    server with the same request bytes, connection count and no pipelining; with the CPU each
 *    spends per request in this process. Goal: at least 0.8 of autocannon's.
 * BENCH_SERVE_SECONDS sets the length of each rate run (default 5), BENCH_SERVE_ROUNDS the
 * rounds of each measurement (default 3); rounds interleave the two sides, order swapped each
 * round, and ratios are of medians.
 */
import { spawn } from 'node:child_process';
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
import { DEFAULT_GENERATE_OPTIONS, type Engine, type GenerateRequest } from '../src/engines/types.js';

const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_SERVE_ROUNDS ?? 3);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

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
  // Record the batches the server hands the engine, to show the HTTP path batches like the baseline.
  const batches: number[] = [];
  const generate = served.generate.bind(served);
  served.generate = (reqs) => (batches.push(reqs.length), generate(reqs));
  const server = await startServer({ backend: onnxBackend(served, 'bench') });
  const client = await openOpenAIEngine({ endpoints: [server.url], concurrency: work.length });
  // Warm-up both with the whole work, short: JIT, onnxruntime's first runs, and the client's 16
  // connections (opened in a timed round they spread the requests' arrival past the batch window).
  const warm = work.map((r) => ({ ...r, options: { ...r.options, maxTokens: 4 } }));
  await local.generate(warm);
  await client.generate(warm);
  // CPU seconds of this process (onnxruntime's threads included) per 1k tokens, beside wall time:
  // less swayed than tokens/s by other work on a shared machine.
  const cpuPerK = { local: [] as number[], http: [] as number[] };
  const timed = async (engine: Engine): Promise<number> => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const tokens = count(await engine.generate(work));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    cpuPerK[engine === local ? 'local' : 'http'].push((cpu.user + cpu.system) / 1e6 / (tokens / 1000));
    return tokens / seconds;
  };
  // Interleaved, order swapped each round, so a burst of load on a shared machine hits both alike.
  const inProcess: number[] = [];
  const overHttp: number[] = [];
  batches.length = 0;
  const passes0 = { local: local.stats.forwardPasses, served: served.stats.forwardPasses };
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      inProcess.push(await timed(local));
      overHttp.push(await timed(client));
    } else {
      overHttp.push(await timed(client));
      inProcess.push(await timed(local));
    }
  }
  // Same work on both sides: the same forward passes (and no scoring pass on the server).
  const passes = { local: local.stats.forwardPasses - passes0.local, served: served.stats.forwardPasses - passes0.served };
  await client.close();
  await server.close();
  await served.close();
  await local.close();
  await rm(dir, { recursive: true });
  const show = (xs: number[]): string => `${median(xs).toFixed(0)} tokens/s median, best ${Math.max(...xs).toFixed(0)} (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`serve: generation, ${work.length} prompts x n=4 x 64 tokens, 4-layer 256-wide model, 1 onnxruntime thread, ${ROUNDS} rounds interleaved`);
  console.log(`  in-process (baseline)      ${show(inProcess)}; ${median(cpuPerK.local).toFixed(3)} CPU s per 1k tokens`);
  console.log(`  vrdata serve + openai      ${show(overHttp)}; ${median(cpuPerK.http).toFixed(3)} CPU s per 1k tokens (client and server)`);
  console.log(`  ratio ${(median(overHttp) / median(inProcess)).toFixed(3)} of medians, ${(Math.max(...overHttp) / Math.max(...inProcess)).toFixed(3)} of bests (goal >= 0.90); server's engine batches: ${batches.join(' ')} (the baseline: ${work.length} per call)`);
  console.log(`  forward passes: in-process ${passes.local}, served ${passes.served}`);
}

// The instant server runs in its own process, as a real inference server would: in the bench's
// process it would take CPU from whichever client is being measured, and the ratio would mostly
// compare server costs. autocannon and the openai engine run in this process, one at a time.
const INSTANT_SERVER = `
const http = require('node:http');
const body = process.argv[1];
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

/** What one rate run gives: requests per second and this process's CPU microseconds per request. */
interface RateRun {
  rate: number;
  cpuUs: number;
}

async function measure(run: () => Promise<number>): Promise<RateRun> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const requests = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rate: requests / seconds, cpuUs: (cpu.user + cpu.system) / requests };
}

async function requestRate(): Promise<void> {
  const body = JSON.stringify({
    id: 'cmpl-bench', object: 'text_completion', created: 0, model: 'bench',
    choices: [{ index: 0, text: ' 42', logprobs: { text_offset: [0], token_logprobs: [-0.5], tokens: [' 42'], top_logprobs: [{ ' 42': -0.5 }] }, finish_reason: 'stop', stop_reason: null }],
    usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 },
  });
  const child = spawn(process.execPath, ['-e', INSTANT_SERVER, body], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  const url = `http://127.0.0.1:${port}`;
  const connections = 64;
  const options = { ...DEFAULT_GENERATE_OPTIONS, maxTokens: 16, seed: 1 };
  // The very bytes the engine sends, so both clients ask the same of the server.
  const requestBody = JSON.stringify(completionRequest('bench', 'What is 6 times 7?', options));
  const client = await openOpenAIEngine({ endpoints: [url], model: 'bench', dialect: 'vllm', concurrency: connections });

  // Same connections, no pipelining for either (the engine never pipelines).
  const cannon = (seconds: number) => async (): Promise<number> =>
    (await autocannon({ url: `${url}/v1/completions`, method: 'POST', body: requestBody, headers: { 'content-type': 'application/json' }, connections, pipelining: 1, duration: seconds })).requests.total;
  const engine = (seconds: number) => async (): Promise<number> => {
    const until = performance.now() + seconds * 1000;
    let done = 0;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        await client.complete('What is 6 times 7?', options);
        done++;
      }
    }));
    return done;
  };
  await measure(cannon(1)); // warm-up: JIT, connections
  await measure(engine(1));
  const runs: { cannon: RateRun[]; engine: RateRun[] } = { cannon: [], engine: [] };
  // Interleaved, order swapped each round, so a burst of load on a shared machine hits both alike.
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      runs.cannon.push(await measure(cannon(SECONDS)));
      runs.engine.push(await measure(engine(SECONDS)));
    } else {
      runs.engine.push(await measure(engine(SECONDS)));
      runs.cannon.push(await measure(cannon(SECONDS)));
    }
  }
  await client.close();
  child.kill();
  const show = (xs: RateRun[]): string =>
    `${median(xs.map((x) => x.rate)).toFixed(0)} req/s median (${xs.map((x) => x.rate.toFixed(0)).join(', ')}), ${median(xs.map((x) => x.cpuUs)).toFixed(1)} us CPU/req`;
  const ratio = median(runs.engine.map((x) => x.rate)) / median(runs.cannon.map((x) => x.rate));
  console.log(`serve: request rate against an instant server in its own process, ${connections} connections, ${ROUNDS} x ${SECONDS} s each, interleaved`);
  console.log(`  autocannon (baseline)      ${show(runs.cannon)}`);
  console.log(`  openai engine              ${show(runs.engine)}  ratio ${ratio.toFixed(3)} (goal >= 0.80)`);
}

export async function run(): Promise<void> {
  await tokensPerSecond();
  await requestRate();
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
