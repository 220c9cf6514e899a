/**
 * Incremental detokenization for generation: token ids in, text out, one token at a time, with
 * stop-string detection. Byte-level BPE tokenizers (ours, Qwen's) decode through a byte table in
 * O(1) per token; other tokenizers fall back to decoding the whole sequence each step.
 */
import type { Tokenizer } from '@huggingface/tokenizers';

/** id -> bytes for byte-level BPE tokenizers, or null when the tokenizer is not byte-level. */
export function byteTable(tokenizerJson: Record<string, unknown>, tok: Tokenizer): (Uint8Array | null)[] | null {
  const decoder = tokenizerJson.decoder as { type?: string; decoders?: { type?: string }[] } | null;
  const isByteLevel = decoder?.type === 'ByteLevel' || (decoder?.type === 'Sequence' && (decoder.decoders ?? []).some((d) => d.type === 'ByteLevel'));
  if (!isByteLevel) return null;
  const unicodeToByte = new Map<string, number>();
  {
    const printable: number[] = [];
    for (let b = 33; b <= 126; b++) printable.push(b);
    for (let b = 161; b <= 172; b++) printable.push(b);
    for (let b = 174; b <= 255; b++) printable.push(b);
    let extra = 0;
    for (let b = 0; b < 256; b++) unicodeToByte.set(printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++), b);
  }
  const vocab = tok.get_vocab(true);
  const added = tok.get_added_tokens_decoder();
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  const table: (Uint8Array | null)[] = new Array(size).fill(null);
  const enc = new TextEncoder();
  for (const [piece, id] of vocab) {
    const a = added.get(id);
    if (a) { table[id] = a.special ? new Uint8Array(0) : enc.encode(a.content); continue; } // special tokens are skipped, as skip_special_tokens
    const bytes: number[] = [];
    for (const ch of piece) {
      const b = unicodeToByte.get(ch);
      if (b === undefined) return null; // not a byte-level vocabulary after all
      bytes.push(b);
    }
    table[id] = Uint8Array.from(bytes);
  }
  return table;
}

/** The text of one completion as tokens arrive, and where a stop string ends in it. */
export class CompletionText {
  text = '';
  private readonly ids: number[] = [];
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false });
  private readonly maxStop: number;

  constructor(private readonly opts: { table: (Uint8Array | null)[] | null; tok: Tokenizer; stop: readonly string[] }) {
    this.maxStop = opts.stop.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Appends a token; returns the text length just after a stop string if one now ends the text, else -1. */
  push(id: number): number {
    const before = this.text.length;
    if (this.opts.table) {
      const bytes = this.opts.table[id];
      if (bytes && bytes.length > 0) this.text += this.utf8.decode(bytes, { stream: true });
    } else {
      this.ids.push(id);
      let full = this.opts.tok.decode(this.ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
      // Hold back a trailing replacement character: it may be half of a multi-byte character.
      while (full.endsWith('\uFFFD')) full = full.slice(0, -1);
      if (full.startsWith(this.text)) this.text = full;
    }
    if (this.maxStop === 0 || this.text.length === before) return -1;
    // Only a match that ends in the new text can be new; search from just before it.
    const from = Math.max(0, before - this.maxStop + 1);
    let end = -1;
    for (const s of this.opts.stop) {
      if (s.length === 0) continue;
      const at = this.text.indexOf(s, from);
      if (at >= 0 && (end < 0 || at + s.length < end)) end = at + s.length;
    }
    return end;
  }

  /** Flushes bytes held for an incomplete multi-byte character (replacement characters, as the tokenizer's decode). */
  finish(): string {
    if (this.opts.table) this.text += this.utf8.decode();
    else if (this.ids.length > 0) this.text = this.opts.tok.decode(this.ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    return this.text;
  }
}
