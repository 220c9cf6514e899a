/**
 * The openai engine end to end on loopback: against `vrdata serve`, a SGLang-shaped fixture,
 * several endpoints, a fault-injecting proxy, and a run killed halfway and resumed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { openOpenAIEngine } from '../../src/engines/openai/engine.js';
import { Journal, journaled } from '../../src/engines/journal.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { backendFromEngine, type ServeBackend } from '../../src/serve/backend.js';
import { DEFAULT_GENERATE_OPTIONS } from '../../src/engines/types.js';
import { ToyEngine } from '../fixtures/openai/toy-engine.js';
import { startSglangFixture } from '../fixtures/openai/sglang-server.js';
import { startFaultProxy } from '../fixtures/openai/fault-proxy.js';
import { resumeRequests, scoreRequests } from '../fixtures/openai/requests.js';

const toy = new ToyEngine();
const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(backend: ServeBackend = backendFromEngine(new ToyEngine(), 'toy')): Promise<RunningServer> {
  const s = await startServer({ backend });
  servers.push(s);
  return s;
}

/** A backend whose generate takes `ms` longer, so work is in flight long enough to observe. */
function slowBackend(ms: number): ServeBackend {
  const b = backendFromEngine(new ToyEngine(), 'toy');
  return { ...b, generate: async (p, o) => { await new Promise((r) => setTimeout(r, ms)); return b.generate(p, o); } };
}

const generateCount = (s: RunningServer): number => s.counts.get('POST /v1/completions') ?? 0;

test('through vrdata serve, the same seeds give the same texts and log-probs as in-process', async () => {
  const s = await serve();
  const engine = await openOpenAIEngine({ endpoints: [`${s.url}/v1`] });
  assert.equal(engine.dialect, 'vllm', 'owned_by "vrdata" speaks vLLM');
  assert.equal(engine.model, 'toy');
  const reqs = resumeRequests(12);
  assert.deepEqual(await engine.generate(reqs), await toy.generate(reqs));
  const scores = scoreRequests(6);
  assert.deepEqual(await engine.score(scores), await toy.score(scores));
  assert.deepEqual(await engine.tokenize('Wait,'), await toy.tokenize('Wait,'));
  assert.deepEqual(await engine.complete([81, 58], { ...DEFAULT_GENERATE_OPTIONS, seed: 5, maxTokens: 8 }), (await toy.generate([{ prompt: 'Q:', options: { ...DEFAULT_GENERATE_OPTIONS, seed: 5, maxTokens: 8 } }]))[0]);
  await engine.close();
});

test('SGLang dialect: detected from owned_by, scores through /generate with the right logprob_start_len', async () => {
  const s = await serve();
  const sg = await startSglangFixture(new ToyEngine(), 'toy', s.url);
  servers.push(sg);
  const engine = await openOpenAIEngine({ endpoints: [sg.url] });
  assert.equal(engine.dialect, 'sglang');
  const scores = scoreRequests(4);
  assert.deepEqual(await engine.score(scores), await toy.score(scores));
  const body = sg.generateBodies[0]!;
  const promptLen = (await toy.tokenize(scores[0]!.prompt)).length;
  assert.equal(body.logprob_start_len, promptLen - 1);
  assert.deepEqual(body.sampling_params, { max_new_tokens: 0, temperature: 0 });
  // Generation still goes through /v1/completions (forwarded by the fixture).
  const reqs = resumeRequests(3);
  assert.deepEqual(await engine.generate(reqs), await toy.generate(reqs));
  await engine.close();
});

test('the API key is sent as a bearer token but never appears in the id, stats or errors', async () => {
  const secret = 'sk-test-0123456789abcdef';
  process.env.VRDATA_TEST_API_KEY = secret;
  const seen: string[] = [];
  const guard = http.createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    res.writeHead(req.url === '/v1/models' ? 200 : 401, { 'content-type': 'application/json' });
    res.end(req.url === '/v1/models' ? '{"object":"list","data":[{"id":"m","owned_by":"vllm"}]}' : '{"error":{"message":"bad key"}}');
  });
  await new Promise<void>((r) => guard.listen(0, '127.0.0.1', r));
  servers.push({ close: () => new Promise<void>((r) => { guard.close(() => r()); guard.closeAllConnections(); }) });
  const engine = await openOpenAIEngine({ endpoints: [`http://127.0.0.1:${(guard.address() as AddressInfo).port}`], apiKeyEnv: 'VRDATA_TEST_API_KEY' });
  const err = await engine.generate(resumeRequests(1)).then(() => null, (e: unknown) => e as Error);
  assert.ok(err);
  assert.match(err.message, /HTTP 401/);
  assert.deepEqual(seen, [`Bearer ${secret}`, `Bearer ${secret}`]);
  for (const text of [engine.id, JSON.stringify(engine.stats()), err.message, String(err.stack), JSON.stringify(engine)]) assert.ok(!text.includes(secret), `key leaked into: ${text.slice(0, 80)}`);
  await engine.close();
  delete process.env.VRDATA_TEST_API_KEY;
  await assert.rejects(openOpenAIEngine({ endpoints: ['http://127.0.0.1:9'], apiKeyEnv: 'VRDATA_TEST_API_KEY' }), /VRDATA_TEST_API_KEY .* is empty or unset/);
});

test('several endpoints: work spreads to the least loaded, and a dead endpoint is routed around', async () => {
  const a = await serve(slowBackend(15));
  const b = await serve(slowBackend(15));
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-ep-'));
  const file = join(dir, 'endpoints.txt');
  await writeFile(file, `# two servers\n${a.url}\n\n${b.url}  # second\n`);
  const engine = await openOpenAIEngine({ endpointsFile: file, model: 'toy', dialect: 'vllm', concurrency: 2 });
  const reqs = resumeRequests(16);
  assert.deepEqual(await engine.generate(reqs), await toy.generate(reqs));
  // Both endpoints serve at the same speed, so least-loaded dispatch splits the work about evenly; the
  // exact 8/8 split depends on timer jitter (it flaked once under heavy load), so allow a small skew.
  assert.equal(generateCount(a) + generateCount(b), 16);
  assert.ok(Math.min(generateCount(a), generateCount(b)) >= 4, `split ${generateCount(a)}/${generateCount(b)}`);
  await engine.close();

  // Port 9 (discard) refuses connections on loopback: its attempts fail over to the live server.
  const withDead = await openOpenAIEngine({ endpoints: ['http://127.0.0.1:9', a.url], model: 'toy', dialect: 'vllm', retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  assert.deepEqual(await withDead.generate(reqs.slice(0, 6)), await toy.generate(reqs.slice(0, 6)));
  const dead = withDead.stats().endpoints[0]!;
  assert.ok(dead.transient > 0 && dead.ok === 0);
  await withDead.close();
  await rm(dir, { recursive: true });
  await assert.rejects(openOpenAIEngine({ endpointsFile: join(dir, 'missing.txt') }), /cannot read the endpoints file/);
});

test('fault injection at 20% of requests: drops, 500, 429, stalls, truncated bodies -> identical results', async () => {
  const s = await serve();
  const proxy = await startFaultProxy({ target: s.url, rate: 0.2, seed: 42, stallMs: 2000 });
  servers.push(proxy);
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-faults-'));
  const journal = await Journal.open(join(dir, 'journal.jsonl'));
  const engine = await openOpenAIEngine({
    endpoints: [proxy.url], model: 'toy', dialect: 'vllm', concurrency: 8, timeoutMs: 400,
    retry: { baseDelayMs: 5, maxDelayMs: 40, cooldownMs: 20, maxAttempts: 12 },
  });
  const wrapped = journaled(engine, journal);
  const gen = resumeRequests(60);
  const sc = scoreRequests(30);
  const [outGen, outScore] = await Promise.all([wrapped.generate(gen), wrapped.score(sc)]);
  assert.deepEqual(outGen, await toy.generate(gen));
  assert.deepEqual(outScore, await toy.score(sc));
  for (const kind of ['drop', '500', '429', 'stall', 'truncate'] as const) assert.ok(proxy.counts[kind] > 0, `no ${kind} fault was injected: ${JSON.stringify(proxy.counts)}`);
  assert.ok(engine.stats().retries >= proxy.counts.drop + proxy.counts['500'] + proxy.counts['429'] + proxy.counts.stall);
  assert.deepEqual(wrapped.stats, { cached: 0, sent: 90, failed: 0 });
  assert.equal(journal.size, 90);
  await journal.close();
  await engine.close();
  await rm(dir, { recursive: true });
});

test('a run killed halfway and restarted sends only the missing requests (counted at the server)', async () => {
  const s = await serve(slowBackend(25));
  const dir = await mkdtemp(join(tmpdir(), 'vrdata-resume-'));
  const path = join(dir, 'journal.jsonl');
  const n = 40;
  const run = (onProgress?: (child: ReturnType<typeof spawn>) => void) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/openai/journal-run.ts', s.url, path, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c));
      const timer = onProgress ? setInterval(() => onProgress(child), 5) : undefined;
      child.on('exit', (code, signal) => {
        if (timer) clearInterval(timer);
        resolve({ code, signal, out });
      });
    });
  const baseline = generateCount(s);
  const killed = await run((child) => {
    if (generateCount(s) - baseline >= n / 2 && child.exitCode === null) child.kill('SIGKILL');
  });
  assert.equal(killed.signal, 'SIGKILL', 'the first run must be killed before it finishes');
  const firstSent = generateCount(s) - baseline;
  const journal = await Journal.open(path);
  const kept = journal.size;
  await journal.close();
  assert.ok(kept > 0 && kept < n, `journal kept ${kept} of ${n}`);
  assert.ok(firstSent - kept <= 4, 'at most the in-flight calls (concurrency 4) are lost');

  const before = generateCount(s);
  const resumed = await run();
  assert.equal(resumed.code, 0);
  assert.deepEqual(JSON.parse(resumed.out), { cached: kept, sent: n - kept, failed: 0 });
  assert.equal(generateCount(s) - before, n - kept, 'the server saw exactly the missing requests');

  // The journal now answers everything, with the in-process model's results: an engine under the
  // same id that refuses every call proves nothing more is needed.
  const j = await Journal.open(path);
  const refuse = async (): Promise<never> => { throw new Error('the journal should have answered'); };
  const check = journaled({ id: 'openai:toy', generate: refuse, score: refuse, tokenize: refuse, close: async () => {} }, j);
  assert.deepEqual(await check.generate(resumeRequests(n)), await toy.generate(resumeRequests(n)));
  assert.equal(check.stats.cached, n);
  await j.close();
  await rm(dir, { recursive: true });
});
