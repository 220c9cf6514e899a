/** `vrdata train`: weighted SFT of a base model on a training set (embedded trainer or PyTorch). */
import type { CommandModule } from 'yargs';
import { DEFAULT_TRAIN_OPTIONS, trainSft } from '../../train/trainer.js';
import { usageError } from '../../util/errors.js';

interface TrainArgs {
  data: string;
  base: string;
  out: string;
  trainer: string;
  epochs: number;
  lr: number;
  'min-lr-ratio': number;
  warmup: number;
  'batch-tokens': number;
  'grad-accum': number;
  'max-steps': number;
  'checkpoint-every': number;
  seed: number;
  'max-grad-norm': number;
  'weight-decay': number;
  'adam-beta1': number;
  'adam-beta2': number;
  'adam-eps': number;
  normaliser: number;
  'max-seq-len': number;
  eos: boolean;
  threads: number;
  python?: string;
  gpus: number;
  quiet: boolean;
}

const d = DEFAULT_TRAIN_OPTIONS;

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Fine-tune a model on a weighted training set (loss: -(1/C) sum_rows w * sum_response_tokens log p)',
  builder: (y) =>
    y
      .option('data', { type: 'string', demandOption: true, describe: 'training set (Parquet with columns prompt, response, weight)' })
      .option('base', { type: 'string', demandOption: true, describe: 'base model folder (embedded: a vrdata/HF-ONNX Qwen3 folder; torch: also a local Hugging Face model folder with tokenizer.json)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder: the trained model (loadable by the engine), checkpoints/, train_result.json' })
      .option('trainer', { type: 'string', choices: ['embedded', 'torch'], default: d.trainer, describe: 'embedded = onnxruntime-node here; torch = python/train_sft.py (PyTorch, FSDP with torchrun)' })
      .option('epochs', { type: 'number', default: d.epochs, describe: 'passes over the set' })
      .option('lr', { type: 'number', default: d.lr, describe: 'peak learning rate (AdamW)' })
      .option('min-lr-ratio', { type: 'number', default: d.minLrRatio, describe: 'final learning rate of the cosine schedule, as a fraction of --lr' })
      .option('warmup', { type: 'number', default: d.warmup, describe: 'linear warm-up, in optimiser steps' })
      .option('batch-tokens', { type: 'number', default: d.batchTokens, describe: 'token budget of one micro-batch (rows x padded length)' })
      .option('grad-accum', { type: 'number', default: d.gradAccum, describe: 'micro-batches per optimiser step' })
      .option('max-steps', { type: 'number', default: d.maxSteps, describe: 'stop after this many optimiser steps (0 = all epochs)' })
      .option('checkpoint-every', { type: 'number', default: d.checkpointEvery, describe: 'checkpoint every N steps (0 = never); rerunning the same command resumes exactly from the last one' })
      .option('seed', { type: 'number', default: d.seed, describe: 'data order seed' })
      .option('max-grad-norm', { type: 'number', default: d.maxGradNorm, describe: 'clip the global gradient norm to this (0 = no clipping)' })
      .option('weight-decay', { type: 'number', default: d.weightDecay, describe: 'AdamW decoupled weight decay (not applied to norm gains)' })
      .option('adam-beta1', { type: 'number', default: d.adam.beta1, describe: 'AdamW beta1' })
      .option('adam-beta2', { type: 'number', default: d.adam.beta2, describe: 'AdamW beta2' })
      .option('adam-eps', { type: 'number', default: d.adam.eps, describe: 'AdamW epsilon' })
      .option('normaliser', { type: 'number', default: d.normaliser, describe: 'the loss constant C (0 = mean response tokens per optimiser step over the run)' })
      .option('max-seq-len', { type: 'number', default: d.maxSeqLen, describe: 'longer rows are cut to this many tokens (counted in train_result.json)' })
      .option('eos', { type: 'boolean', default: d.eos, describe: "append the model's EOS token to each response (--no-eos to disable)" })
      .option('threads', { type: 'number', default: d.threads, describe: 'CPU threads (onnxruntime intra-op / torch); 0 = all cores' })
      .option('python', { type: 'string', describe: 'torch trainer: Python interpreter (default $VRDATA_PYTHON or python3)' })
      .option('gpus', { type: 'number', default: 1, describe: 'torch trainer: GPUs on this machine; more than 1 launches torchrun --nproc_per_node N (FSDP)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' })
      .example('$0 train --data runs/x/build/weighted_1k.parquet --base models/pi0 --out models/pi1', 'embedded trainer')
      .example('$0 train --trainer torch --data set.parquet --base /models/Qwen3-4B --out out --gpus 8', 'PyTorch trainer (transformers, FSDP on 8 GPUs)'),
  handler: async (a) => {
    if (a.trainer !== 'embedded' && a.trainer !== 'torch') throw usageError('train', `--trainer must be embedded or torch, got ${a.trainer}`);
    if (!(Number.isInteger(a.gpus) && a.gpus >= 1)) throw usageError('train', `--gpus must be a positive integer, got ${a.gpus}`);
    const torchLauncher = a.gpus > 1 ? ['torchrun', '--standalone', `--nproc_per_node=${a.gpus}`] : undefined;
    const result = await trainSft({
      data: a.data, base: a.base, out: a.out, trainer: a.trainer, epochs: a.epochs, lr: a.lr, minLrRatio: a['min-lr-ratio'],
      warmup: a.warmup, batchTokens: a['batch-tokens'], gradAccum: a['grad-accum'], maxSteps: a['max-steps'],
      checkpointEvery: a['checkpoint-every'], seed: a.seed, maxGradNorm: a['max-grad-norm'], weightDecay: a['weight-decay'],
      adam: { beta1: a['adam-beta1'], beta2: a['adam-beta2'], eps: a['adam-eps'], weightDecay: a['weight-decay'] },
      normaliser: a.normaliser, maxSeqLen: a['max-seq-len'], eos: a.eos, threads: a.threads, python: a.python, torchLauncher, quiet: a.quiet,
    });
    const last = result.losses.at(-1);
    process.stderr.write(`train: ${result.steps} steps, final loss ${last === undefined ? '-' : last.toFixed(4)}, C = ${result.normaliser.toFixed(1)}, ${result.tokensPerSecond.toFixed(0)} tokens/s; model in ${result.out}\n`);
  },
};
