/**
 * `vrdata serve`'s backend for the embedded onnxruntime engine. The engine returns each
 * completion's sampled ids and summed log-prob; vLLM's `logprobs` wants one value per token, so
 * when the engine does not carry them (`tokenLogprobs` on its completions) they are recomputed
 * by scoring prompt + completion ids: exact up to float noise, at the cost of one extra
 * forward pass, and only for requests that ask for logprobs.
 *
 * Requests that arrive while the engine is busy are gathered and run as one engine call, so
 * concurrent HTTP clients get the engine's batched decode (each sample keeps its own seed, so its
 * result does not depend on the batch, up to float noise in batched matmuls).
 */
import type { GenerateOptions, GenerateRequest } from '../engines/types.js';
import type { OnnxCompletion, OnnxEngine } from '../engines/onnx/engine.js';
import type { DetailedCompletion, ServeBackend } from './backend.js';

/** Serves `engine` under `modelName` (the name clients put in "model"). */
export function onnxBackend(engine: OnnxEngine, modelName: string, options: { maxBatch?: number } = {}): ServeBackend {
  const tokenizer = engine.model.tokenizer;
  const generateBatched = batcher<GenerateRequest, OnnxCompletion[]>((reqs) => engine.generate(reqs), options.maxBatch ?? 64);
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
      const outs = await generateBatched({ prompt: text, options });
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

/**
 * Turns a batch function into a per-item one: items queued while a batch runs go together into
 * the next call (at most `max`), so one caller alone is never delayed.
 */
export function batcher<In, Out>(run: (items: In[]) => Promise<Out[]>, max: number): (item: In) => Promise<Out> {
  let queue: { item: In; resolve: (o: Out) => void; reject: (e: unknown) => void }[] = [];
  let running = false;
  const pump = async (): Promise<void> => {
    running = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, max);
      queue = queue.slice(batch.length);
      try {
        const outs = await run(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(outs[i]!));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    running = false;
  };
  return (item) =>
    new Promise<Out>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      // Start on the next macrotask so requests parsed in the same I/O turn share the first batch.
      if (!running) { running = true; setImmediate(() => void pump()); }
    });
}
