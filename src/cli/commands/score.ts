/** `vrdata score`: per-token log-probs of a continuation given a prompt, with the embedded engine. */
import type { CommandModule } from 'yargs';
import { usageError } from '../../util/errors.js';
import { openOnnxEngine } from '../../engines/onnx/engine.js';

interface ScoreArgs {
  model?: string;
  prompt?: string;
  continuation?: string;
  json: boolean;
  threads: number;
  device: 'cpu' | 'cuda';
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score',
  describe: 'Per-token log-probs of a continuation given a prompt, with a local ONNX model',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'model folder: config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx' })
      .option('prompt', { type: 'string', describe: 'conditioning text (at least one token)' })
      .option('continuation', { type: 'string', describe: 'text to score; tokenized on its own, so the prompt/continuation cut is a token boundary' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object: tokens, logprobs, sum' })
      .option('threads', { type: 'number', default: 0, describe: 'onnxruntime intra-op threads (0 = one per core)' })
      .option('device', { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const, describe: 'execution provider; cuda needs onnxruntime-node installed with its CUDA libraries' })
      .example('$0 score --model data/models/tiny --prompt "2+2=" --continuation "4"', 'log p("4" | "2+2=")'),
  handler: async (a) => {
    if (a.model === undefined || a.prompt === undefined || a.continuation === undefined) {
      throw usageError('score', 'give --model, --prompt and --continuation (or --out to run the score stage).');
    }
    const engine = await openOnnxEngine({ modelDir: a.model, threads: a.threads, device: a.device });
    try {
      const [r] = await engine.score([{ prompt: a.prompt, continuation: a.continuation }]);
      const logprobs = Array.from(r!.logprobs);
      const sum = logprobs.reduce((s, v) => s + v, 0);
      if (a.json) {
        process.stdout.write(`${JSON.stringify({ model: engine.id, tokens: r!.tokens, logprobs, sum })}\n`);
      } else {
        const tok = engine.model.tokenizer;
        r!.tokens.forEach((t, i) => process.stdout.write(`${JSON.stringify(tok.decode([t], { skip_special_tokens: false, clean_up_tokenization_spaces: false }))}\t${t}\t${logprobs[i]!.toFixed(4)}\n`));
        process.stdout.write(`sum\t${sum.toFixed(4)}\t(${logprobs.length} tokens)\n`);
      }
    } finally {
      await engine.close();
    }
  },
};
