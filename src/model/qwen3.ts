/**
 * The one definition of the Qwen3 decoder (RMSNorm, RoPE, grouped-query attention with per-head
 * q/k RMSNorm, SwiGLU), emitted as ONNX through GraphBuilder from weights named as in Hugging
 * Face checkpoints. The inference graph (kvCache: true) has the Hugging Face ONNX layout; the
 * training graph (kvCache: false) is the same computation without the cache, so the trainer
 * differentiates exactly what the engine runs.
 */
import { GraphBuilder, numel } from './graph.js';
import { VrdataError } from '../util/errors.js';

/** config.json of a Qwen3 model, Hugging Face field names. */
export interface Qwen3Config {
  model_type: 'qwen3';
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  intermediate_size: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  max_position_embeddings: number;
  hidden_act?: 'silu';
  attention_bias?: false;
  bos_token_id?: number | null;
  eos_token_id?: number | number[];
  pad_token_id?: number | null;
  torch_dtype?: string;
  initializer_range?: number;
}

/** Fills the defaults of a small Qwen3 config from the few numbers that matter. */
export function qwen3Config(p: {
  vocabSize: number; hidden: number; layers: number; heads: number; kvHeads?: number; headDim?: number;
  intermediate?: number; ropeTheta?: number; eps?: number; tie?: boolean; maxPositions?: number;
}): Qwen3Config {
  const config: Qwen3Config = {
    model_type: 'qwen3',
    architectures: ['Qwen3ForCausalLM'],
    vocab_size: p.vocabSize,
    hidden_size: p.hidden,
    num_hidden_layers: p.layers,
    num_attention_heads: p.heads,
    num_key_value_heads: p.kvHeads ?? p.heads,
    head_dim: p.headDim ?? Math.floor(p.hidden / p.heads),
    intermediate_size: p.intermediate ?? 3 * p.hidden,
    rms_norm_eps: p.eps ?? 1e-6,
    rope_theta: p.ropeTheta ?? 1_000_000,
    tie_word_embeddings: p.tie ?? true,
    max_position_embeddings: p.maxPositions ?? 32768,
    hidden_act: 'silu',
    attention_bias: false,
    torch_dtype: 'float32',
    initializer_range: 0.02,
  };
  validateConfig(config);
  return config;
}

/** Throws a VrdataError naming the first inconsistent field. */
export function validateConfig(c: Qwen3Config, where = 'config.json'): void {
  const positive = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'intermediate_size'] as const;
  for (const k of positive) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new VrdataError('model', `${where}: ${k} must be a positive integer, got ${String(c[k])}`);
  }
  if (c.model_type !== 'qwen3') throw new VrdataError('model', `${where}: model_type is ${String(c.model_type)}, only qwen3 models can be built; use a qwen3 config`);
  if (c.num_attention_heads % c.num_key_value_heads !== 0) {
    throw new VrdataError('model', `${where}: num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${c.num_key_value_heads})`);
  }
  if (c.head_dim % 2 !== 0) throw new VrdataError('model', `${where}: head_dim must be even for RoPE, got ${c.head_dim}`);
}

/** Every weight of the model, Hugging Face name -> shape, in a stable order. */
export function qwen3ParamShapes(c: Qwen3Config): Map<string, number[]> {
  const D = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads, hd = c.head_dim, I = c.intermediate_size;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [c.vocab_size, D]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [D]);
    m.set(`${p}.self_attn.q_proj.weight`, [H * hd, D]);
    m.set(`${p}.self_attn.k_proj.weight`, [KV * hd, D]);
    m.set(`${p}.self_attn.v_proj.weight`, [KV * hd, D]);
    m.set(`${p}.self_attn.o_proj.weight`, [D, H * hd]);
    m.set(`${p}.self_attn.q_norm.weight`, [hd]);
    m.set(`${p}.self_attn.k_norm.weight`, [hd]);
    m.set(`${p}.post_attention_layernorm.weight`, [D]);
    m.set(`${p}.mlp.gate_proj.weight`, [I, D]);
    m.set(`${p}.mlp.up_proj.weight`, [I, D]);
    m.set(`${p}.mlp.down_proj.weight`, [D, I]);
  }
  m.set('model.norm.weight', [D]);
  if (!c.tie_word_embeddings) m.set('lm_head.weight', [c.vocab_size, D]);
  return m;
}

/** Total number of weights. */
export function qwen3ParamCount(c: Qwen3Config): number {
  let n = 0;
  for (const dims of qwen3ParamShapes(c).values()) n += numel(dims);
  return n;
}

/** Names of the graph's values that a caller (the trainer) may need. */
export interface DecoderValues {
  /** [batch, seq, vocab] float32 logits. */
  logits: string;
  /** [batch, seq, hidden] after the final norm. */
  hidden: string;
  inputIds: string;
  attentionMask: string;
  positionIds: string;
}

/** Outputs kv_step.{i}.key/value: this step's keys and values alone ([batch, kv_heads, seq, head_dim]), for a caller that keeps its own cache. */
export const KV_STEP = 'kv_step';

/** Mask value for positions a query must not see: finite, so a fully masked (padding) row gives no NaN. */
export const MASK_VALUE = -1e9;

/**
 * Emits the decoder into `g`: inputs input_ids [batch, seq] int64, attention_mask [batch, past+seq]
 * int64 (1 = attend, 0 = padding), position_ids [batch, seq] int64 and, with kvCache,
 * past_key_values.{i}.key/value [batch_size, kv_heads, past_seq, head_dim]. Attention is causal
 * within the sequence and sees every unmasked past position. Registers the outputs `logits`
 * (and present.{i}.key/value) unless `registerOutputs` is false (the trainer adds its own loss).
 */
export function buildDecoder(g: GraphBuilder, c: Qwen3Config, options: { kvCache: boolean; registerOutputs?: boolean; fusable?: boolean }): DecoderValues {
  validateConfig(c);
  const register = options.registerOutputs ?? true;
  // The inference graph spells RMSNorm and RoPE in the forms onnxruntime fuses or that take
  // fewer nodes (same arithmetic); the training graph keeps the primitives its autodiff knows.
  const fusable = options.fusable ?? options.kvCache;
  const D = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads, hd = c.head_dim, I = c.intermediate_size;
  const half = hd / 2;
  const shapes = qwen3ParamShapes(c);
  const W = (name: string): string => g.param(name, shapes.get(name)!);

  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const past: { key: string; value: string }[] = [];
  if (options.kvCache) {
    for (let i = 0; i < c.num_hidden_layers; i++) {
      past.push({
        key: g.input(`past_key_values.${i}.key`, 'float32', ['batch_size', KV, 'past_sequence_length', hd]),
        value: g.input(`past_key_values.${i}.value`, 'float32', ['batch_size', KV, 'past_sequence_length', hd]),
      });
    }
  }

  // Attention bias [batch, 1, seq, total]: query q (absolute index past+q) sees key k when k <= past+q
  // and attention_mask[b, k] == 1. Integer-only path: nothing here needs a gradient.
  const toScalar = (v: string): string => g.reshape(v, []);
  const seqLen = toScalar(g.shape(inputIds, 1, 2));
  const pastLen = options.kvCache ? toScalar(g.shape(past[0]!.key, 2, 3)) : g.scalar(0, 'int64');
  const total = g.add(pastLen, seqLen);
  const one = g.scalar(1, 'int64');
  const keyIdx = g.op('Range', [g.scalar(0, 'int64'), total, one]);
  const queryIdx = g.op('Range', [pastLen, total, one]);
  const causal = g.op('LessOrEqual', [g.unsqueeze(keyIdx, [0]), g.unsqueeze(queryIdx, [1])]);
  const keep = g.cast(g.unsqueeze(attentionMask, [1, 2]), 'bool');
  const visible = g.op('And', [causal, keep]);
  const bias = g.where(visible, g.scalar(0), g.scalar(MASK_VALUE));

  // RoPE (rotate-half convention, as Hugging Face Qwen3): angle = position * theta^(-2j/hd).
  const invFreq = new Float32Array(half);
  for (let j = 0; j < half; j++) invFreq[j] = 1 / Math.pow(c.rope_theta, (2 * j) / hd);
  const freqs = g.mul(g.unsqueeze(g.cast(positionIds, 'float32'), [2]), g.constant('float32', [half], invFreq, 'inv_freq'));
  const angles = g.concat([freqs, freqs], -1);
  const cos = g.unsqueeze(g.cos(angles), [1]);
  const sin = fusable ? '' : g.unsqueeze(g.sin(angles), [1]);
  // rotate_half(x) * sin == swap_halves(x) * [-sin, sin]: one Gather instead of two Slices, a Neg and a Concat per use.
  const swap = fusable ? g.constant('int64', [hd], Array.from({ length: hd }, (_, j) => (j + half) % hd), 'rope_swap') : '';
  const halfSin = fusable ? g.sin(freqs) : '';
  const signedSin = fusable ? g.unsqueeze(g.concat([g.neg(halfSin), halfSin], -1), [1]) : '';
  const rope = (x: string): string => {
    if (fusable) return g.add(g.mul(x, cos), g.mul(g.gather(x, swap, 3), signedSin));
    const x1 = g.slice(x, [0], [half], [3]);
    const x2 = g.slice(x, [half], [hd], [3]);
    return g.add(g.mul(x, cos), g.mul(g.concat([g.neg(x2), x1], 3), sin));
  };

  const eps = g.scalar(c.rms_norm_eps);
  const rmsnorm = (x: string, weight: string): string => {
    const variance = g.reduceMean(fusable ? g.op('Pow', [x, g.scalar(2)]) : g.mul(x, x), [-1]);
    return g.mul(g.div(x, g.sqrt(g.add(variance, eps))), W(weight));
  };
  // Hugging Face stores Linear weights [out, in]; onnxruntime folds this Transpose at load time.
  const linear = (x: string, weight: string): string => g.matmul(x, g.transpose(W(weight), [1, 0]));
  const scale = g.scalar(1 / Math.sqrt(hd));
  const G = H / KV;

  let h = g.gather(W('model.embed_tokens.weight'), inputIds);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    const x = rmsnorm(h, `${p}.input_layernorm.weight`);
    const heads = (proj: string, n: number): string => g.reshape(linear(x, proj), [0, 0, n, hd]);
    const q = rope(g.transpose(rmsnorm(heads(`${p}.self_attn.q_proj.weight`, H), `${p}.self_attn.q_norm.weight`), [0, 2, 1, 3]));
    const k = rope(g.transpose(rmsnorm(heads(`${p}.self_attn.k_proj.weight`, KV), `${p}.self_attn.k_norm.weight`), [0, 2, 1, 3]));
    const v = g.transpose(heads(`${p}.self_attn.v_proj.weight`, KV), [0, 2, 1, 3]);
    // Grouped-query attention without copying K/V: query head h uses kv head floor(h / G), so
    // [b, H, s, hd] viewed as [b, KV, G*s, hd] lines each group up with its kv head.
    const qg = g.reshape(q, [0, KV, -1, hd]);
    const keyScores = (keys: string): string => g.matmul(qg, g.transpose(keys, [0, 1, 3, 2]));
    let ctx: string;
    if (options.kvCache) {
      // present = past ++ new is an output only: attention reads the past and the new keys apart
      // (scores side by side, one softmax), so a caller that keeps its own cache and fetches
      // kv_step.{i} (this step's keys and values) never pays for copying the whole cache.
      if (register) {
        g.output(g.concat([past[i]!.key, k], 2, `present.${i}.key`), 'float32', ['batch_size', KV, 'total_sequence_length', hd]);
        g.output(g.concat([past[i]!.value, v], 2, `present.${i}.value`), 'float32', ['batch_size', KV, 'total_sequence_length', hd]);
        g.output(k, 'float32', ['batch_size', KV, 'sequence_length', hd], `${KV_STEP}.${i}.key`);
        g.output(v, 'float32', ['batch_size', KV, 'sequence_length', hd], `${KV_STEP}.${i}.value`);
      }
      const scores = g.reshape(g.mul(g.concat([keyScores(past[i]!.key), keyScores(k)], 3), scale), [0, H, -1, 0]);
      const probs = g.reshape(g.softmax(g.add(scores, bias), -1), [0, KV, -1, 0]);
      const probsPast = g.op('Slice', [probs, g.ints([0]), g.reshape(pastLen, [1]), g.ints([3])]);
      const probsNew = g.op('Slice', [probs, g.reshape(pastLen, [1]), g.reshape(total, [1]), g.ints([3])]);
      ctx = g.add(g.matmul(probsPast, past[i]!.value), g.matmul(probsNew, v));
    } else {
      const scores = g.reshape(g.mul(keyScores(k), scale), [0, H, -1, 0]);
      const probs = g.reshape(g.softmax(g.add(scores, bias), -1), [0, KV, -1, 0]);
      ctx = g.matmul(probs, v);
    }
    ctx = g.reshape(g.transpose(g.reshape(ctx, [0, H, -1, hd]), [0, 2, 1, 3]), [0, 0, H * hd]);
    h = g.add(h, linear(ctx, `${p}.self_attn.o_proj.weight`));
    const y = rmsnorm(h, `${p}.post_attention_layernorm.weight`);
    const gate = linear(y, `${p}.mlp.gate_proj.weight`);
    const act = g.mul(g.mul(gate, g.sigmoid(gate)), linear(y, `${p}.mlp.up_proj.weight`));
    h = g.add(h, linear(act, `${p}.mlp.down_proj.weight`));
  }
  const hidden = rmsnorm(h, 'model.norm.weight');
  const head = c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const logits = g.matmul(hidden, g.transpose(W(head), [1, 0]));
  if (register) g.output(logits, 'float32', ['batch_size', 'sequence_length', c.vocab_size], 'logits');
  return { logits: register ? 'logits' : logits, hidden, inputIds, attentionMask, positionIds };
}
