/**
 * Training examples, micro-batch packing and the loss normaliser of the fine-tune stage.
 *
 * The data order of epoch e is a pure function of (seed, e): a resumed run rebuilds the same plan
 * and skips the steps already done, so no data-loader state needs saving beyond the step index.
 */
import { Rng, mixSeed } from './rng.js';

/** One tokenized row: `ids` = prompt tokens then response tokens (then EOS when asked). */
export interface Example {
  ids: Int32Array;
  /** Tokens of the prompt (masked out of the loss). */
  promptLen: number;
  /** The row's weight (the `weight` column). */
  weight: number;
  /** The row's index in the training set, for error messages. */
  row: number;
}

/** A micro-batch: example indices, padded on the right to the longest (causal attention needs no mask then). */
export interface MicroBatch {
  rows: number[];
  /** Padded sequence length of the graph's inputs (longest example minus one: the last token is only a target). */
  seqLen: number;
}

/** The whole run's schedule: optimiser steps of `gradAccum` micro-batches each. */
export interface TrainPlan {
  steps: MicroBatch[][];
  /** Response tokens in each step (unweighted), for throughput and the normaliser. */
  stepResponseTokens: number[];
  stepTokens: number[];
  /** The constant normaliser C of the loss. */
  normaliser: number;
}

export interface PlanOptions {
  seed: number;
  epochs: number;
  /** Token budget of one micro-batch: rows x padded length <= batchTokens. */
  batchTokens: number;
  gradAccum: number;
  /** Cap on optimiser steps (0 = no cap). */
  maxSteps: number;
  /** A fixed normaliser; 0 = mean response tokens per optimiser step over the planned run. */
  normaliser: number;
}

/** Response tokens of an example that are loss targets. */
export function responseTokens(e: Example): number {
  return e.ids.length - e.promptLen;
}

/**
 * Packs one epoch: shuffles with (seed, epoch), sorts windows of 64 by length so rows of similar
 * length share a micro-batch (little padding), fills each micro-batch greedily to the token
 * budget, then shuffles the micro-batches.
 */
export function packEpoch(examples: Example[], seed: number, epoch: number, batchTokens: number): MicroBatch[] {
  const rng = new Rng(mixSeed(seed, epoch));
  const order = rng.shuffle(examples.map((_, i) => i));
  const window = 64;
  const batches: MicroBatch[] = [];
  for (let w = 0; w < order.length; w += window) {
    const chunk = order.slice(w, w + window).sort((a, b) => (examples[b]!.ids.length - examples[a]!.ids.length) || a - b);
    let cur: number[] = [];
    let curLen = 0;
    for (const i of chunk) {
      const len = examples[i]!.ids.length - 1;
      const newLen = Math.max(curLen, len);
      if (cur.length > 0 && (cur.length + 1) * newLen > batchTokens) {
        batches.push({ rows: cur, seqLen: curLen });
        cur = [];
      }
      curLen = cur.length === 0 ? len : Math.max(curLen, len);
      cur.push(i);
    }
    if (cur.length > 0) batches.push({ rows: cur, seqLen: curLen });
  }
  return rng.shuffle(batches);
}

/** Plans every optimiser step of the run and fixes the normaliser C (DESIGN.md: constant per run). */
export function planRun(examples: Example[], o: PlanOptions): TrainPlan {
  const steps: MicroBatch[][] = [];
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const mbs = packEpoch(examples, o.seed, epoch, o.batchTokens);
    for (let i = 0; i < mbs.length; i += o.gradAccum) steps.push(mbs.slice(i, i + o.gradAccum));
    if (o.maxSteps > 0 && steps.length >= o.maxSteps) break;
  }
  if (o.maxSteps > 0) steps.length = Math.min(steps.length, o.maxSteps);
  const stepResponseTokens = steps.map((s) => s.reduce((acc, mb) => acc + mb.rows.reduce((a, r) => a + responseTokens(examples[r]!), 0), 0));
  const stepTokens = steps.map((s) => s.reduce((acc, mb) => acc + mb.rows.reduce((a, r) => a + examples[r]!.ids.length - 1, 0), 0));
  const total = stepResponseTokens.reduce((a, b) => a + b, 0);
  const normaliser = o.normaliser > 0 ? o.normaliser : Math.max(1, total / Math.max(1, steps.length));
  return { steps, stepResponseTokens, stepTokens, normaliser };
}

/** The graph's feeds for one micro-batch (flat, row-major [rows, seqLen]). */
export interface BatchTensors {
  batch: number;
  seqLen: number;
  inputIds: BigInt64Array;
  positionIds: BigInt64Array;
  targets: BigInt64Array;
  /** w_row / C on response targets, 0 on prompt targets and padding. */
  tokenWeights: Float32Array;
}

/** Builds the feeds of a micro-batch: position t predicts ids[t+1]; pads with token 0 and weight 0. */
export function batchTensors(examples: Example[], mb: MicroBatch, normaliser: number): BatchTensors {
  const B = mb.rows.length;
  const T = mb.seqLen;
  const inputIds = new BigInt64Array(B * T);
  const positionIds = new BigInt64Array(B * T);
  const targets = new BigInt64Array(B * T);
  const tokenWeights = new Float32Array(B * T);
  mb.rows.forEach((r, b) => {
    const e = examples[r]!;
    const w = e.weight / normaliser;
    for (let t = 0; t < T; t++) {
      const o = b * T + t;
      positionIds[o] = BigInt(t);
      if (t < e.ids.length - 1) {
        inputIds[o] = BigInt(e.ids[t]!);
        targets[o] = BigInt(e.ids[t + 1]!);
        if (t + 1 >= e.promptLen) tokenWeights[o] = w;
      }
    }
  });
  return { batch: B, seqLen: T, inputIds, positionIds, targets, tokenWeights };
}
