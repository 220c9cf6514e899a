/**
 * `vrdata serve`'s backend for the embedded onnxruntime engine. The engine returns each
 * completion's sampled ids and summed log-prob; vLLM's `logprobs` wants one value per token, so
 * when the engine does not carry them (`tokenLogprobs` on its completions) they are recomputed
 * by scoring prompt + completion ids: exact up to float noise, at the cost of one extra
 * forward pass, and only for requests that ask for logprobs.
 */
import type { GenerateOptions } from '../engines/types.js';
import type { OnnxEngine } from '../engines/onnx/engine.js';
import type { DetailedCompletion, ServeBackend } from './backend.js';

/** Serves `engine` under `modelName` (the name clients put in "model"). */
export function onnxBackend(engine: OnnxEngine, modelName: string): ServeBackend {
  const tokenizer = engine.model.tokenizer;
  const decode = (ids: number[]): string => tokenizer.decode(ids, { skip_special_tokens: false });
  return {
    modelName,
    maxModelLen: engine.model.maxPositions,
    tokenize: (text) => engine.tokenize(text),
    decode,
    tokenStrings: (ids) => ids.map((id) => decode([id])),
    generate: async (prompt: string | number[], options: GenerateOptions, wantLogprobs = true): Promise<DetailedCompletion[]> => {
      // Token-id prompts are decoded to text: the engine tokenizes prompts itself (exact when the ids are the text's own tokenization).
      const text = typeof prompt === 'string' ? prompt : decode(prompt);
      const [outs] = await engine.generate([{ prompt: text, options }]);
      const promptIds = await engine.tokenize(text);
      return Promise.all(
        outs!.map(async (c) => {
          const carried = (c as { tokenLogprobs?: number[] }).tokenLogprobs;
          let tokenLogprobs: number[] | null = carried ?? null;
          if (!tokenLogprobs && wantLogprobs && c.ids.length > 0) {
            const [scored] = await engine.scoreIds([{ prompt: promptIds, continuation: c.ids }]);
            tokenLogprobs = Array.from(scored!.logprobs);
          }
          return { text: c.text, finishReason: c.finishReason, tokens: c.tokens, logprob: c.logprob, tokenIds: c.ids, tokenLogprobs: tokenLogprobs ?? [] };
        }),
      );
    },
    scoreIds: async (ids) => {
      const [scored] = await engine.scoreIds([{ prompt: ids.slice(0, 1), continuation: ids.slice(1) }]);
      return scored!.logprobs;
    },
    close: () => engine.close(),
  };
}
