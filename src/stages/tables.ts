/**
 * The schema of every table the pipeline writes, defined once. A stage names the table it
 * writes and the columns it reads from each input; the pipeline checker verifies, before any
 * model is called, that every column read is written upstream.
 */
import type { Schema } from '../io/schema.js';

export const SAMPLES: Schema = [
  { name: 'sample_id', type: 'string', doc: 'stable hash of the source row (source file name + row content)' },
  { name: 'source', type: 'string', doc: 'source file (base name) the row came from' },
  { name: 'row_index', type: 'int64', doc: '0-based row number in the source file' },
  { name: 'domain', type: 'string', doc: 'math | code | science | multiple_choice | other' },
  { name: 'system', type: 'string', doc: 'system prompt of the source row (empty when it had none)' },
  { name: 'question', type: 'string' },
  { name: 'reference_thought', type: 'string', nullable: true, doc: 'text between <|begin_of_thought|> and <|end_of_thought|>' },
  { name: 'reference_solution', type: 'string', nullable: true, doc: 'text between <|begin_of_solution|> and <|end_of_solution|>' },
  { name: 'reference_answer', type: 'string', doc: 'last \\boxed{} of the solution, else a final-answer line, else the given answer' },
  { name: 'hint', type: 'string', doc: 'the y\' put inside <hint></hint> by the posterior prompt' },
  { name: 'tests', type: 'string', nullable: true, doc: 'code tests as JSON (stdin/stdout or call-based), when the row has them' },
];

export const QUARANTINE: Schema = [
  { name: 'sample_id', type: 'string', doc: 'hash of the raw row, so quarantined rows partition like the rest' },
  { name: 'source', type: 'string' },
  { name: 'row_index', type: 'int64' },
  { name: 'reason', type: 'string' },
  { name: 'raw', type: 'string', doc: 'the row as read, truncated to 10,000 characters' },
];

export const TRACES: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32', doc: 'trace index 0..K-1; sampled with seed seed0 + k' },
  { name: 'seed', type: 'int64' },
  { name: 'template', type: 'string', doc: 'posterior prompt template name' },
  { name: 'trace', type: 'string', doc: 'the raw text q_phi generated after the prompt' },
  { name: 'finish_reason', type: 'string' },
  { name: 'tokens', type: 'int32' },
];

export const SCORES: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32' },
  { name: 'z', type: 'string', doc: 'the trace cut just after the first "<|end_of" (appended when absent)' },
  { name: 'lq', type: 'list<float32>', doc: 'log q_phi per token of the raw trace (the paper; score.lq_on=trace) or of z (lq_on=z), given P(x, y\')' },
  { name: 'lp', type: 'list<float32>', doc: 'log pi_theta0(z | R(x)) per token' },
  { name: 'la', type: 'list<float32>', doc: 'log pi_theta0(a | R(x), z) per token, a = the reference answer text' },
];

export const ROLLOUTS: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32' },
  { name: 'n', type: 'int32', doc: 'rollout index 0..N-1 of trace k' },
  { name: 'seed', type: 'int64' },
  { name: 'response', type: 'string', doc: 'the answer pi_theta0 wrote after R(x) + z (begins with "_thought|>")' },
  { name: 'finish_reason', type: 'string' },
  { name: 'tokens', type: 'int32' },
];

export const VERDICTS: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32' },
  { name: 'n', type: 'int32' },
  { name: 'correct', type: 'bool' },
  { name: 'extracted', type: 'string', nullable: true },
  { name: 'reason', type: 'string' },
  { name: 'ms', type: 'float64' },
  { name: 'verifier', type: 'string', doc: 'name@version of the verifier that decided' },
];

export const WEIGHTS: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32' },
  { name: 'estimator', type: 'string', doc: 'Acc | GML | L, after the Acc->GML fallback' },
  { name: 'think_tokens', type: 'int32', doc: 'L_k = min(len lp, len lq)' },
  { name: 'eligible', type: 'bool', doc: 'L_k < max_think_tokens' },
  { name: 'g', type: 'float64', doc: 'per-token mean of lp - lq over the first L_k tokens' },
  { name: 'acc', type: 'float64', nullable: true, doc: 'mean correctness of the rollouts of trace k (null without a verifier)' },
  { name: 'mean_la', type: 'float64' },
  { name: 'log_rho', type: 'float64', doc: '-Infinity when the estimator gives weight 0' },
  { name: 'rho', type: 'float64', doc: 'exp(log_rho - logsumexp over the eligible traces of the question); 0 when not eligible' },
  { name: 'selected', type: 'bool', doc: 'the argmax of log_rho over eligible traces (first on ties)' },
  { name: 'fallback', type: 'string', nullable: true, doc: 'why the estimator differs from the one asked for' },
];

/** The columns every training set has (LLaMA-Factory and TRL read prompt/completion). */
export const TRAINING_SET: Schema = [
  { name: 'prompt', type: 'string' },
  { name: 'response', type: 'string' },
  { name: 'completion', type: 'string', doc: 'same as response, for TRL' },
  { name: 'weight', type: 'float64' },
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32', nullable: true, doc: 'trace index; null for an original response' },
  { name: 'source_kind', type: 'string', doc: 'original | trace | rollout' },
  { name: 'estimator', type: 'string', nullable: true },
  { name: 'log_rho', type: 'float64', nullable: true },
  { name: 'acc', type: 'float64', nullable: true },
  { name: 'g', type: 'float64', nullable: true },
];

export const EVAL: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'source', type: 'string' },
  { name: 'n', type: 'int32' },
  { name: 'response', type: 'string' },
  { name: 'correct', type: 'bool' },
  { name: 'extracted', type: 'string', nullable: true },
  { name: 'reason', type: 'string' },
];

/** One row per optimiser step of a train stage; the model itself is written to <run>/models/<stage id>/. */
export const TRAIN_LOG: Schema = [
  { name: 'step', type: 'int32' },
  { name: 'loss', type: 'float64', doc: 'weighted loss of the step, divided by the run\'s constant normaliser' },
  { name: 'model', type: 'string', doc: 'folder of the trained model, relative to the run folder' },
];

/** One row per model made: what the folder holds. */
export const MODEL_CARD: Schema = [
  { name: 'model', type: 'string', doc: 'folder of the model, relative to the run folder' },
  { name: 'params', type: 'int64' },
  { name: 'vocab_size', type: 'int32' },
  { name: 'merges', type: 'int32', doc: 'BPE merges asked for (fewer are learned when no pair repeats)' },
  { name: 'corpus_chars', type: 'int64' },
];

/** One row per file the synth stage wrote into the run folder. */
export const SYNTH_FILES: Schema = [
  { name: 'sample_id', type: 'string', doc: 'the file path (routes the row; not a question)' },
  { name: 'file', type: 'string', doc: 'path relative to the run folder' },
  { name: 'split', type: 'string', doc: 'train | eval' },
  { name: 'rows', type: 'int64' },
];

/** Every table by name, as stages refer to them. */
export const TABLES = {
  samples: SAMPLES,
  quarantine: QUARANTINE,
  traces: TRACES,
  scores: SCORES,
  rollouts: ROLLOUTS,
  verdicts: VERDICTS,
  weights: WEIGHTS,
  mix: TRAINING_SET,
  weighted: TRAINING_SET,
  posterior_set: TRAINING_SET,
  eval: EVAL,
  train_log: TRAIN_LOG,
  model_card: MODEL_CARD,
  synth_files: SYNTH_FILES,
} as const satisfies Record<string, Schema>;

export type TableName = keyof typeof TABLES;
