/**
 * Runs the training graph on onnxruntime-node: one session per run, weights fed on every call,
 * gradients returned as Float32Arrays keyed by weight name.
 */
import * as ort from 'onnxruntime-node';
import type { Qwen3Config } from '../model/qwen3.js';
import type { BatchTensors } from './data.js';
import { buildTrainGraph, type TrainGraph } from './traingraph.js';

/** What one forward+backward returns. */
export interface StepResult {
  /** -sum(token_weights * log p), float32 from the graph. */
  loss: number;
  /** log p of each target [batch * seq]. */
  tokenLogp: Float32Array;
  grads: Map<string, Float32Array>;
}

export class TrainSession {
  private constructor(readonly graph: TrainGraph, private readonly session: ort.InferenceSession) {}

  /** Builds the graph for `config` and opens a CPU session (`threads` = intra-op threads; 0 = onnxruntime's default). */
  static async create(config: Qwen3Config, options: { threads?: number } = {}): Promise<TrainSession> {
    const graph = buildTrainGraph(config);
    const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential' };
    if (options.threads && options.threads > 0) {
      opts.intraOpNumThreads = options.threads;
      opts.interOpNumThreads = 1;
    }
    const session = await ort.InferenceSession.create(graph.bytes, opts);
    return new TrainSession(graph, session);
  }

  /** Forward + backward on one micro-batch with the given weights. */
  async run(weights: ReadonlyMap<string, Float32Array>, b: BatchTensors): Promise<StepResult> {
    const shape = [b.batch, b.seqLen];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', b.inputIds, shape),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(b.batch * b.seqLen).fill(1n), shape),
      position_ids: new ort.Tensor('int64', b.positionIds, shape),
      targets: new ort.Tensor('int64', b.targets, shape),
      token_weights: new ort.Tensor('float32', b.tokenWeights, shape),
    };
    for (const p of this.graph.params) feeds[p.name] = new ort.Tensor('float32', weights.get(p.name)!, p.dims);
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const p of this.graph.params) grads.set(p.name, out[this.graph.gradOutput(p.name)]!.data as Float32Array);
    return { loss: (out.loss!.data as Float32Array)[0]!, tokenLogp: out.token_logp!.data as Float32Array, grads };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
