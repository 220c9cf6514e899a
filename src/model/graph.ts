/**
 * A small ONNX graph builder. Every node keeps its op type, input and output names and typed
 * attributes in plain objects, so code other than the serialiser (the trainer's reverse-mode
 * autodiff) can walk the graph. Values are named by strings, as in ONNX itself.
 *
 *   const g = new GraphBuilder();
 *   const x = g.input('x', 'float32', ['batch', 4]);
 *   const y = g.matmul(x, g.param('w', [4, 2]));
 *   g.output(y, 'float32', ['batch', 2], 'y');
 *   const bytes = g.toBytes({ weights: new Map([['w', new Float32Array(8)]]) });
 */
import onnxProto from 'onnx-proto';
import { VrdataError } from '../util/errors.js';

const { onnx } = onnxProto;

/** Element types the builder knows; the names match onnxruntime's tensor types. */
export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';
/** A dimension: a number, or a symbolic name such as 'batch_size'. */
export type Dim = number | string;

/** A typed attribute value; use the helpers `attr.int`, `attr.ints`, `attr.float`, ... */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: ConstTensor };

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  ints: (value: number[]): Attr => ({ kind: 'ints', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  floats: (value: number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

/** One node: what an autodiff needs to walk the graph backwards. */
export interface NodeDef {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attr>;
}

/** A graph input or output. */
export interface ValueInfo {
  name: string;
  dtype: DType;
  dims: Dim[];
}

/** A non-trainable initializer whose data the builder owns (shape constants, masks, RoPE frequencies). */
export interface ConstTensor {
  name: string;
  dtype: DType;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** A trainable weight: declared by name and shape; its data is supplied when serialising. */
export interface ParamDef {
  name: string;
  dims: number[];
}

const DTYPE_CODE: Record<DType, number> = { float32: 1, float16: 10, int64: 7, int32: 6, bool: 9 };
/** ONNX TensorProto.DataType code of a dtype (what Cast's `to` attribute takes). */
export function dtypeCode(dtype: DType): number {
  return DTYPE_CODE[dtype];
}

/** Number of elements of a static shape. */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Builds one ONNX graph. Names are unique: a clash throws rather than silently shadowing. */
export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly params = new Map<string, ParamDef>();
  readonly consts = new Map<string, ConstTensor>();
  private counter = 0;
  private readonly names = new Set<string>();

  constructor(readonly opset = 17) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new VrdataError('model', `graph value "${name}" is defined twice; use a fresh name`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  input(name: string, dtype: DType, dims: Dim[]): string {
    this.inputs.push({ name: this.claim(name), dtype, dims });
    return name;
  }

  /** Marks `value` as a graph output; when `name` differs, an Identity node renames it. */
  output(value: string, dtype: DType, dims: Dim[], name = value): string {
    if (name !== value) this.op('Identity', [value], {}, name);
    this.outputs.push({ name, dtype, dims });
    return name;
  }

  /** Declares a float32 weight (data supplied to toBytes); declaring the same name twice returns it once. */
  param(name: string, dims: number[]): string {
    const known = this.params.get(name);
    if (known) {
      if (known.dims.join(',') !== dims.join(',')) throw new VrdataError('model', `weight ${name} declared with shapes [${known.dims}] and [${dims}]`);
      return name;
    }
    this.params.set(this.claim(name), { name, dims });
    return name;
  }

  /** A constant tensor stored as an initializer. */
  constant(dtype: DType, dims: number[], values: ArrayLike<number>, prefix = 'const'): string {
    const name = this.claim(this.fresh(prefix));
    let data: ConstTensor['data'];
    if (dtype === 'int64') data = BigInt64Array.from(Array.from(values), (v) => BigInt(v));
    else if (dtype === 'float32') data = Float32Array.from(values);
    else if (dtype === 'int32') data = Int32Array.from(values);
    else if (dtype === 'bool') data = Uint8Array.from(values);
    else throw new VrdataError('model', `constants of type ${dtype} are not supported`);
    if (data.length !== numel(dims)) throw new VrdataError('model', `constant ${name} has ${data.length} values for shape [${dims}]`);
    this.consts.set(name, { name, dtype, dims, data });
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, starts/ends). */
  ints(values: number[]): string {
    return this.constant('int64', [values.length], values, 'ints');
  }

  /** A scalar constant. */
  scalar(value: number, dtype: DType = 'float32'): string {
    return this.constant(dtype, [], [value], 'scalar');
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], attributes: Record<string, Attr> = {}, outName?: string): string {
    return this.opN(opType, inputs, 1, attributes, outName === undefined ? undefined : [outName])[0]!;
  }

  /** Adds a node with `count` outputs. */
  opN(opType: string, inputs: string[], count: number, attributes: Record<string, Attr> = {}, outNames?: string[]): string[] {
    const outputs: string[] = [];
    for (let i = 0; i < count; i++) outputs.push(this.claim(outNames?.[i] ?? this.fresh(opType.toLowerCase())));
    this.nodes.push({ name: this.fresh(`n_${opType}`), opType, inputs, outputs, attributes });
    return outputs;
  }

  // Typed helpers: primitives only, so an autodiff needs a rule for each of these and no more.
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  add(a: string, b: string): string { return this.op('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  neg(a: string): string { return this.op('Neg', [a]); }
  sqrt(a: string): string { return this.op('Sqrt', [a]); }
  exp(a: string): string { return this.op('Exp', [a]); }
  log(a: string): string { return this.op('Log', [a]); }
  sigmoid(a: string): string { return this.op('Sigmoid', [a]); }
  cos(a: string): string { return this.op('Cos', [a]); }
  sin(a: string): string { return this.op('Sin', [a]); }
  /** ReduceMean over `axes`, opset-17 style (axes as an attribute). */
  reduceMean(a: string, axes: number[], keepdims = true): string {
    return this.op('ReduceMean', [a], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }
  softmax(a: string, axis = -1): string { return this.op('Softmax', [a], { axis: attr.int(axis) }); }
  gather(data: string, indices: string, axis = 0): string { return this.op('Gather', [data, indices], { axis: attr.int(axis) }); }
  /** Reshape; 0 copies the input's dimension at that index, -1 is inferred. */
  reshape(a: string, shape: number[]): string { return this.op('Reshape', [a, this.ints(shape)]); }
  transpose(a: string, perm: number[]): string { return this.op('Transpose', [a], { perm: attr.ints(perm) }); }
  concat(values: string[], axis: number, outName?: string): string { return this.op('Concat', values, { axis: attr.int(axis) }, outName); }
  slice(a: string, starts: number[], ends: number[], axes: number[]): string {
    return this.op('Slice', [a, this.ints(starts), this.ints(ends), this.ints(axes)]);
  }
  unsqueeze(a: string, axes: number[]): string { return this.op('Unsqueeze', [a, this.ints(axes)]); }
  where(cond: string, a: string, b: string): string { return this.op('Where', [cond, a, b]); }
  cast(a: string, to: DType): string { return this.op('Cast', [a], { to: attr.int(dtypeCode(to)) }); }
  /** Shape(a)[start:end] as a 1-D int64 tensor. */
  shape(a: string, start?: number, end?: number): string {
    const attrs: Record<string, Attr> = {};
    if (start !== undefined) attrs.start = attr.int(start);
    if (end !== undefined) attrs.end = attr.int(end);
    return this.op('Shape', [a], attrs);
  }

  /** Serialises to an ONNX ModelProto; every declared param must have data of the right size in `weights`. */
  toModelProto(options: { weights: ReadonlyMap<string, Float32Array>; producer?: string; docString?: string }): onnxProto.onnx.ModelProto {
    const initializer: onnxProto.onnx.ITensorProto[] = [];
    for (const p of this.params.values()) {
      const data = options.weights.get(p.name);
      if (!data) throw new VrdataError('model', `no data for weight ${p.name} [${p.dims}]; pass it in weights`);
      if (data.length !== numel(p.dims)) throw new VrdataError('model', `weight ${p.name} has ${data.length} values, shape [${p.dims}] needs ${numel(p.dims)}`);
      initializer.push(tensorProto({ name: p.name, dtype: 'float32', dims: p.dims, data }));
    }
    for (const c of this.consts.values()) initializer.push(tensorProto(c));
    const graph = onnx.GraphProto.create({
      name: 'vrdata',
      node: this.nodes.map((n) => onnx.NodeProto.create({
        name: n.name,
        opType: n.opType,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([k, a]) => attributeProto(k, a)),
      })),
      input: this.inputs.map(valueInfoProto),
      output: this.outputs.map(valueInfoProto),
      initializer,
    });
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: options.producer ?? 'vrdata',
      docString: options.docString ?? '',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: this.opset })],
      graph,
    });
  }

  /** Serialised ONNX bytes (see toModelProto). */
  toBytes(options: { weights: ReadonlyMap<string, Float32Array>; producer?: string; docString?: string }): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(options)).finish();
  }
}

function bytesOf(data: ConstTensor['data']): Uint8Array {
  // Copy so the protobuf writer never aliases a caller's buffer that may change later.
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

function tensorProto(t: ConstTensor): onnxProto.onnx.ITensorProto {
  // ONNX raw_data is little-endian; every platform Node supports here is little-endian.
  return { name: t.name, dataType: DTYPE_CODE[t.dtype], dims: t.dims, rawData: bytesOf(t.data) };
}

function valueInfoProto(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DTYPE_CODE[v.dtype],
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attributeProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor': return { name, type: T.TENSOR, t: tensorProto(a.value) };
  }
}
