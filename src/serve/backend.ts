/**
 * What `vrdata serve` needs from a model, one level below the Engine interface: vLLM's API
 * speaks token ids and per-token log-probs, which Engine (text in, sums out) does not expose.
 */
import type { Completion, Engine, GenerateOptions } from '../engines/types.js';

/** A completion with its tokens and each token's log-prob (temperature 1), as vLLM reports them. */
export interface DetailedCompletion extends Completion {
  tokenIds: number[];
  tokenLogprobs: number[];
}

export interface ServeBackend {
  /** The model's name in /v1/models and in responses. */
  readonly modelName: string;
  readonly maxModelLen: number;
  tokenize(text: string): Promise<number[]>;
  /** Text of token ids (used for token-id prompts and echo). */
  decode(ids: number[]): string;
  /** Display form of each token, for logprobs.tokens. */
  tokenStrings(ids: number[]): string[];
  /**
   * `options.n` completions; completion i uses seed `options.seed + i`, as Engine.generate does.
   * `wantLogprobs` false lets a backend skip computing per-token log-probs (tokenLogprobs may then be empty).
   */
  generate(prompt: string | number[], options: GenerateOptions, wantLogprobs?: boolean): Promise<DetailedCompletion[]>;
  /** Log-prob of ids[i] given ids[0..i) for i = 1..len-1 (length len-1). */
  scoreIds(ids: number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** An engine that also offers the token-level calls; `backendFromEngine` uses them. */
export interface TokenLevelEngine extends Engine {
  decode(ids: number[]): string;
  tokenStrings?(ids: number[]): string[];
  generateDetailed(prompt: string | number[], options: GenerateOptions): Promise<DetailedCompletion[]>;
  scoreIds(ids: number[]): Promise<Float32Array>;
}

/** Serves a token-level engine under `modelName`. */
export function backendFromEngine(engine: TokenLevelEngine, modelName: string, maxModelLen = 32768): ServeBackend {
  return {
    modelName,
    maxModelLen,
    tokenize: (text) => engine.tokenize(text),
    decode: (ids) => engine.decode(ids),
    tokenStrings: (ids) => (engine.tokenStrings ? engine.tokenStrings(ids) : ids.map((id) => engine.decode([id]))),
    generate: (prompt, options) => engine.generateDetailed(prompt, options),
    scoreIds: (ids) => engine.scoreIds(ids),
    close: () => engine.close(),
  };
}
