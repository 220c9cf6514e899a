/** `vrdata generate`: samples completions of one prompt with the embedded onnxruntime engine. */
import type { CommandModule } from 'yargs';
import { openOnnxEngine } from '../../engines/onnx/engine.js';
import { usageError } from '../../util/errors.js';

interface GenerateArgs {
  model: string;
  prompt: string;
  n: number;
  seed: number;
  temperature: number;
  'top-p': number;
  'top-k': number;
  'max-tokens': number;
  stop: string[];
  json: boolean;
  threads: number;
  device: 'cpu' | 'cuda';
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'Sample completions of a prompt with a local ONNX model (Hugging Face ONNX layout)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder: config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx' })
      .option('prompt', { type: 'string', demandOption: true, describe: 'prompt text, used as is (apply a chat template yourself)' })
      .option('n', { type: 'number', default: 1, describe: 'completions; they share one prefill of the prompt' })
      .option('seed', { type: 'number', default: 0, describe: 'completion i uses seed + i, so each is reproducible on its own' })
      .option('temperature', { type: 'number', default: 1, describe: 'sampling temperature; 0 = greedy' })
      .option('top-p', { type: 'number', default: 1, describe: 'nucleus sampling mass in (0, 1]; 1 = off' })
      .option('top-k', { type: 'number', default: 0, describe: 'keep the k most likely tokens; 0 = off' })
      .option('max-tokens', { type: 'number', default: 256, describe: 'new tokens per completion at most' })
      .option('stop', { type: 'string', array: true, default: [] as string[], describe: 'stop strings (repeatable); the matched one is kept at the end of the text' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object with the completions and throughput' })
      .option('threads', { type: 'number', default: 0, describe: 'onnxruntime intra-op threads (0 = one per core)' })
      .option('device', { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const, describe: 'execution provider; cuda needs onnxruntime-node installed with its CUDA libraries' })
      .example('$0 generate --model data/models/tiny --prompt "2+2=" --n 4 --max-tokens 32', 'four samples'),
  handler: async (a) => {
    if (!Number.isInteger(a.n) || a.n < 1) throw usageError('generate', `--n must be a positive integer, got ${a.n}`);
    if (!Number.isInteger(a['max-tokens']) || a['max-tokens'] < 0) throw usageError('generate', `--max-tokens must be a non-negative integer, got ${a['max-tokens']}`);
    if (!(a['top-p'] > 0 && a['top-p'] <= 1)) throw usageError('generate', `--top-p must be in (0, 1], got ${a['top-p']}`);
    if (!(a.temperature >= 0)) throw usageError('generate', `--temperature must be >= 0, got ${a.temperature}`);
    if (!Number.isSafeInteger(a.seed)) throw usageError('generate', `--seed must be an integer, got ${a.seed}`);
    const engine = await openOnnxEngine({ modelDir: a.model, threads: a.threads, device: a.device });
    try {
      const t0 = performance.now();
      const [completions] = await engine.generate([{
        prompt: a.prompt,
        options: { n: a.n, seed: a.seed, temperature: a.temperature, topP: a['top-p'], topK: a['top-k'], maxTokens: a['max-tokens'], stop: a.stop.map(String) },
      }]);
      const seconds = (performance.now() - t0) / 1000;
      const tokens = completions!.reduce((s, c) => s + c.tokens, 0);
      if (a.json) {
        const out = completions!.map((c) => ({ text: c.text, finish_reason: c.finishReason, tokens: c.tokens, logprob: c.logprob }));
        process.stdout.write(`${JSON.stringify({ model: engine.id, completions: out, tokens, seconds, tokens_per_second: tokens / seconds })}\n`);
      } else {
        completions!.forEach((c, i) => process.stdout.write(`--- ${i} (${c.finishReason}, ${c.tokens} tokens)\n${c.text}\n`));
        process.stderr.write(`generate: ${tokens} tokens in ${seconds.toFixed(2)} s (${(tokens / seconds).toFixed(1)} tokens/s)\n`);
      }
    } finally {
      await engine.close();
    }
  },
};
