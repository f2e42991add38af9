import type { Graph, Node, Value } from "./graph.js";
import { reduceAxes } from "./ops/reduce.js";
import { opDef } from "./ops/registry.js";
import type { View } from "./ops/types.js";
import { broadcastStrides, concreteShape, numel, stridesOf, type DimBindings } from "./types.js";

/** A concrete tensor on the CPU: row-major data and its shape. */
export interface Tensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/** How the reference interpreter computes. */
export interface InterpOptions {
  dims: DimBindings;
  /** f64 for gradient checks; f32 rounds every result like the GPU stores it. */
  precision: "f32" | "f64";
}

/**
 * The CPU reference: defines what every op means. Runs the graph's nodes in order (kernels are
 * ignored, so the graph after any pass can be run and compared) and returns every value computed.
 */
export function interpret(g: Graph, args: Map<Value, Tensor>, opts: InterpOptions): Map<Value, Tensor> {
  const env = new Map(args);
  for (const a of g.args) if (!env.has(a)) throw new Error(`internal: no value for argument ${a.arg!.name}`);
  for (const n of g.nodes) env.set(n.out, evalNode(n, n.inputs.map((v) => env.get(v)!), opts));
  return env;
}

function alloc(shape: number[], opts: InterpOptions): Tensor {
  const size = numel(shape);
  return { shape, data: opts.precision === "f32" ? new Float32Array(size) : new Float64Array(size) };
}

/** Evaluates one node on concrete inputs. */
export function evalNode(n: Node, ins: Tensor[], opts: InterpOptions): Tensor {
  const def = opDef(n.op);
  const shape = concreteShape(n.out.type.shape, opts.dims);
  switch (def.kind) {
    case "source": {
      if (def.generate) {
        const t = alloc(shape, opts);
        def.generate.cpu(t, n.attrs);
        return t;
      }
      const t = alloc([], opts);
      t.data[0] = n.op === "size" ? numel(concreteShape(n.attrs["dims"] as (string | number)[], opts.dims)) : (n.attrs["value"] as number);
      return t;
    }
    case "elementwise":
      return elementwise(def.eval, ins, shape, opts);
    case "reduce":
      return reduce(def, ins[0]!, reduceAxes(n.attrs, ins[0]!.shape.length), shape, opts);
    case "window":
    case "contraction": {
      const out = alloc(shape, opts);
      def.cpu(ins, out, n.attrs);
      return out;
    }
    case "movement":
      if (n.op === "reshape") {
        if (numel(shape) !== ins[0]!.data.length) throw new Error(`internal: reshape of ${ins[0]!.shape} to ${shape}`);
        return { shape, data: ins[0]!.data };
      }
      if (n.op === "broadcast") return elementwise((x) => x, ins, shape, opts);
      if (def.view) return gather(def.view(ins.map((t) => t.shape), shape, n.attrs), ins, shape, opts);
      throw new Error(`internal: no interpreter for ${n.op}`);
  }
}

function elementwise(f: (...xs: number[]) => number, ins: Tensor[], shape: number[], opts: InterpOptions): Tensor {
  const out = alloc(shape, opts);
  const strides = ins.map((t) => broadcastStrides(t.shape, shape));
  const outStrides = stridesOf(shape);
  const args = new Array<number>(ins.length);
  for (let i = 0; i < out.data.length; i++) {
    for (let k = 0; k < ins.length; k++) {
      let off = 0;
      let rem = i;
      const st = strides[k]!;
      for (let d = 0; d < shape.length; d++) {
        const c = Math.floor(rem / outStrides[d]!);
        rem -= c * outStrides[d]!;
        off += c * st[d]!;
      }
      args[k] = ins[k]!.data[off]!;
    }
    out.data[i] = f(...args);
  }
  return out;
}

/** A movement op: each output element read from the input its view names, or the view's fill. */
function gather(view: View, ins: Tensor[], shape: number[], opts: InterpOptions): Tensor {
  const out = alloc(shape, opts);
  const outStrides = stridesOf(shape);
  const inStrides = ins.map((t) => stridesOf(t.shape));
  const coord = new Array<number>(shape.length);
  for (let i = 0; i < out.data.length; i++) {
    let rem = i;
    for (let d = 0; d < shape.length; d++) {
      coord[d] = Math.floor(rem / outStrides[d]!);
      rem -= coord[d]! * outStrides[d]!;
    }
    const part = view.parts.find((p) => !p.region?.some((r) => coord[r.axis]! < r.lo || coord[r.axis]! >= r.hi));
    if (!part) {
      if (view.fill === undefined) throw new Error("internal: a view without fill does not cover its output");
      out.data[i] = view.fill;
      continue;
    }
    const st = inStrides[part.input]!;
    let off = 0;
    part.axes.forEach((a, d) => (off += (a.offset + a.step * coord[a.from]!) * st[d]!));
    out.data[i] = ins[part.input]!.data[off]!;
  }
  return out;
}

function reduce(
  def: { init: number; combine: (a: number, x: number) => number; finish: (a: number, n: number) => number },
  x: Tensor,
  axes: number[],
  shape: number[],
  opts: InterpOptions,
): Tensor {
  const out = alloc(shape, opts);
  const acc = new Float64Array(out.data.length).fill(def.init);
  const inStrides = stridesOf(x.shape);
  const keptShape = x.shape.filter((_, i) => !axes.includes(i));
  const keptStrides = stridesOf(keptShape);
  let count = 1;
  for (const a of axes) count *= x.shape[a]!;
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    let k = 0;
    for (let d = 0; d < x.shape.length; d++) {
      const c = Math.floor(i / inStrides[d]!) % x.shape[d]!;
      if (!axes.includes(d)) o += c * keptStrides[k++]!;
    }
    acc[o] = def.combine(acc[o]!, x.data[i]!);
  }
  for (let o = 0; o < acc.length; o++) out.data[o] = def.finish(acc[o]!, count);
  return out;
}
