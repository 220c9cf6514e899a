/**
 * init_model — a fresh small Qwen3 decoder whose tokenizer merges are learned from the run's own
 * prompts and responses (so toy sequences are short), written to <run>/models/<stage id>/ like a
 * train stage's model: later stages use it as `base: run:models/<stage id>` or an engine model.
 *
 * reads:  samples (question, hint, reference thought and solution)
 * writes: model_card (one row: folder, parameters, vocabulary, merges) and the model folder
 *
 * The corpus is every question rendered with each of `templates` (hint included) followed by its
 * original response, so the merges cover the prompt scaffolding as well as the task's text.
 */
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { defineStage } from '../pipeline/stage.js';
import { MODEL_CARD } from './tables.js';
import { initModelFolder } from '../model/folder.js';
import { renderTemplate, templateText, originalResponse } from './templates.js';
import { modelFolderOf } from './train.js';
import { usageError } from '../util/errors.js';
import { MARKER_TOKENS } from '../model/tokenizer.js';
import { MODEL_FILES } from '../model/folder.js';

/**
 * Makes the reasoning markers plain text in a model folder's tokenizer. Why: DESIGN cuts a trace
 * just after "<|end_of" and the rollout (and the built response z + "_thought|>...") continues from
 * there. With the markers as single tokens, a model trained on original responses has only ever
 * seen the whole-marker id, so the byte pieces "<|end_of" + "_thought|>" are out of its
 * distribution (measured: a toy pi_theta0 answered 46% of questions but only 11% of its rollouts
 * after a cut trace were right, and training on the built set halved its accuracy). As plain text,
 * "<|end_of_thought|>" splits into the same pre-tokenizer pieces with or without the cut. Their ids
 * stay in the vocabulary, unused; the chat specials (<|im_start|>, <|im_end|>, EOS) are kept.
 */
async function dropMarkerTokens(dir: string): Promise<void> {
  const markers = new Set<string>(MARKER_TOKENS);
  const tokPath = join(dir, MODEL_FILES.tokenizer);
  const tok = JSON.parse(await readFile(tokPath, 'utf8')) as { added_tokens: { content: string }[] };
  tok.added_tokens = tok.added_tokens.filter((t) => !markers.has(t.content));
  await writeFile(tokPath, `${JSON.stringify(tok, null, 2)}\n`);
  const cfgPath = join(dir, MODEL_FILES.tokenizerConfig);
  const cfg = JSON.parse(await readFile(cfgPath, 'utf8')) as { added_tokens_decoder: Record<string, { content: string }> };
  for (const [id, t] of Object.entries(cfg.added_tokens_decoder)) if (markers.has(t.content)) delete cfg.added_tokens_decoder[id];
  await writeFile(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
}

export interface InitModelParams {
  layers: number;
  hidden: number;
  heads: number;
  kv_heads: number;
  intermediate: number;
  merges: number;
  seed: number;
  init_std: number;
  templates: string[];
  marker_tokens: boolean;
}


export const initModelStage = defineStage<InitModelParams>({
  name: 'init_model',
  version: 1,
  describe: 'A fresh seeded Qwen3 decoder with BPE merges learned from the prompts and responses of samples',
  scope: 'all',
  inputs: { samples: ['sample_id', 'question', 'hint', 'reference_thought', 'reference_solution'] },
  outputs: { model_card: MODEL_CARD },
  params: {
    layers: { type: 'integer', default: 2, describe: 'decoder layers' },
    hidden: { type: 'integer', default: 64, describe: 'hidden size' },
    heads: { type: 'integer', default: 4, describe: 'attention heads' },
    kv_heads: { type: 'integer', default: 2, describe: 'key/value heads (divides heads)' },
    intermediate: { type: 'integer', default: 0, describe: 'SwiGLU inner size (0: 3 * hidden)' },
    merges: { type: 'integer', default: 300, describe: 'BPE merges learned from the corpus (0: bytes only)' },
    seed: { type: 'integer', default: 0, describe: 'weight seed' },
    init_std: { type: 'number', default: 0.02, describe: 'standard deviation of the random matrices' },
    templates: { type: 'string[]', default: ['reasoning'], describe: 'prompt templates rendered into the merges corpus (the ones the run trains with)' },
    marker_tokens: { type: 'boolean', default: true, describe: 'reasoning markers (<|end_of_thought|>, ...) as single added tokens; false: plain BPE text, so a trace cut at "<|end_of" continues in tokens the model has seen' },
  },
  fingerprintExtra: (p) => p.templates.map((t) => templateText(t)).join('\u0000'),
  async run(ctx) {
    const p = ctx.params;
    if (p.heads % p.kv_heads !== 0) throw usageError('init_model', `heads (${p.heads}) must be a multiple of kv_heads (${p.kv_heads})`);
    const pieces: string[] = [];
    for await (const batch of ctx.read('samples')) {
      for (const s of batch) {
        const vars = { question: String(s.question), hint: String(s.hint) };
        for (const t of p.templates) pieces.push(renderTemplate(t, vars));
        if (s.reference_thought != null && s.reference_solution != null) pieces.push(originalResponse(String(s.reference_thought), String(s.reference_solution)));
      }
    }
    const corpus = pieces.join('\n');
    const folder = modelFolderOf(ctx.stageId);
    const made = await initModelFolder({
      out: join(ctx.runDir, folder), layers: p.layers, hidden: p.hidden, heads: p.heads, kvHeads: p.kv_heads,
      intermediate: p.intermediate > 0 ? p.intermediate : undefined, seed: p.seed, initStd: p.init_std,
      mergesCorpus: corpus, merges: p.merges,
    });
    if (!p.marker_tokens) await dropMarkerTokens(join(ctx.runDir, folder));
    ctx.log(`wrote ${folder}: ${made.params} parameters, vocabulary ${made.vocabSize}`);
    await ctx.write('model_card', [{ model: folder, params: made.params, vocab_size: made.vocabSize, merges: p.merges, corpus_chars: corpus.length }]);
    ctx.progress.tick(1);
  },
});
