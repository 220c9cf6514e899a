/**
 * Scoring outputs added to a decoder in memory (the file on disk stays as it is): log-softmax and
 * the gather of each position's next input token run inside onnxruntime, so scoring fetches
 * [batch, seq - 1] log-probs instead of [batch, seq, vocab] logits and never walks the vocabulary
 * in JavaScript. onnxruntime runs only the nodes that the fetched outputs need, so generation,
 * which fetches logits and present, pays nothing for them.
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

/**
 * Returns the model's bytes with the scoring outputs added, or null where it cannot be done safely:
 * weights in external data files (the bytes alone could not find them), an opset below 13, no
 * input_ids/logits, or names already taken.
 */
export function withScoringOutputs(bytes: Uint8Array): Uint8Array | null {
  let model: onnxProto.onnx.ModelProto;
  try { model = onnx.ModelProto.decode(bytes); } catch { return null; }
  const graph = model.graph;
  if (!graph) return null;
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!opset || Number(opset.version) < 13) return null;
  if ((graph.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) return null;
  const logits = (graph.output ?? []).find((o) => o.name === 'logits');
  if (!logits || !(graph.input ?? []).some((i) => i.name === 'input_ids')) return null;
  const taken = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) taken.add(o);
  for (const t of graph.initializer ?? []) taken.add(t.name ?? '');
  const name = (s: string): string => {
    let v = `vrdata_score_${s}`;
    while (taken.has(v)) v += '_';
    taken.add(v);
    return v;
  };
  if (taken.has(SCORE_OUTPUTS.next) || taken.has(SCORE_OUTPUTS.last)) return null;
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
  return onnx.ModelProto.encode(model).finish();
}
