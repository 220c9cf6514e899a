/**
 * train — weighted SFT of a base model on a training set (DESIGN.md: the loss divided by a
 * constant normaliser fixed per run), with the embedded trainer or the torch one.
 *
 * reads:  train_set (prompt, response, weight) — rename it to mix, weighted or posterior_set
 * writes: train_log (one row per optimiser step) and the model folder <run>/models/<stage id>/,
 *         which later stages use as an engine with `model: run:models/<stage id>`
 */
import { join } from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { defineStage } from '../pipeline/stage.js';
import { TRAIN_LOG } from './tables.js';
import { trainSft } from '../train/trainer.js';
import { modelFingerprint } from '../engines/registry.js';
import { ParquetWriter } from '../io/parquet.js';
import type { Row } from '../io/schema.js';

export interface TrainParams {
  base: string;
  trainer: string;
  epochs: number;
  lr: number;
  min_lr_ratio: number;
  warmup: number;
  batch_tokens: number;
  grad_accum: number;
  max_steps: number;
  checkpoint_every: number;
  seed: number;
  max_grad_norm: number;
  weight_decay: number;
  normaliser: number;
  max_seq_len: number;
  threads: number;
}

/** Where a train stage leaves its model, relative to the run folder. */
export const modelFolderOf = (stageId: string) => join('models', stageId);

export const trainStage = defineStage<TrainParams>({
  name: 'train',
  version: 1,
  describe: 'Fine-tune a model on a weighted training set (weighted SFT, constant normaliser)',
  inputs: { train_set: ['prompt', 'response', 'weight'] },
  outputs: { train_log: TRAIN_LOG },
  scope: 'all',
  params: {
    base: { type: 'string', describe: 'base model folder (HF ONNX layout; run:models/<id> for one trained earlier in the run)', path: true },
    trainer: { type: 'string', default: 'embedded', choices: ['embedded', 'torch'], describe: 'embedded (onnxruntime, this project\'s model family) or torch (train_sft.py)' },
    epochs: { type: 'number', default: 1, describe: 'passes over the training set' },
    lr: { type: 'number', default: 1e-4, describe: 'peak learning rate (AdamW)' },
    min_lr_ratio: { type: 'number', default: 0.1, describe: 'final learning rate as a fraction of lr (cosine schedule)' },
    warmup: { type: 'integer', default: 0, describe: 'warm-up optimiser steps' },
    batch_tokens: { type: 'integer', default: 4096, describe: 'token budget of one micro-batch' },
    grad_accum: { type: 'integer', default: 1, describe: 'micro-batches per optimiser step' },
    max_steps: { type: 'integer', default: 0, describe: 'stop after this many optimiser steps (0: no cap)' },
    checkpoint_every: { type: 'integer', default: 50, describe: 'checkpoint every N steps (0: never)', affectsResult: false },
    seed: { type: 'integer', default: 0, describe: 'data order and initialisation seed' },
    max_grad_norm: { type: 'number', default: 1.0, describe: 'gradient clipping by global norm' },
    weight_decay: { type: 'number', default: 0, describe: 'AdamW weight decay' },
    normaliser: { type: 'number', default: 0, describe: 'the constant C dividing the loss (0: mean response tokens per optimiser step)' },
    max_seq_len: { type: 'integer', default: 2048, describe: 'rows longer than this are truncated' },
    threads: { type: 'integer', default: 0, describe: 'onnxruntime intra-op threads (0: one per core)', affectsResult: false },
  },
  // The base model's content, not its path, decides the result.
  fingerprintExtra: async (params) => modelFingerprint(params.base),
  async run(ctx) {
    const p = ctx.params;
    // The training set arrives as one or more parts: the trainer reads one file.
    const dataPath = join(ctx.runDir, '_tmp', `${ctx.stageId}.train_set.parquet`);
    await mkdir(join(ctx.runDir, '_tmp'), { recursive: true });
    const writer = await ParquetWriter.open(dataPath, {
      schema: [
        { name: 'prompt', type: 'string' },
        { name: 'response', type: 'string' },
        { name: 'weight', type: 'float64' },
      ],
    });
    let rows = 0;
    for await (const batch of ctx.read('train_set')) {
      await writer.write(batch.map((r) => ({ prompt: r.prompt, response: r.response, weight: Number(r.weight) })));
      rows += batch.length;
    }
    await writer.close();
    ctx.log(`training on ${rows} rows`);
    const folder = modelFolderOf(ctx.stageId);
    const result = await trainSft({
      data: dataPath,
      base: p.base,
      out: join(ctx.runDir, folder),
      trainer: p.trainer as 'embedded' | 'torch',
      epochs: p.epochs,
      lr: p.lr,
      minLrRatio: p.min_lr_ratio,
      warmup: p.warmup,
      batchTokens: p.batch_tokens,
      gradAccum: p.grad_accum,
      maxSteps: p.max_steps,
      checkpointEvery: p.checkpoint_every,
      seed: p.seed,
      maxGradNorm: p.max_grad_norm,
      weightDecay: p.weight_decay,
      normaliser: p.normaliser,
      maxSeqLen: p.max_seq_len,
      threads: p.threads,
      quiet: false,
    });
    await rm(dataPath, { force: true });
    const log: Row[] = result.losses.map((loss, i) => ({ step: i + 1, loss, model: folder }));
    await ctx.write('train_log', log);
    ctx.progress.tick(rows);
    ctx.log(`trained ${result.steps} steps, ${result.tokensPerSecond.toFixed(0)} tokens/s, final loss ${result.losses.at(-1)?.toFixed(4)}`);
  },
});
