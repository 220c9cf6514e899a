/**
 * Weights of a Qwen3 model as Map<Hugging Face name, Float32Array>: seeded initialisation, and
 * reading them back from the initializers of an .onnx file (the trainer's starting point).
 */
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { numel } from './graph.js';
import { qwen3ParamShapes, type Qwen3Config } from './qwen3.js';
import { Rng } from './rng.js';
import { VrdataError } from '../util/errors.js';

const { onnx } = onnxProto;

/** Weights by Hugging Face name. */
export type Weights = Map<string, Float32Array>;

/**
 * Seeded random weights: matrices ~ N(0, std^2) (Hugging Face's initializer_range is 0.02), norm
 * weights 1. Same (config, seed, std) -> same bytes.
 */
export function initWeights(config: Qwen3Config, options: { seed: number; std?: number }): Weights {
  const std = options.std ?? config.initializer_range ?? 0.02;
  const rng = new Rng(options.seed);
  const weights: Weights = new Map();
  for (const [name, dims] of qwen3ParamShapes(config)) {
    const data = new Float32Array(numel(dims));
    if (name.endsWith('norm.weight')) data.fill(1);
    else for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    weights.set(name, data);
  }
  return weights;
}

/** Checks that `weights` has exactly the config's weights with the right sizes. */
export function checkWeights(config: Qwen3Config, weights: ReadonlyMap<string, Float32Array>, where = 'weights'): void {
  for (const [name, dims] of qwen3ParamShapes(config)) {
    const w = weights.get(name);
    if (!w) throw new VrdataError('model', `${where}: weight ${name} is missing; the config asks for shape [${dims}]`);
    if (w.length !== numel(dims)) throw new VrdataError('model', `${where}: weight ${name} has ${w.length} values, shape [${dims}] needs ${numel(dims)}; config.json and weights disagree`);
  }
}

/** Float32 initializers of an ONNX model by name (shape constants and int tensors are skipped). */
export function weightsFromOnnxBytes(bytes: Uint8Array, where = 'model.onnx'): Weights {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new VrdataError('model', `${where} is not a readable ONNX file (${(err as Error).message}); rewrite it with \`vrdata model init\` or re-export it`, { cause: err });
  }
  const out: Weights = new Map();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
    const name = t.name ?? '';
    if ((t.externalData?.length ?? 0) > 0) throw new VrdataError('model', `${where}: initializer ${name} uses external data, which this reader does not follow; save the model with embedded weights`);
    const count = numel((t.dims ?? []).map(Number));
    let data: Float32Array;
    if (t.rawData && t.rawData.length > 0) {
      // Copy: rawData is a view into the file buffer at an arbitrary (unaligned) offset.
      const copy = new Uint8Array(t.rawData.length);
      copy.set(t.rawData);
      data = new Float32Array(copy.buffer, 0, copy.length >> 2);
    } else {
      data = Float32Array.from(t.floatData ?? []);
    }
    if (data.length !== count) throw new VrdataError('model', `${where}: initializer ${name} has ${data.length} values for shape [${t.dims}]; the file is corrupt`);
    out.set(name, data);
  }
  return out;
}

/** Reads the float32 weights of an .onnx file. */
export async function readOnnxWeights(path: string): Promise<Weights> {
  return weightsFromOnnxBytes(await readFile(path), path);
}
