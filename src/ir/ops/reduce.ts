import type { Attrs, Value } from "../graph.js";
import type { TensorType } from "../types.js";
import type { GradBuilder, InferCtx, OpFamily } from "./types.js";

/**
 * Reductions over `axes` (default: all) with `keepdims`: init, combine and finish, on the CPU and
 * in WGSL. A kernel holds at most one of them, with an elementwise prologue.
 */

function normAxes(attrs: Attrs, rank: number, ctx: InferCtx): number[] | undefined {
  const raw = attrs["axes"];
  const axes = Array.isArray(raw) ? (raw as number[]) : [...Array(rank).keys()];
  const out: number[] = [];
  for (const a of axes) {
    const ax = a < 0 ? a + rank : a;
    if (ax < 0 || ax >= rank) {
      ctx.error("NC3005", { axis: a, rank });
      return undefined;
    }
    if (!out.includes(ax)) out.push(ax);
  }
  return out.sort((x, y) => x - y);
}

/** The axes a reduce node reduces over, normalised and sorted. */
export function reduceAxes(attrs: Attrs, rank: number): number[] {
  const axes = normAxes(attrs, rank, { op: "reduce", error: () => undefined, unify: () => undefined });
  if (!axes) throw new Error("internal: bad reduce axes");
  return axes;
}

function reduceInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const t = ins[0]!;
  const axes = normAxes(attrs, t.shape.length, ctx);
  if (!axes) return undefined;
  const keep = attrs["keepdims"] === true;
  const shape = t.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  return { dtype: t.dtype, shape };
}

/** Gradient of a reduction: broadcast g (made keepdims-shaped) back to the input shape. */
function expandReduced(b: GradBuilder, g: Value, x: Value, attrs: Attrs): Value {
  const axes = reduceAxes(attrs, x.type.shape.length);
  const kept = x.type.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g1 = attrs["keepdims"] === true ? g : b.op("reshape", [g], { shape: kept });
  return b.op("broadcast", [g1], { shape: x.type.shape });
}

/** The reduce entries of OPS. */
export const REDUCE_OPS = {
  sum: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: 0,
    combine: (acc, x) => acc + x,
    finish: (acc) => acc,
    wgslInit: "0.0",
    wgslCombine: (acc, x) => `${acc} + ${x}`,
    wgslFinish: (acc) => acc,
    grad: (b, g, [x], _o, attrs) => [expandReduced(b, g, x!, attrs)],
  },
  // NOTE: mean is a primitive, not sum·(1/n): with symbolic dims n is only known once shapes are
  // bound, and keeping it whole lets codegen scale in the same kernel.
  mean: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: 0,
    combine: (acc, x) => acc + x,
    finish: (acc, n) => acc / n,
    wgslInit: "0.0",
    wgslCombine: (acc, x) => `${acc} + ${x}`,
    wgslFinish: (acc, n) => `${acc} / ${n}`,
    grad: (b, g, [x], _o, attrs) => {
      const axes = reduceAxes(attrs, x!.type.shape.length);
      const count = b.op("size", [], { dims: axes.map((a) => x!.type.shape[a]!) });
      return [b.div(expandReduced(b, g, x!, attrs), count)];
    },
  },
  max_reduce: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: -Infinity,
    combine: Math.max,
    finish: (acc) => acc,
    wgslInit: "-3.4028234663852886e38",
    wgslCombine: (acc, x) => `max(${acc}, ${x})`,
    wgslFinish: (acc) => acc,
    grad: (b, g, [x], out, attrs) => {
      const full = expandReduced(b, out, x!, attrs);
      const mask = b.op("eq", [x!, full]);
      return [b.op("select", [mask, expandReduced(b, g, x!, attrs), b.const(0)])];
    },
  },
} satisfies OpFamily;
