/**
 * The one interface every model engine implements (DESIGN.md, "Engines"): the embedded
 * onnxruntime engine and the OpenAI-compatible HTTP engine (vLLM, SGLang, `vrdata serve`).
 * Stages only ever see this interface.
 */

/** Why a completion stopped: 'stop' = a stop string or EOS was produced, 'length' = max_tokens. */
export type FinishReason = 'stop' | 'length';

export interface GenerateOptions {
  /** Completions for this prompt. They share one prefill. */
  n: number;
  /** Completion i uses the seed `seed + i`, so each (prompt, i, seed) is reproducible alone. */
  seed: number;
  temperature: number;
  topP: number;
  /** 0 or less disables top-k. */
  topK: number;
  maxTokens: number;
  /** Stop strings; the matched stop string is kept at the end of the text (vLLM's include_stop_str_in_output). */
  stop: string[];
}

export interface Completion {
  text: string;
  finishReason: FinishReason;
  /** Tokens generated (the stop string's tokens included). */
  tokens: number;
  /** Sum of the sampled tokens' log-probs under the unmodified distribution (temperature 1), when the engine knows it. */
  logprob?: number;
  /** Per-token log-probs of the sampled tokens (same distribution as `logprob`, one per token), when the engine knows them. */
  tokenLogprobs?: number[];
}

export interface GenerateRequest {
  prompt: string;
  options: GenerateOptions;
}

export interface ScoreRequest {
  prompt: string;
  continuation: string;
}

/** Per-token log-probs of the continuation's tokens, conditioned on the prompt and the preceding tokens. */
export interface ScoreResult {
  tokens: number[];
  logprobs: Float32Array;
}

export interface Engine {
  /** A short identity for manifests and fingerprints, e.g. `onnx:data/models/pi0@<hash>`. */
  readonly id: string;
  /** Generates for many prompts at once; results in the order of `requests`. */
  generate(requests: GenerateRequest[]): Promise<Completion[][]>;
  /** Scores many (prompt, continuation) pairs; results in the order of `requests`. */
  score(requests: ScoreRequest[]): Promise<ScoreResult[]>;
  tokenize(text: string): Promise<number[]>;
  /** Releases sessions, sockets and workers. */
  close(): Promise<void>;
}

export const DEFAULT_GENERATE_OPTIONS: GenerateOptions = {
  n: 1,
  seed: 0,
  temperature: 1,
  topP: 1,
  topK: 0,
  maxTokens: 256,
  stop: [],
};
