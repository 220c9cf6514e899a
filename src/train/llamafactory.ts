/**
 * A LLaMA-Factory SFT configuration equivalent to a `vrdata train` run, for users who train
 * there. Upstream LLaMA-Factory has no per-row loss weight, so it trains the weighted set as if
 * every weight were 1: fine for the 17K "mix" set (all weights 1), wrong for the 1K weighted set.
 */
import { basename } from 'node:path';
import type { TrainSftOptions } from './trainer.js';

/** The YAML text (with a dataset_info.json entry in a comment). */
export function llamaFactoryConfig(o: Pick<TrainSftOptions, 'data' | 'base' | 'out' | 'epochs' | 'lr' | 'warmup' | 'gradAccum' | 'maxSeqLen' | 'seed' | 'maxGradNorm' | 'weightDecay' | 'minLrRatio'>): string {
  const name = basename(o.data).replace(/\.parquet$/, '');
  return `# LLaMA-Factory SFT config written by vrdata train (llamafactory-cli train ${basename(o.out)}/llamafactory_sft.yaml)
#
# WARNING: upstream LLaMA-Factory IGNORES the per-row "weight" column. Every row counts as weight 1.
# That is right for the 17K "mix" set (all weights 1) and WRONG for the 1K weighted set, whose rows
# carry the importance weights rho~ of the paper: train that one with
#   vrdata train --trainer torch --data ${o.data} --base <model> --out <dir>
# (python/train_sft.py: loss = -(1/C) * sum_rows w_row * sum_response_tokens log p, C fixed per run).
# LLaMA-Factory also normalises by the batch's token count, not by a constant C.
#
# Register the data set in LLaMA-Factory's data/dataset_info.json:
#   "${name}": {
#     "file_name": "${o.data}",
#     "formatting": "alpaca",
#     "columns": {"prompt": "prompt", "response": "response"}
#   }
# The prompt column already holds the chat-formatted prompt, hence template: empty.

### model
model_name_or_path: ${o.base}
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: full

### dataset
dataset: ${name}
template: empty
cutoff_len: ${o.maxSeqLen}
overwrite_cache: true
preprocessing_num_workers: 16

### output
output_dir: ${o.out}
logging_steps: 1
save_strategy: epoch
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: ${o.gradAccum}
learning_rate: ${o.lr}
num_train_epochs: ${o.epochs}
lr_scheduler_type: cosine_with_min_lr
lr_scheduler_kwargs:
  min_lr_rate: ${o.minLrRatio}
warmup_steps: ${o.warmup}
max_grad_norm: ${o.maxGradNorm}
weight_decay: ${o.weightDecay}
seed: ${o.seed}
bf16: true
ddp_timeout: 180000000
`;
}
