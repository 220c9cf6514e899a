/**
 * Static shape inference over a GraphBuilder graph, just enough for reverse-mode autodiff: ranks
 * always, dimensions where they are constants (hidden sizes, head dims) and `null` where they are
 * symbolic (batch, sequence). The autodiff only needs to know which axes an input was broadcast
 * along, which a literal 1 tells.
 */
import type { ConstTensor, GraphBuilder, NodeDef } from '../model/graph.js';
import { VrdataError } from '../util/errors.js';

/** A dimension: its size, or null when only known at run time. */
export type SDim = number | null;
export type Shape = SDim[];

/** Values of a small int64 constant, or undefined when `name` is not a constant. */
export function constInts(g: GraphBuilder, name: string): number[] | undefined {
  const c: ConstTensor | undefined = g.consts.get(name);
  if (!c) return undefined;
  return Array.from(c.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Normalises a possibly negative axis. */
export function axis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

/** Numpy broadcasting of several shapes. */
export function broadcast(...shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d: SDim = 1;
    for (const s of shapes) {
      const k = i - (rank - s.length);
      if (k < 0) continue;
      const e = s[k]!;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d === null) d = e;
    }
    out.push(d);
  }
  return out;
}

const SAME_SHAPE = new Set(['Identity', 'Neg', 'Sqrt', 'Exp', 'Log', 'Sigmoid', 'Cos', 'Sin', 'Softmax', 'LogSoftmax', 'Cast', 'Not', 'Reciprocal']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'And', 'Or', 'LessOrEqual', 'Less', 'Equal', 'Greater', 'Pow']);

/** Infers the shape of every value it can; values whose shape is unknown are absent from the map. */
export function inferShapes(g: GraphBuilder): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const i of g.inputs) shapes.set(i.name, i.dims.map((d) => (typeof d === 'number' ? d : null)));
  for (const p of g.params.values()) shapes.set(p.name, [...p.dims]);
  for (const c of g.consts.values()) shapes.set(c.name, [...c.dims]);
  for (const n of g.nodes) {
    const out = inferNode(g, n, shapes);
    if (out) shapes.set(n.outputs[0]!, out);
  }
  return shapes;
}

function intAttr(n: NodeDef, name: string, dflt: number): number {
  const a = n.attributes[name];
  return a && a.kind === 'int' ? a.value : dflt;
}

function intsAttr(n: NodeDef, name: string): number[] | undefined {
  const a = n.attributes[name];
  return a && a.kind === 'ints' ? a.value : undefined;
}

function inferNode(g: GraphBuilder, n: NodeDef, shapes: Map<string, Shape>): Shape | undefined {
  const ins = n.inputs.map((i) => (i === '' ? undefined : shapes.get(i)));
  const a = ins[0];
  if (SAME_SHAPE.has(n.opType)) return a && [...a];
  if (BROADCAST.has(n.opType)) return ins.every((s) => s) ? broadcast(...(ins as Shape[])) : undefined;
  switch (n.opType) {
    case 'MatMul': {
      const b = ins[1];
      if (!a || !b || a.length < 2 || b.length < 2) return undefined;
      const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
      return [...batch, a[a.length - 2]!, b[b.length - 1]!];
    }
    case 'Transpose': {
      if (!a) return undefined;
      const perm = intsAttr(n, 'perm') ?? a.map((_, i) => a.length - 1 - i);
      return perm.map((p) => a[p]!);
    }
    case 'Gather': {
      const idx = ins[1];
      if (!a || !idx) return undefined;
      const ax = axis(intAttr(n, 'axis', 0), a.length);
      return [...a.slice(0, ax), ...idx, ...a.slice(ax + 1)];
    }
    case 'GatherElements':
      return ins[1] && [...ins[1]];
    case 'ScatterND':
    case 'ScatterElements':
    case 'ConstantOfShape':
      return n.opType === 'ConstantOfShape' ? undefined : a && [...a];
    case 'ReduceMean':
    case 'ReduceSum': {
      if (!a) return undefined;
      const axes = intsAttr(n, 'axes') ?? (n.inputs[1] ? constInts(g, n.inputs[1]) : undefined);
      if (!axes) return undefined;
      const keep = intAttr(n, 'keepdims', 1) === 1;
      const set = new Set(axes.map((x) => axis(x, a.length)));
      const out: Shape = [];
      a.forEach((d, i) => {
        if (!set.has(i)) out.push(d);
        else if (keep) out.push(1);
      });
      return out;
    }
    case 'Reshape': {
      const target = constInts(g, n.inputs[1]!);
      if (!a || !target) return undefined;
      const out: Shape = target.map((t, i) => (t === 0 ? a[i]! : t === -1 ? null : t));
      const minus = target.indexOf(-1);
      if (minus >= 0 && a.every((d) => d !== null) && out.every((d, i) => i === minus || d !== null)) {
        const total = (a as number[]).reduce((x, y) => x * y, 1);
        const rest = out.reduce<number>((x, y, i) => (i === minus ? x : x * (y as number)), 1);
        out[minus] = total / rest;
      }
      return out;
    }
    case 'Unsqueeze': {
      const axes = constInts(g, n.inputs[1]!);
      if (!a || !axes) return undefined;
      const rank = a.length + axes.length;
      const set = new Set(axes.map((x) => axis(x, rank)));
      const out: Shape = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(set.has(i) ? 1 : a[k++]!);
      return out;
    }
    case 'Squeeze': {
      const axes = n.inputs[1] ? constInts(g, n.inputs[1]) : undefined;
      if (!a || !axes) return undefined;
      const set = new Set(axes.map((x) => axis(x, a.length)));
      return a.filter((_, i) => !set.has(i));
    }
    case 'Slice': {
      const starts = constInts(g, n.inputs[1]!);
      const ends = constInts(g, n.inputs[2]!);
      const axes = n.inputs[3] ? constInts(g, n.inputs[3]) : starts?.map((_, i) => i);
      if (!a || !starts || !ends || !axes) return undefined;
      const out = [...a];
      axes.forEach((ax0, i) => {
        const ax = axis(ax0, a.length);
        const d = a[ax];
        if (d === null || d === undefined) {
          out[ax] = null;
          return;
        }
        const clamp = (v: number): number => Math.min(d, Math.max(0, v < 0 ? v + d : v));
        out[ax] = Math.max(0, clamp(ends[i]!) - clamp(starts[i]!));
      });
      return out;
    }
    case 'Concat': {
      if (!ins.every((s) => s)) return undefined;
      const ss = ins as Shape[];
      const ax = axis(intAttr(n, 'axis', 0), ss[0]!.length);
      const out = [...ss[0]!];
      out[ax] = ss.every((s) => s[ax] !== null) ? ss.reduce((x, s) => x + (s[ax] as number), 0) : null;
      return out;
    }
    case 'Shape': {
      if (!a) return [null];
      const start = axis(intAttr(n, 'start', 0), a.length);
      const end = n.attributes.end ? axis(intAttr(n, 'end', a.length), a.length) : a.length;
      return [Math.max(0, end - start)];
    }
    case 'Range':
      return [null];
    case 'Expand': {
      const target = constInts(g, n.inputs[1]!);
      return a && target ? broadcast(a, target.map((t) => (t === 1 ? 1 : t))) : undefined;
    }
    default:
      throw new VrdataError('train', `shape inference: no rule for op ${n.opType} (node ${n.name}); add one in src/train/shapes.ts`);
  }
}
