/**
 * The fine-tune stage: `trainSft(options)` trains a base model on a weighted training set with
 * the embedded trainer (this file) or the PyTorch script (./torch.ts), and leaves in `out` an
 * inference model folder the engine loads as it is.
 *
 * Loss: -(1/C) * sum over rows of w_row * sum over response tokens of log p(token | prefix),
 * prompt tokens masked; C is fixed per run: `normaliser` when given, else the mean number of
 * response tokens per optimiser step over the planned run (so one step of average size weighs
 * like a per-token mean, and a step's loss does not depend on which rows share it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readModelFolder, writeModelFolder, MODEL_FILES } from '../model/folder.js';
import type { Qwen3Config } from '../model/qwen3.js';
import { sha256, sha256File, stableStringify } from '../util/hash.js';
import { VrdataError } from '../util/errors.js';
import { foreignCheckpointsError, loadLatestCheckpoint, removeStrayTemps, saveCheckpoint, writeFileDurable } from './checkpoint.js';
import { batchTensors, planRun, type Example, type TrainPlan } from './data.js';
import { loadTokenizer, loadTrainingSet } from './dataset.js';
import { DEFAULT_ADAMW, adamwUpdate, clipGradients, learningRate, type AdamWConfig } from './optim.js';
import { TrainProgress } from './progress.js';
import { TrainSession } from './session.js';

/** Everything `vrdata train` and the pipeline's train stage pass. */
export interface TrainSftOptions {
  data: string;
  base: string;
  out: string;
  trainer: 'embedded' | 'torch';
  epochs: number;
  lr: number;
  /** Final learning rate as a fraction of lr (cosine schedule). */
  minLrRatio: number;
  /** Warm-up optimiser steps. */
  warmup: number;
  /** Token budget of one micro-batch (rows x padded length). */
  batchTokens: number;
  gradAccum: number;
  /** 0 = no cap. */
  maxSteps: number;
  /** Save a checkpoint every N optimiser steps (0 = never). */
  checkpointEvery: number;
  seed: number;
  maxGradNorm: number;
  weightDecay: number;
  adam: AdamWConfig;
  /** C; 0 = mean response tokens per optimiser step. */
  normaliser: number;
  maxSeqLen: number;
  /** Append the model's EOS to every response. */
  eos: boolean;
  /** onnxruntime intra-op threads (0 = its default: all cores). */
  threads: number;
  /** torch trainer: the interpreter (default $VRDATA_PYTHON or python3). */
  python?: string;
  /** torch trainer: extra arguments for train_sft.py, or a launcher prefix such as torchrun. */
  torchLauncher?: string[];
  quiet?: boolean;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainSftOptions, 'data' | 'base' | 'out'> = {
  trainer: 'embedded',
  epochs: 1,
  lr: 1e-4,
  minLrRatio: 0.1,
  warmup: 0,
  batchTokens: 4096,
  gradAccum: 1,
  maxSteps: 0,
  checkpointEvery: 50,
  seed: 0,
  maxGradNorm: 1.0,
  weightDecay: 0.0,
  adam: DEFAULT_ADAMW,
  normaliser: 0,
  maxSeqLen: 2048,
  eos: true,
  threads: 0,
};

/** What a finished run reports (also written to <out>/train_result.json). */
export interface TrainResult {
  trainer: 'embedded' | 'torch';
  fingerprint: string;
  steps: number;
  normaliser: number;
  /** Loss of every optimiser step (sum over its micro-batches). */
  losses: number[];
  examples: number;
  skippedRows: number;
  truncatedRows: number;
  /** Tokens processed by this process and the time it took (a resumed run counts only its part). */
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  out: string;
}

export const RESULT_FILE = 'train_result.json';

/** Trains and writes the model folder to `out`; a finished run with the same fingerprint is not redone. */
export async function trainSft(partial: Partial<TrainSftOptions> & Pick<TrainSftOptions, 'data' | 'base' | 'out'>): Promise<TrainResult> {
  const o: TrainSftOptions = { ...DEFAULT_TRAIN_OPTIONS, ...partial, adam: { ...DEFAULT_ADAMW, ...partial.adam } };
  checkOptions(o);
  if (o.trainer === 'torch') {
    const { trainTorch } = await import('./torch.js');
    return trainTorch(o);
  }
  return trainEmbedded(o);
}

function checkOptions(o: TrainSftOptions): void {
  const positive: (keyof TrainSftOptions)[] = ['epochs', 'lr', 'batchTokens', 'gradAccum', 'maxSeqLen'];
  for (const k of positive) if (!(Number(o[k]) > 0)) throw new VrdataError('train', `--${kebab(k)} must be positive, got ${String(o[k])}`, { exitCode: 2 });
  const nonNeg: (keyof TrainSftOptions)[] = ['warmup', 'maxSteps', 'checkpointEvery', 'maxGradNorm', 'weightDecay', 'normaliser', 'threads', 'minLrRatio'];
  for (const k of nonNeg) if (!(Number(o[k]) >= 0)) throw new VrdataError('train', `--${kebab(k)} must be 0 or more, got ${String(o[k])}`, { exitCode: 2 });
  if (o.trainer !== 'embedded' && o.trainer !== 'torch') throw new VrdataError('train', `--trainer must be embedded or torch, got ${String(o.trainer)}`, { exitCode: 2 });
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The run's identity: data, base weights and every option that changes the result. */
export async function runFingerprint(o: TrainSftOptions, extra: Record<string, unknown> = {}): Promise<string> {
  const { quiet: _q, threads: _t, python: _p, torchLauncher: _l, out: _o, ...affecting } = o;
  const baseOnnx = join(o.base, MODEL_FILES.onnx);
  return sha256(stableStringify({
    version: 1,
    affecting: { ...affecting, data: undefined, base: undefined },
    data: await sha256File(o.data),
    base: existsSync(baseOnnx) ? await sha256File(baseOnnx) : o.base,
    ...extra,
  }));
}

/** A finished result in `out` with this fingerprint, if any. */
export function finishedResult(out: string, fingerprint: string): TrainResult | undefined {
  const p = join(out, RESULT_FILE);
  if (!existsSync(p)) return undefined;
  const r = JSON.parse(readFileSync(p, 'utf8')) as TrainResult;
  return r.fingerprint === fingerprint && existsSync(join(out, MODEL_FILES.config)) ? r : undefined;
}

/** Tokenizes the set with the base model's tokenizer; EOS from its config.json. */
export async function prepareExamples(o: TrainSftOptions, config: { eos_token_id?: number | number[] }): Promise<{ examples: Example[]; skipped: number; truncated: number }> {
  const tokenizer = await loadTokenizer(o.base);
  const eos = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  if (o.eos && eos === undefined) throw new VrdataError('train', `${join(o.base, 'config.json')} has no eos_token_id; add one or pass --no-eos`);
  const set = await loadTrainingSet(o.data, tokenizer, { maxSeqLen: o.maxSeqLen, eosId: o.eos ? eos : undefined });
  if (set.examples.length === 0) throw new VrdataError('train', `${o.data}: no row has a positive weight and a response token; check the build stage`);
  return set;
}

async function trainEmbedded(o: TrainSftOptions): Promise<TrainResult> {
  const fingerprint = await runFingerprint(o);
  const done = finishedResult(o.out, fingerprint);
  if (done) return done;
  const { config, weights: baseWeights } = await readModelFolder(o.base);
  const set = await prepareExamples(o, config);
  const plan = planRun(set.examples, o);
  removeStrayTemps(o.out);
  const ck = loadLatestCheckpoint(o.out);
  if (ck && ck.state.fingerprint !== fingerprint) {
    throw foreignCheckpointsError(o.out, join(o.out, 'checkpoints'));
  }
  const weights = ck ? new Map(ck.weights.map((t) => [t.name, t.data])) : new Map(baseWeights);
  const m = ck ? ck.m : new Map([...weights].map(([n, w]) => [n, new Float32Array(w.length)]));
  const v = ck ? ck.v : new Map([...weights].map(([n, w]) => [n, new Float32Array(w.length)]));
  const losses = ck ? [...ck.state.losses] : [];
  const start = ck ? ck.state.step : 0;
  const result = await runSteps({ o, config, plan, examples: set.examples, weights, m, v, losses, start, fingerprint });
  await writeModelFolder({ dir: o.out, config, weights, tokenizerFrom: o.base });
  const final: TrainResult = {
    trainer: 'embedded', fingerprint, steps: plan.steps.length, normaliser: plan.normaliser, losses,
    examples: set.examples.length, skippedRows: set.skipped, truncatedRows: set.truncated, out: o.out, ...result,
  };
  writeFileDurable(join(o.out, RESULT_FILE), `${JSON.stringify(final, null, 1)}\n`);
  return final;
}

async function runSteps(s: {
  o: TrainSftOptions; config: Qwen3Config; plan: TrainPlan; examples: Example[]; weights: Map<string, Float32Array>;
  m: Map<string, Float32Array>; v: Map<string, Float32Array>; losses: number[]; start: number; fingerprint: string;
}): Promise<{ tokens: number; seconds: number; tokensPerSecond: number }> {
  const { o, plan, weights, m, v, losses } = s;
  const total = plan.steps.length;
  const session = await TrainSession.create(s.config, { threads: o.threads });
  const progress = new TrainProgress({ label: 'train', total, startStep: s.start, quiet: o.quiet });
  const t0 = Date.now();
  let tokens = 0;
  try {
    for (let step = s.start; step < total; step++) {
      const lr = learningRate(step, { lr: o.lr, warmupSteps: o.warmup, totalSteps: total, minLrRatio: o.minLrRatio });
      let acc: Map<string, Float32Array> | undefined;
      let loss = 0;
      for (const mb of plan.steps[step]!) {
        const r = await session.run(weights, batchTensors(s.examples, mb, plan.normaliser));
        loss += r.loss;
        if (!acc) acc = r.grads;
        else for (const [n, gr] of r.grads) {
          const a = acc.get(n)!;
          for (let i = 0; i < a.length; i++) a[i]! += gr[i]!;
        }
      }
      const names = [...weights.keys()];
      clipGradients(names.map((n) => acc!.get(n)!), o.maxGradNorm);
      for (const n of names) {
        const w = weights.get(n)!;
        adamwUpdate({ param: w, grad: acc!.get(n)!, state: { m: m.get(n)!, v: v.get(n)! }, lr, step: step + 1, decay: !n.endsWith('norm.weight'), cfg: { ...o.adam, weightDecay: o.weightDecay } });
      }
      losses.push(loss);
      tokens += plan.stepTokens[step]!;
      progress.step({ step: step + 1, total, loss, lr, tokens: plan.stepTokens[step]! });
      if (o.checkpointEvery > 0 && (step + 1) % o.checkpointEvery === 0 && step + 1 < total) {
        saveCheckpoint(o.out, {
          state: { step: step + 1, fingerprint: s.fingerprint, rngState: 0, losses },
          weights: [...weights].map(([name, data]) => ({ name, shape: [data.length], data })),
          m, v,
        });
      }
    }
  } finally {
    progress.stop();
    await session.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  return { tokens, seconds, tokensPerSecond: seconds > 0 ? tokens / seconds : 0 };
}

/** Reads <out>/train_result.json. */
export async function readTrainResult(out: string): Promise<TrainResult> {
  return JSON.parse(await readFile(join(out, RESULT_FILE), 'utf8')) as TrainResult;
}
