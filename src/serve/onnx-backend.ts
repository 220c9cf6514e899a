/**
 * `vrdata serve`'s backend for the embedded onnxruntime engine. vLLM's `logprobs` wants one
 * value per sampled token: the engine reports them (`tokenLogprobs`, taken as they are, so HTTP
 * and in-process sums agree bit for bit); an engine that does not gets them from one batched
 * scoring pass over prompt + completion ids per engine call (exact up to float noise), only for
 * requests that ask for logprobs.
 *
 * Requests that arrive together or while the engine is busy are gathered and run as one engine
 * call, so concurrent HTTP clients get the engine's batched decode (each sample keeps its own seed, so its
 * result does not depend on the batch, up to float noise in batched matmuls).
 */
import type { GenerateOptions, GenerateRequest } from '../engines/types.js';
import type { OnnxCompletion, OnnxEngine } from '../engines/onnx/engine.js';
import type { DetailedCompletion, ServeBackend } from './backend.js';

/** A generation request as the batcher sees it: whether its caller wants per-token log-probs. */
interface BackendRequest extends GenerateRequest {
  wantLogprobs: boolean;
}

/** How long an idle server waits for more requests before starting a batch (see `batcher`). */
export const DEFAULT_BATCH_WINDOW_MS = 5;

/** Serves `engine` under `modelName` (the name clients put in "model"). */
export function onnxBackend(engine: OnnxEngine, modelName: string, options: { maxBatch?: number; batchWindowMs?: number } = {}): ServeBackend {
  const tokenizer = engine.model.tokenizer;
  const generateBatched = batcher<BackendRequest, DetailedCompletion[]>((reqs) => generateWithLogprobs(engine, reqs), options.maxBatch ?? 64, options.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS);
  const decode = (ids: number[]): string => tokenizer.decode(ids, { skip_special_tokens: false });
  // logprobs.tokens asks for every sampled token's text: decoding one id at a time is the
  // tokenizer's slow path, and a vocabulary is small, so each id is decoded once.
  const tokenText = new Map<number, string>();
  const tokenString = (id: number): string => {
    let t = tokenText.get(id);
    if (t === undefined) tokenText.set(id, (t = decode([id])));
    return t;
  };
  return {
    modelName,
    maxModelLen: engine.model.maxPositions,
    tokenize: (text) => engine.tokenize(text),
    decode,
    tokenStrings: (ids) => ids.map(tokenString),
    generate: (prompt: string | number[], options: GenerateOptions, wantLogprobs = true): Promise<DetailedCompletion[]> =>
      // Token-id prompts are decoded to text: the engine tokenizes prompts itself (exact when the ids are the text's own tokenization).
      generateBatched({ prompt: typeof prompt === 'string' ? prompt : decode(prompt), options, wantLogprobs }),
    scoreIds: async (ids) => {
      const [scored] = await engine.scoreIds([{ prompt: ids.slice(0, 1), continuation: ids.slice(1) }]);
      return scored!.logprobs;
    },
    close: () => engine.close(),
  };
}

/**
 * One batched generate call; completions that come without per-token log-probs (an engine
 * that reports only their sum) get them from one batched scoring pass over all of them.
 */
async function generateWithLogprobs(engine: OnnxEngine, reqs: BackendRequest[]): Promise<DetailedCompletion[][]> {
  const outs = await engine.generate(reqs);
  const missing: { c: OnnxCompletion; prompt: string }[] = [];
  outs.forEach((cs, i) => {
    if (!reqs[i]!.wantLogprobs) return;
    for (const c of cs) if (!carries(c) && c.ids.length > 0) missing.push({ c, prompt: reqs[i]!.prompt });
  });
  const scored = new Map<OnnxCompletion, number[]>();
  if (missing.length > 0) {
    const promptIds = new Map<string, number[]>();
    for (const { prompt } of missing) if (!promptIds.has(prompt)) promptIds.set(prompt, await engine.tokenize(prompt));
    const results = await engine.scoreIds(missing.map(({ c, prompt }) => ({ prompt: promptIds.get(prompt)!, continuation: c.ids })));
    missing.forEach(({ c }, k) => scored.set(c, Array.from(results[k]!.logprobs)));
  }
  return outs.map((cs) =>
    cs.map((c) => ({ text: c.text, finishReason: c.finishReason, tokens: c.tokens, logprob: c.logprob, tokenIds: c.ids, tokenLogprobs: carries(c) ? c.tokenLogprobs : (scored.get(c) ?? []) })),
  );
}

/** Whether the engine reported one log-prob per sampled token itself. */
function carries(c: OnnxCompletion): boolean {
  return Array.isArray(c.tokenLogprobs) && c.tokenLogprobs.length === c.ids.length;
}

/**
 * Turns a batch function into a per-item one. When the engine is idle, the first item waits
 * `windowMs` for others (requests sent together reach the server over a millisecond or two, and
 * an engine call runs to completion before the next starts, so a batch split in two costs a
 * whole extra decode); items queued while a batch runs go together into the next call at once.
 * A batch holds at most `max` items; a full window starts without waiting.
 */
export function batcher<In, Out>(run: (items: In[]) => Promise<Out[]>, max: number, windowMs = 0): (item: In) => Promise<Out> {
  let queue: { item: In; resolve: (o: Out) => void; reject: (e: unknown) => void }[] = [];
  let running = false;
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  const pump = async (): Promise<void> => {
    timer = undefined;
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
      if (!running) {
        running = true;
        // Even with no window, start on the next macrotask so requests parsed in the same I/O turn share the batch.
        timer = windowMs > 0 ? setTimeout(() => void pump(), windowMs) : setImmediate(() => void pump());
      } else if (timer && queue.length >= max) {
        if (windowMs > 0) clearTimeout(timer as NodeJS.Timeout);
        else clearImmediate(timer as NodeJS.Immediate);
        void pump();
      }
    });
}
