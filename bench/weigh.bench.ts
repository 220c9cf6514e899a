/**
 * weigh + build at the paper's scale: 17,000 questions x 8 traces, lp and lq of 2,000 tokens and
 * la of 200 tokens per trace (list<float32>), ~8,000-character traces, 8 rollouts of ~200
 * characters per trace with their verdicts. Runs at 1x and 2x the questions.
 *
 * Each measurement runs in its own child process, so its peak RSS (maxRSS) is its own:
 *   - baseline "read": readRows over the scores' lp/lq/la columns alone (the I/O floor of weigh);
 *   - "weigh": the weigh stage through the runner (8 parts);
 *   - "build": the build stage (scope all) writing the mix and weighted sets.
 * The synthetic input tables are written first by another child (not timed).
 * Without src/verify/index.ts (Acc needs hasVerifier) it measures weigh_lik + build_lik (GML) and says so.
 * BENCH_WEIGH_QUESTIONS overrides 17,000; BENCH_WEIGH_SCALES overrides "1,2".
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStage } from '../src/pipeline/runner.js';
import { resolveParams } from '../src/pipeline/params.js';
import { defineStage, type StageDefinition } from '../src/pipeline/stage.js';
import { SAMPLES, TRACES, SCORES, ROLLOUTS, VERDICTS } from '../src/stages/tables.js';
import { weighStage, weighLikStage } from '../src/stages/weigh.js';
import { buildStage, buildLikStage } from '../src/stages/build.js';
import { readRows } from '../src/io/parquet.js';
import { partPath } from '../src/pipeline/layout.js';
import type { Row } from '../src/io/schema.js';

const PARTS = 8;
const K = 8;
const N = 8;
const THINK = 2000;
const ANSWER = 200;
const SELF = fileURLToPath(import.meta.url);
const ACC = existsSync(resolve(SELF, '..', '..', 'src', 'verify', 'index.ts'));

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const WORDS = 'so we add the two numbers then check the result again and again carefully step'.split(' ');

function text(rand: () => number, chars: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]!;
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
}

function logprobs(rand: () => number, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.log(rand() * 0.999 + 0.001);
  return a;
}

/** A source stage writing every synthetic input table, 64 questions at a time. */
function synthetic(questions: number) {
  return defineStage<Record<string, never>>({
    name: 'synthetic', version: 1, describe: 'bench inputs', inputs: {}, params: {},
    outputs: { samples: SAMPLES, traces: TRACES, scores: SCORES, rollouts: ROLLOUTS, verdicts: VERDICTS },
    async run(ctx) {
      const rand = rng(1);
      for (let start = 0; start < questions; start += 64) {
        const t: Record<string, Row[]> = { samples: [], traces: [], scores: [], rollouts: [], verdicts: [] };
        for (let q = start; q < Math.min(questions, start + 64); q++) {
          const id = (q * 2654435761 >>> 0).toString(16).padStart(8, '0') + q.toString(16).padStart(8, '0');
          t.samples!.push({ sample_id: id, source: 'bench', row_index: q, domain: 'math', system: '', question: text(rand, 300), reference_thought: text(rand, 4000), reference_solution: `${text(rand, 400)} \\boxed{${q}}`, reference_answer: String(q), hint: String(q), tests: null });
          for (let k = 0; k < K; k++) {
            const trace = `${text(rand, 8000)}<|end_of_thought|>\n\n<|begin_of_solution|>x<|end_of_solution|>`;
            t.traces!.push({ sample_id: id, k, seed: k, template: 'posterior_b', trace, finish_reason: 'stop', tokens: THINK });
            t.scores!.push({ sample_id: id, k, z: trace.slice(0, trace.indexOf('<|end_of') + 8), lp: logprobs(rand, THINK), lq: logprobs(rand, THINK), la: logprobs(rand, ANSWER) });
            for (let n = 0; n < N; n++) {
              t.rollouts!.push({ sample_id: id, k, n, seed: n, response: `_thought|>\n\n<|begin_of_solution|>${text(rand, 200)} \\boxed{${q}}<|end_of_solution|>`, finish_reason: 'stop', tokens: 60 });
              t.verdicts!.push({ sample_id: id, k, n, correct: rand() < 0.5, extracted: String(q), reason: 'bench', ms: 0.1, verifier: 'bench@1' });
            }
          }
        }
        for (const [table, rows] of Object.entries(t)) await ctx.write(table, rows);
      }
    },
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function runOne(dir: string, stage: StageDefinition<any>, given: Record<string, unknown>): Promise<void> {
  await runStage({ runDir: dir, stage, params: resolveParams(stage.name, stage.params, given), parts: PARTS, quiet: true });
}

/** The child's side: one job, then a JSON line with its seconds and peak RSS. */
async function child(job: string, dir: string, questions: number): Promise<void> {
  const started = performance.now();
  let rows = 0;
  if (job === 'generate') await runOne(dir, synthetic(questions), {});
  else if (job === 'read') {
    for (let p = 0; p < PARTS; p++) {
      for await (const batch of readRows(partPath(dir, 'scores', p, PARTS), { columns: ['sample_id', 'k', 'lp', 'lq', 'la'] })) rows += batch.length;
    }
  } else if (job === 'weigh') await runOne(dir, ACC ? weighStage : weighLikStage, { estimator: ACC ? 'Acc' : 'GML' });
  else if (job === 'build') await runOne(dir, ACC ? buildStage : buildLikStage, { weighted_questions: 1000 });
  const seconds = (performance.now() - started) / 1000;
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds, maxRssMb: usage.maxRSS / 1024, rows })}\n`);
}

interface Measure {
  seconds: number;
  /** user + system CPU of the child: steadier than wall time on a shared machine. */
  cpuSeconds: number;
  maxRssMb: number;
}

function spawnChild(job: string, dir: string, questions: number): Measure {
  const res = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--weigh-bench-child', job, dir, String(questions)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (res.status !== 0) throw new Error(`bench child ${job} failed (${res.status}): ${res.stderr.slice(-2000)}`);
  const last = res.stdout.trim().split('\n').pop()!;
  return JSON.parse(last) as Measure;
}

export async function run(): Promise<void> {
  const base = Number(process.env.BENCH_WEIGH_QUESTIONS ?? 17_000);
  const scales = (process.env.BENCH_WEIGH_SCALES ?? '1,2').split(',').map(Number);
  console.log(`weigh+build: ${base} questions x ${K} traces, lp/lq ${THINK} tokens, la ${ANSWER}, ${N} rollouts per trace; ${ACC ? 'Acc (weigh, build)' : 'GML (weigh_lik, build_lik): src/verify/index.ts is absent'}`);
  const results: { scale: number; read: Measure; weigh: Measure; build: Measure }[] = [];
  for (const scale of scales) {
    const dir = await mkdtemp(join(tmpdir(), 'vrdata-bench-weigh-'));
    try {
      const questions = base * scale;
      const gen = spawnChild('generate', dir, questions);
      console.log(`  ${scale}x: wrote synthetic inputs for ${questions} questions in ${gen.seconds.toFixed(1)} s (not timed below)`);
      const read = spawnChild('read', dir, questions);
      const weigh = spawnChild('weigh', dir, questions);
      const build = spawnChild('build', dir, questions);
      results.push({ scale, read, weigh, build });
      const show = (m: Measure) => `${m.seconds.toFixed(1)} s wall, ${m.cpuSeconds.toFixed(1)} s CPU, peak RSS ${m.maxRssMb.toFixed(0)} MB`;
      console.log(`  ${scale}x: baseline read of the scores lists: ${show(read)}`);
      console.log(`  ${scale}x: weigh: ${show(weigh)} (CPU ${(weigh.cpuSeconds / read.cpuSeconds).toFixed(2)}x the baseline read)`);
      console.log(`  ${scale}x: build: ${show(build)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const one = results.find((r) => r.scale === 1);
  if (one) {
    for (const r of results.filter((x) => x.scale !== 1)) {
      console.log(
        `  ${r.scale}x vs 1x: wall weigh ${(r.weigh.seconds / one.weigh.seconds).toFixed(2)}x, build ${(r.build.seconds / one.build.seconds).toFixed(2)}x; CPU weigh ${(r.weigh.cpuSeconds / one.weigh.cpuSeconds).toFixed(2)}x, build ${(r.build.cpuSeconds / one.build.cpuSeconds).toFixed(2)}x (linear = ${r.scale}); peak RSS weigh ${(r.weigh.maxRssMb / one.weigh.maxRssMb).toFixed(2)}x, build ${(r.build.maxRssMb / one.build.maxRssMb).toFixed(2)}x (flat = 1)`,
      );
    }
  }
}

if (process.argv[2] === '--weigh-bench-child') {
  await child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
}
