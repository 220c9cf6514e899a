/**
 * The engine's in-memory edits of a decoder graph (the file on disk stays as it is):
 *
 * 1. Scoring outputs: log-softmax and the gather of each position's next input token run inside
 *    onnxruntime, so scoring fetches [batch, seq - 1] log-probs instead of [batch, seq, vocab]
 *    logits and never walks the vocabulary in JavaScript (a decode step pays one log-softmax over
 *    [batch, 1, vocab] for them: onnxruntime runs every node, fetched or not).
 * 2. Without `present`: a graph with kv_step.{i} outputs (this project's) loses its present.{i}
 *    outputs and the Concat nodes that only fed them, since onnxruntime would copy the whole cache
 *    every step even with present unfetched (measured: 16 Concats, ~4.6 ms of a 32 ms decode step
 *    at 151 columns, 8 layers, batch 32). The engine builds what it needs of present from kv_step.
 *
 * Added outputs, for inputs input_ids [B, S] and the model's logits [B, S, V]:
 *   vrdata_next_logprobs [B, S - 1]: log p(input_ids[b, s + 1] | ..., position s)
 *   vrdata_last_logprobs [B, 1, V]:  log-probs at the last position (its target is the next chunk's first token)
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Names of the added outputs. */
export const SCORE_OUTPUTS = { next: 'vrdata_next_logprobs', last: 'vrdata_last_logprobs' } as const;

/** Largest .onnx file this rewrites in memory (protobuf's 2 GiB limit; parsing costs a copy of the file). */
export const SCORE_GRAPH_MAX_BYTES = 1 << 30;

const INT64_MAX = '9223372036854775807';

/** What `editGraph` did. */
export interface GraphEdits {
  /** The edited model, or null where nothing could be done (the file is then loaded as it is). */
  bytes: Uint8Array | null;
  scoreOutputs: boolean;
  /** present.{i} outputs were dropped (the graph has kv_step.{i} for every layer). */
  droppedPresent: boolean;
}

/**
 * Decodes the model once and applies the edits asked for; null bytes where the model cannot be
 * edited safely (weights in external data files, which the bytes alone could not find).
 */
export function editGraph(bytes: Uint8Array, o: { scoring: boolean; dropPresent: { layers: number; kvStep: string } | null }): GraphEdits {
  const none: GraphEdits = { bytes: null, scoreOutputs: false, droppedPresent: false };
  let model: onnxProto.onnx.ModelProto;
  try { model = onnx.ModelProto.decode(bytes); } catch { return none; }
  if (!model.graph || (model.graph.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) return none;
  const scoreOutputs = o.scoring && addScoringOutputs(model);
  const droppedPresent = o.dropPresent !== null && dropPresentOutputs(model, o.dropPresent.layers, o.dropPresent.kvStep);
  if (!scoreOutputs && !droppedPresent) return none;
  return { bytes: onnx.ModelProto.encode(model).finish(), scoreOutputs, droppedPresent };
}

/**
 * Removes present.{i}.key/value from the outputs where kv_step.{i}.key/value exist for every layer,
 * then every node none of whose outputs is used any more (the Concats that built present).
 */
function dropPresentOutputs(model: onnxProto.onnx.ModelProto, layers: number, kvStep: string): boolean {
  const graph = model.graph!;
  const outputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const present: string[] = [];
  for (let i = 0; i < layers; i++) {
    for (const kv of ['key', 'value']) {
      if (!outputs.has(`${kvStep}.${i}.${kv}`) || !outputs.has(`present.${i}.${kv}`)) return false;
      present.push(`present.${i}.${kv}`);
    }
  }
  const drop = new Set(present);
  graph.output = (graph.output ?? []).filter((v) => !drop.has(v.name ?? ''));
  // Dead nodes, repeatedly: a node whose outputs are neither graph outputs nor any node's inputs.
  for (let removed = true; removed;) {
    const used = new Set<string>((graph.output ?? []).map((v) => v.name ?? ''));
    for (const n of graph.node ?? []) for (const i of n.input ?? []) used.add(i);
    const before = graph.node!.length;
    graph.node = graph.node!.filter((n) => (n.output ?? []).some((out) => used.has(out)));
    removed = graph.node.length < before;
  }
  return true;
}

/** Adds the scoring outputs; false where it cannot be done safely (opset below 13, no input_ids/logits, names taken). */
function addScoringOutputs(model: onnxProto.onnx.ModelProto): boolean {
  const graph = model.graph!;
  const opset = (model.opsetImport ?? []).find((op) => !op.domain || op.domain === 'ai.onnx');
  if (!opset || Number(opset.version) < 13) return false;
  const logits = (graph.output ?? []).find((v) => v.name === 'logits');
  if (!logits || !(graph.input ?? []).some((i) => i.name === 'input_ids')) return false;
  const taken = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) taken.add(o);
  for (const t of graph.initializer ?? []) taken.add(t.name ?? '');
  const name = (s: string): string => {
    let v = `vrdata_score_${s}`;
    while (taken.has(v)) v += '_';
    taken.add(v);
    return v;
  };
  if (taken.has(SCORE_OUTPUTS.next) || taken.has(SCORE_OUTPUTS.last)) return false;
  graph.initializer ??= [];
  graph.node ??= [];

  const ints = (s: string, values: (number | string)[]): string => {
    const n = name(s);
    graph.initializer!.push(onnx.TensorProto.create({
      name: n, dataType: onnx.TensorProto.DataType.INT64, dims: [values.length],
      rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
    }));
    return n;
  };
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const node = (opType: string, input: string[], output: string, attribute: onnxProto.onnx.IAttributeProto[] = []): string => {
    nodes.push({ name: name(`n_${opType}`), opType, input, output: [output], attribute });
    return output;
  };
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const elem = logits.type?.tensorType?.elemType;
  const lf = elem === FLOAT ? 'logits' : node('Cast', ['logits'], name('logits_f32'), [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }]);
  const lsm = node('LogSoftmax', [lf], name('logsoftmax'), [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }]);
  const one = ints('one', [1]), minusOne = ints('minus_one', [-1]), zero = ints('zero', [0]), end = ints('end', [INT64_MAX]), two = ints('two', [2]);
  const head = node('Slice', [lsm, zero, minusOne, one], name('head'));
  const targets = node('Unsqueeze', [node('Slice', ['input_ids', one, end, one], name('targets')), two], name('targets3'));
  const gathered = node('GatherElements', [head, targets], name('gathered'), [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 }]);
  node('Squeeze', [gathered, two], SCORE_OUTPUTS.next);
  node('Slice', [lsm, minusOne, end, one], SCORE_OUTPUTS.last);
  graph.node!.push(...nodes.map((n) => onnx.NodeProto.create(n)));
  const dim = (p: string) => ({ dimParam: p });
  const tensor = (dims: onnxProto.onnx.TensorShapeProto.IDimension[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: dims } } });
  const vocab: onnxProto.onnx.TensorShapeProto.IDimension = logits.type?.tensorType?.shape?.dim?.[2] ?? dim('vocab_size');
  graph.output!.push(
    onnx.ValueInfoProto.create({ name: SCORE_OUTPUTS.next, type: tensor([dim('batch_size'), dim('vrdata_targets')]) }),
    onnx.ValueInfoProto.create({ name: SCORE_OUTPUTS.last, type: tensor([dim('batch_size'), { dimValue: 1 }, vocab]) }),
  );
  return true;
}
