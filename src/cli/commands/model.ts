/** `vrdata model init` writes a small seeded Qwen3 decoder in the Hugging Face ONNX layout; `vrdata model rebuild` rewrites a folder's graph. */
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { initModelFolder, rebuildModelGraph } from '../../model/folder.js';
import { usageError, VrdataError } from '../../util/errors.js';

interface InitArgs {
  out: string;
  layers: number;
  hidden: number;
  heads: number;
  'kv-heads': number;
  'head-dim'?: number;
  intermediate?: number;
  'merges-from'?: string;
  'vocab-merges': number;
  seed: number;
  'init-std': number;
  'rope-theta': number;
  tie: boolean;
}

const positive = (name: string, v: number | undefined): void => {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw usageError('model', `--${name} must be a positive integer, got ${v}`);
};

const initCommand: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: 'Write a small Qwen3 decoder with seeded random weights (config, tokenizer, onnx/model.onnx)',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'model folder to write (created; files in it are overwritten)' })
      .option('layers', { type: 'number', default: 2, describe: 'decoder layers (num_hidden_layers)' })
      .option('hidden', { type: 'number', default: 64, describe: 'hidden size' })
      .option('heads', { type: 'number', default: 4, describe: 'attention heads' })
      .option('kv-heads', { type: 'number', default: 2, describe: 'key/value heads (grouped-query attention; divides --heads)' })
      .option('head-dim', { type: 'number', describe: 'size of one head (default: hidden / heads)' })
      .option('intermediate', { type: 'number', describe: 'SwiGLU inner size (default: 3 * hidden)' })
      .option('merges-from', { type: 'string', describe: 'text file to learn BPE merges from (the 256 byte symbols always cover any text)' })
      .option('vocab-merges', { type: 'number', default: 0, describe: 'BPE merges to learn from --merges-from (0 = bytes only)' })
      .option('seed', { type: 'number', default: 0, describe: 'weight seed; same options and seed give identical weights' })
      .option('init-std', { type: 'number', default: 0.02, describe: 'standard deviation of the random matrices (norms start at 1)' })
      .option('rope-theta', { type: 'number', default: 1_000_000, describe: 'RoPE base' })
      .option('tie', { type: 'boolean', default: true, describe: 'tie lm_head to the embedding (tie_word_embeddings)' })
      .example('$0 model init --out data/models/tiny --layers 2 --hidden 64', 'a 2-layer model of a few hundred KB')
      .example('$0 model init --out m --merges-from corpus.txt --vocab-merges 500', 'learn 500 merges from a corpus'),
  handler: async (a) => {
    for (const k of ['layers', 'hidden', 'heads', 'kv-heads', 'head-dim', 'intermediate'] as const) positive(k, a[k]);
    if (!Number.isInteger(a['vocab-merges']) || a['vocab-merges'] < 0) throw usageError('model', `--vocab-merges must be a non-negative integer, got ${a['vocab-merges']}`);
    if (a['vocab-merges'] > 0 && !a['merges-from']) throw usageError('model', '--vocab-merges needs --merges-from FILE (the corpus to learn merges from)');
    if (a.heads % a['kv-heads'] !== 0) throw usageError('model', `--heads (${a.heads}) must be a multiple of --kv-heads (${a['kv-heads']})`);
    if (!Number.isSafeInteger(a.seed)) throw usageError('model', `--seed must be an integer, got ${a.seed}`);
    if (!(a['init-std'] > 0)) throw usageError('model', `--init-std must be positive, got ${a['init-std']}`);
    const headDim = a['head-dim'] ?? Math.floor(a.hidden / a.heads);
    if (headDim % 2 !== 0) throw usageError('model', `head dim ${headDim} must be even (RoPE rotates pairs); pass --head-dim`);
    let corpus: string | undefined;
    if (a['merges-from']) {
      try { corpus = await readFile(a['merges-from'], 'utf8'); } catch (err) {
        throw new VrdataError('model', `cannot read --merges-from ${a['merges-from']} (${(err as Error).message}); pass a text file`, { cause: err });
      }
    }
    const r = await initModelFolder({
      out: a.out, layers: a.layers, hidden: a.hidden, heads: a.heads, kvHeads: a['kv-heads'], headDim,
      intermediate: a.intermediate, seed: a.seed, initStd: a['init-std'], mergesCorpus: corpus, merges: a['vocab-merges'],
      ropeTheta: a['rope-theta'], tie: a.tie,
    });
    process.stdout.write(`model: wrote ${a.out} (qwen3, ${a.layers} layers, hidden ${a.hidden}, vocab ${r.vocabSize}, ${r.params.toLocaleString('en-US')} parameters)\n`);
  },
};

const rebuildCommand: CommandModule<object, { dir: string }> = {
  command: 'rebuild <dir>',
  describe: "Rewrite a vrdata-made folder's onnx/model.onnx with the current graph, same weights (older folders then decode faster)",
  builder: (y) =>
    y.positional('dir', { type: 'string', demandOption: true, describe: 'a model folder written by `vrdata model init` or `vrdata train`' })
      .example('$0 model rebuild data/models/pi0', 'add the kv_step outputs the engine decodes through to a folder made before them'),
  handler: async (a) => {
    const { params } = await rebuildModelGraph(a.dir);
    process.stdout.write(`model: rebuilt ${a.dir}/onnx/model.onnx (${params.toLocaleString('en-US')} parameters, weights unchanged)\n`);
  },
};

export const modelCommand: CommandModule = {
  command: 'model <command>',
  describe: 'Make models the project can run and train (see `vrdata model init --help`, `vrdata model rebuild --help`)',
  builder: (y: Argv) => y.command(initCommand).command(rebuildCommand).demandCommand(1, 'Name a model command: init, rebuild'),
  handler: () => {},
};
