/**
 * Makes a byte-level BPE tokenizer.json (Hugging Face format, loaded by @huggingface/tokenizers and
 * transformers.js): 256 byte symbols, so ANY text round-trips exactly, plus merges optionally learned
 * from a corpus, plus the chat and reasoning markers as added tokens with single ids.
 *
 * The markers and the pipeline's cut: DESIGN cuts a trace just after the first `<|end_of` and scores
 * the answer from `_thought|>` on. Here `<|begin_of_thought|>` etc. are single ids (so a model emits
 * and stop strings match them whole), and every other string still tokenizes through the byte
 * symbols. So a cut inside a marker is always scorable: `...<|end_of` ends in byte-level pieces and
 * `_thought|>...` starts with them; the engine tokenizes prompt and continuation separately, so the
 * cut is a token boundary and lp and lq of the same trace see the same tokens. The markers are
 * added tokens with `special: false` (as Qwen3 does with <think>) so decoding with
 * skip_special_tokens keeps them in the text; only <|im_start|>, <|im_end|> and <|endoftext|> are
 * special (dropped by skip_special_tokens).
 */

/** Special tokens (dropped when decoding with skip_special_tokens). Order fixes their ids. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
/** Reasoning and hint markers: single ids, kept in decoded text. */
export const MARKER_TOKENS = [
  '<|begin_of_thought|>', '<|end_of_thought|>', '<|begin_of_solution|>', '<|end_of_solution|>', '<hint>', '</hint>',
] as const;

/** GPT-2's byte -> printable character table used by the ByteLevel pre-tokenizer and decoder. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return table;
}

/** The GPT-2 split the ByteLevel pre-tokenizer applies (use_regex: true); merges never cross these pieces. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Learns `count` BPE merges from `corpus` (greedy most-frequent pair, ties broken by first seen). */
export function learnMerges(corpus: string, count: number): [string, string][] {
  const table = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const m of corpus.matchAll(GPT2_SPLIT)) {
    // Markers are never merged into: they are matched whole before BPE runs.
    wordCounts.set(m[0], (wordCounts.get(m[0]) ?? 0) + 1);
  }
  const words: { symbols: string[]; count: number }[] = [];
  for (const [w, n] of wordCounts) words.push({ symbols: Array.from(encoder.encode(w), (b) => table[b]!), count: n });
  const merges: [string, string][] = [];
  for (let step = 0; step < count; step++) {
    const pairs = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const key = `${w.symbols[i]} ${w.symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + w.count);
      }
    }
    let best = '', bestCount = 1;
    for (const [k, n] of pairs) if (n > bestCount) { best = k; bestCount = n; }
    if (best === '') break; // nothing occurs twice: more merges would only memorise
    const [a, b] = best.split(' ') as [string, string];
    merges.push([a, b]);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.symbols.length; i++) {
        if (i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b) { out.push(a + b); i++; }
        else out.push(w.symbols[i]!);
      }
      w.symbols = out;
    }
  }
  return merges;
}

/** What makeTokenizer returns: the two files' JSON and the ids callers need. */
export interface MadeTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Number of ids (bytes + merges + added tokens); the model's vocab_size must be at least this. */
  vocabSize: number;
  ids: Record<string, number>;
  eosTokenIds: number[];
  padTokenId: number;
}

/** A Qwen-style chat template (ChatML). */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Builds tokenizer.json and tokenizer_config.json contents. */
export function makeTokenizer(options: { merges?: [string, string][] } = {}): MadeTokenizer {
  const table = bytesToUnicode();
  const vocab: Record<string, number> = {};
  let next = 0;
  for (let b = 0; b < 256; b++) vocab[table[b]!] = next++;
  const merges: string[] = [];
  for (const [a, b] of options.merges ?? []) {
    if (!(a in vocab) || !(b in vocab)) continue; // a merge of unknown symbols is unusable
    if (!(a + b in vocab)) vocab[a + b] = next++;
    merges.push(`${a} ${b}`);
  }
  const ids: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  for (const t of [...SPECIAL_TOKENS, ...MARKER_TOKENS]) {
    ids[t] = next;
    added.push({ id: next++, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: (SPECIAL_TOKENS as readonly string[]).includes(t) });
  }
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const addedDecoder: Record<string, unknown> = {};
  for (const a of added) addedDecoder[String(a.id)] = { ...a, id: undefined };
  const tokenizerConfig = {
    tokenizer_class: 'Qwen2Tokenizer',
    model_max_length: 32768,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    add_bos_token: false,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    errors: 'replace',
    split_special_tokens: false,
    added_tokens_decoder: addedDecoder,
    chat_template: CHAT_TEMPLATE,
  };
  return {
    tokenizerJson, tokenizerConfig, vocabSize: next, ids,
    eosTokenIds: [ids['<|im_end|>']!, ids['<|endoftext|>']!],
    padTokenId: ids['<|endoftext|>']!,
  };
}
