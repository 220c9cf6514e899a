/**
 * Reverse-mode automatic differentiation over a GraphBuilder graph: appends to the same graph the
 * nodes that compute d(loss)/d(every weight), one gradient rule per op type the Qwen3 definition
 * (src/model/qwen3.ts) and the loss use. Values that do not depend on a weight (masks, RoPE
 * tables, shapes) get no gradient; an op on the weights' path without a rule is an error that
 * names it, never a silent zero.
 */
import { attr, type GraphBuilder, type NodeDef } from '../model/graph.js';
import { VrdataError } from '../util/errors.js';
import { axis, constInts, inferShapes, type Shape } from './shapes.js';

type Rule = (ctx: RuleContext) => (string | undefined)[];

interface RuleContext {
  g: GraphBuilder;
  node: NodeDef;
  /** Gradient of each output (undefined where the output does not reach the loss). */
  dy: (string | undefined)[];
  /** Whether input i needs a gradient. */
  needs: boolean[];
  shape: (value: string) => Shape;
}

/** Sums `dy` (shaped like the op's output) down to the shape of `input`, undoing numpy broadcasting. */
function sumTo(ctx: RuleContext, dy: string, input: string, outShape: Shape): string {
  const g = ctx.g;
  const a = ctx.shape(input);
  const pad = outShape.length - a.length;
  const axes: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const d = i < pad ? 1 : a[i - pad];
    // A literal 1 in the input against anything but a literal 1 in the output was broadcast;
    // summing over a size-1 axis is harmless, so an unknown output size is summed too.
    if (d === 1 && outShape[i] !== 1) axes.push(i);
  }
  let r = dy;
  if (axes.length > 0) r = g.op('ReduceSum', [r, g.ints(axes)], { keepdims: attr.int(1) });
  if (pad > 0) r = a.every((d) => d !== null) ? g.reshape(r, a as number[]) : g.op('Reshape', [r, g.shape(input)]);
  return r;
}

function intAttr(n: NodeDef, name: string, dflt: number): number {
  const a = n.attributes[name];
  return a && a.kind === 'int' ? a.value : dflt;
}

function binary(ctx: RuleContext, fa: () => string, fb: () => string): (string | undefined)[] {
  const out = ctx.shape(ctx.node.outputs[0]!);
  const [a, b] = ctx.node.inputs as [string, string];
  return [ctx.needs[0] ? sumTo(ctx, fa(), a, out) : undefined, ctx.needs[1] ? sumTo(ctx, fb(), b, out) : undefined];
}

function lastTwo(g: GraphBuilder, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return g.transpose(x, perm);
}

const RULES: Record<string, Rule> = {
  Identity: ({ dy }) => [dy[0]],
  Add: (ctx) => binary(ctx, () => ctx.dy[0]!, () => ctx.dy[0]!),
  Sub: (ctx) => binary(ctx, () => ctx.dy[0]!, () => ctx.g.neg(ctx.dy[0]!)),
  Mul: (ctx) => {
    const [a, b] = ctx.node.inputs as [string, string];
    return binary(ctx, () => ctx.g.mul(ctx.dy[0]!, b), () => ctx.g.mul(ctx.dy[0]!, a));
  },
  Div: (ctx) => {
    const [, b] = ctx.node.inputs as [string, string];
    const y = ctx.node.outputs[0]!;
    return binary(ctx, () => ctx.g.div(ctx.dy[0]!, b), () => ctx.g.neg(ctx.g.div(ctx.g.mul(ctx.dy[0]!, y), b)));
  },
  Neg: ({ g, dy }) => [g.neg(dy[0]!)],
  Sqrt: ({ g, dy, node }) => [g.div(g.mul(dy[0]!, g.scalar(0.5)), node.outputs[0]!)],
  Exp: ({ g, dy, node }) => [g.mul(dy[0]!, node.outputs[0]!)],
  Log: ({ g, dy, node }) => [g.div(dy[0]!, node.inputs[0]!)],
  Sigmoid: ({ g, dy, node }) => {
    const y = node.outputs[0]!;
    return [g.mul(g.mul(dy[0]!, y), g.sub(g.scalar(1), y))];
  },
  Softmax: ({ g, dy, node, shape }) => {
    const y = node.outputs[0]!;
    const ax = axis(intAttr(node, 'axis', -1), shape(y).length);
    const dot = g.op('ReduceSum', [g.mul(dy[0]!, y), g.ints([ax])], { keepdims: attr.int(1) });
    return [g.mul(y, g.sub(dy[0]!, dot))];
  },
  LogSoftmax: ({ g, dy, node, shape }) => {
    const y = node.outputs[0]!;
    const ax = axis(intAttr(node, 'axis', -1), shape(y).length);
    const total = g.op('ReduceSum', [dy[0]!, g.ints([ax])], { keepdims: attr.int(1) });
    return [g.sub(dy[0]!, g.mul(g.exp(y), total))];
  },
  MatMul: ({ g, dy, node, needs, shape }) => {
    const [a, b] = node.inputs as [string, string];
    const sa = shape(a);
    const sb = shape(b);
    const sy = shape(node.outputs[0]!);
    const d = dy[0]!;
    let ga: string | undefined;
    let gb: string | undefined;
    if (needs[0]) {
      ga = g.matmul(d, lastTwo(g, b, sb.length));
      if (sb.length > sa.length) throw new VrdataError('train', `autodiff: MatMul ${node.name} broadcasts its first input; not supported`);
    }
    if (needs[1]) {
      if (sb.length === 2 && sa.length > 2) {
        // x [..., K] @ W [K, N]: dW = x_flat^T @ dy_flat, one GEMM instead of a batch and a sum.
        const K = sa[sa.length - 1];
        const N = sy[sy.length - 1];
        if (K === null || N === null) throw new VrdataError('train', `autodiff: MatMul ${node.name} needs static inner dims`);
        gb = g.matmul(g.transpose(g.reshape(a, [-1, K!]), [1, 0]), g.reshape(d, [-1, N!]));
      } else if (sb.length === sa.length) {
        gb = g.matmul(lastTwo(g, a, sa.length), d);
        const outBatch = sy.slice(0, -2);
        const sumAxes = sb.slice(0, -2).flatMap((dim, i) => (dim === 1 && outBatch[i] !== 1 ? [i] : []));
        if (sumAxes.length > 0) gb = g.op('ReduceSum', [gb, g.ints(sumAxes)], { keepdims: attr.int(1) });
      } else {
        throw new VrdataError('train', `autodiff: MatMul ${node.name} with ranks ${sa.length} and ${sb.length} is not supported`);
      }
    }
    return [ga, gb];
  },
  Transpose: ({ g, dy, node, shape }) => {
    const x = node.inputs[0]!;
    const a = node.attributes.perm;
    const rank = shape(x).length;
    const perm = a && a.kind === 'ints' ? a.value : Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [g.transpose(dy[0]!, inv)];
  },
  Reshape: ({ g, dy, node }) => [g.op('Reshape', [dy[0]!, g.shape(node.inputs[0]!)]), undefined],
  Unsqueeze: ({ g, dy, node }) => [g.op('Reshape', [dy[0]!, g.shape(node.inputs[0]!)]), undefined],
  Squeeze: ({ g, dy, node }) => [g.op('Reshape', [dy[0]!, g.shape(node.inputs[0]!)]), undefined],
  Cast: ({ dy }) => [dy[0]],
  ReduceMean: ({ g, dy, node, shape }) => {
    const x = node.inputs[0]!;
    const sx = shape(x);
    const a = node.attributes.axes;
    const axes = (a && a.kind === 'ints' ? a.value : sx.map((_, i) => i)).map((v) => axis(v, sx.length));
    const count = axes.reduce((acc, ax) => {
      const d = sx[ax];
      if (d === null || d === undefined) throw new VrdataError('train', `autodiff: ReduceMean ${node.name} over a dynamic axis`);
      return acc * d;
    }, 1);
    let d = dy[0]!;
    if (intAttr(node, 'keepdims', 1) === 0) d = g.unsqueeze(d, axes);
    return [g.op('Expand', [g.mul(d, g.scalar(1 / count)), g.shape(x)])];
  },
  ReduceSum: ({ g, dy, node, shape }) => {
    const x = node.inputs[0]!;
    const sx = shape(x);
    const axes = (node.inputs[1] ? constInts(g, node.inputs[1]) : undefined) ?? sx.map((_, i) => i);
    let d = dy[0]!;
    if (intAttr(node, 'keepdims', 1) === 0) d = g.unsqueeze(d, axes.map((v) => axis(v, sx.length)));
    return [g.op('Expand', [d, g.shape(x)]), undefined];
  },
  Gather: ({ g, dy, node, needs }) => {
    if (needs[1]) throw new VrdataError('train', `autodiff: Gather ${node.name} indices cannot take a gradient`);
    if (intAttr(node, 'axis', 0) !== 0) throw new VrdataError('train', `autodiff: Gather ${node.name} on an axis other than 0`);
    const [data, idx] = node.inputs as [string, string];
    // Rows gathered several times accumulate: ScatterND with reduction add into zeros.
    const zeros = g.op('ConstantOfShape', [g.shape(data)], { value: { kind: 'tensor', value: { name: 'zero', dtype: 'float32', dims: [1], data: new Float32Array([0]) } } });
    const rows = g.unsqueeze(g.reshape(idx, [-1]), [1]);
    const updates = g.op('Reshape', [dy[0]!, g.op('Concat', [g.ints([-1]), g.shape(data, 1)], { axis: attr.int(0) })]);
    return [g.op('ScatterND', [zeros, rows, updates], { reduction: attr.string('add') }), undefined];
  },
  GatherElements: ({ g, dy, node, needs }) => {
    if (needs[1]) throw new VrdataError('train', `autodiff: GatherElements ${node.name} indices cannot take a gradient`);
    const [data, idx] = node.inputs as [string, string];
    const zeros = g.op('ConstantOfShape', [g.shape(data)], { value: { kind: 'tensor', value: { name: 'zero', dtype: 'float32', dims: [1], data: new Float32Array([0]) } } });
    return [g.op('ScatterElements', [zeros, idx, dy[0]!], { axis: attr.int(intAttr(node, 'axis', 0)), reduction: attr.string('add') }), undefined];
  },
  Slice: ({ g, dy, node, shape }) => {
    const x = node.inputs[0]!;
    const sx = shape(x);
    const starts = constInts(g, node.inputs[1]!);
    const ends = constInts(g, node.inputs[2]!);
    const axes = node.inputs[3] ? constInts(g, node.inputs[3]) : starts?.map((_, i) => i);
    if (!starts || !ends || !axes || (node.inputs[4] && constInts(g, node.inputs[4])?.some((s) => s !== 1))) {
      throw new VrdataError('train', `autodiff: Slice ${node.name} needs constant starts/ends/axes and unit steps`);
    }
    const pads = new Array<number>(2 * sx.length).fill(0);
    axes.forEach((ax0, i) => {
      const ax = axis(ax0, sx.length);
      const d = sx[ax];
      if (d === null || d === undefined) throw new VrdataError('train', `autodiff: Slice ${node.name} on a dynamic axis`);
      const clamp = (v: number): number => Math.min(d, Math.max(0, v < 0 ? v + d : v));
      pads[ax] = clamp(starts[i]!);
      pads[sx.length + ax] = d - clamp(ends[i]!);
    });
    return [g.op('Pad', [dy[0]!, g.ints(pads)]), undefined, undefined, undefined, undefined];
  },
  Concat: ({ g, dy, node, shape }) => {
    const rank = shape(node.outputs[0]!).length;
    const ax = axis(intAttr(node, 'axis', 0), rank);
    const sizes = node.inputs.map((i) => shape(i)[ax]);
    if (sizes.some((s) => s === null || s === undefined)) throw new VrdataError('train', `autodiff: Concat ${node.name} on a dynamic axis`);
    return g.opN('Split', [dy[0]!, g.ints(sizes as number[])], node.inputs.length, { axis: attr.int(ax) });
  },
  Where: (ctx) => {
    const { g, node, dy } = ctx;
    const [cond, a, b] = node.inputs as [string, string, string];
    const out = ctx.shape(node.outputs[0]!);
    const zero = g.scalar(0);
    return [
      undefined,
      ctx.needs[1] ? sumTo(ctx, g.where(cond, dy[0]!, zero), a, out) : undefined,
      ctx.needs[2] ? sumTo(ctx, g.where(cond, zero, dy[0]!), b, out) : undefined,
    ];
  },
};

/** Op types the autodiff can differentiate. */
export const DIFFERENTIABLE_OPS = Object.keys(RULES);

/**
 * Appends the backward pass of scalar `loss` to `g` and returns, for each name in `wrt`, the value
 * holding d(loss)/d(that value) (same shape). Weights the loss does not depend on get zeros.
 */
export function gradients(g: GraphBuilder, loss: string, wrt: string[]): Map<string, string> {
  const forward = [...g.nodes]; // the rules append nodes; walk only the forward ones
  const shapes = inferShapes(g);
  const shape = (v: string): Shape => {
    const s = shapes.get(v);
    if (!s) throw new VrdataError('train', `autodiff: shape of ${v} is unknown; extend src/train/shapes.ts`);
    return s;
  };
  // Values that depend on a weight: only they can carry a gradient.
  const active = new Set(wrt);
  for (const n of forward) if (n.inputs.some((i) => active.has(i))) for (const o of n.outputs) active.add(o);
  const contributions = new Map<string, string[]>([[loss, [g.scalar(1)]]]);
  const total = (v: string): string | undefined => {
    const parts = contributions.get(v);
    if (!parts || parts.length === 0) return undefined;
    let s = parts[0]!;
    for (let i = 1; i < parts.length; i++) s = g.add(s, parts[i]!);
    contributions.set(v, [s]);
    return s;
  };
  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k]!;
    const needs = node.inputs.map((i) => active.has(i));
    if (!needs.some(Boolean)) continue;
    const dy = node.outputs.map((o) => total(o));
    if (dy.every((d) => d === undefined)) continue;
    const rule = RULES[node.opType];
    if (!rule) throw new VrdataError('train', `autodiff: no gradient rule for op ${node.opType} (node ${node.name}); add one in src/train/autodiff.ts`);
    if (dy.length > 1 || dy[0] === undefined) throw new VrdataError('train', `autodiff: multi-output op ${node.opType} is not supported`);
    const grads = rule({ g, node, dy, needs, shape });
    for (const [i, gr] of grads.entries()) {
      if (gr && needs[i]) {
        const input = node.inputs[i]!;
        const list = contributions.get(input) ?? [];
        list.push(gr);
        contributions.set(input, list);
        if (!shapes.has(gr)) shapes.set(gr, shape(input));
      }
    }
  }
  const out = new Map<string, string>();
  for (const w of wrt) {
    const gr = total(w);
    if (gr) out.set(w, gr);
    else out.set(w, g.op('ConstantOfShape', [g.ints(shape(w).map((d) => d ?? 0))], { value: { kind: 'tensor', value: { name: 'zero', dtype: 'float32', dims: [1], data: new Float32Array([0]) } } }));
  }
  return out;
}
