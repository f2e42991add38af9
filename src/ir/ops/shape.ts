import type { Attrs } from "../graph.js";
import { formatShape, type Dim, type DType, type TensorType } from "../types.js";
import type { InferCtx } from "./types.js";

/** Shape-rule helpers more than one op family uses: broadcasting, attribute readers, a strict context. */

/** Numpy broadcasting of `shapes` (right-aligned), unifying symbolic dims; NC3001 when two dims clash. */
export function broadcastShapes(op: string, shapes: Dim[][], ctx: InferCtx): Dim[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length), 0);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    let from = -1;
    for (let k = 0; k < shapes.length; k++) {
      const s = shapes[k]!;
      const d = s[s.length - rank + i];
      if (d === undefined || d === 1) continue;
      if (dim === 1) {
        dim = d;
        from = k;
        continue;
      }
      const u = ctx.unify(dim, d);
      if (u === undefined) {
        ctx.error("NC3001", {
          op,
          a: formatShape(shapes[from]!),
          b: formatShape(s),
          dim: i - rank,
          da: String(dim),
          db: String(d),
        });
        return undefined;
      }
      dim = u;
    }
    out.push(dim);
  }
  return out;
}

/** The shape rule of an elementwise op: its inputs broadcast; `dtype` fixed (comparisons) or the first non-bool input's. */
export function elementwiseInfer(dtype?: DType) {
  return (ins: TensorType[], _a: Attrs, ctx: InferCtx): TensorType | undefined => {
    const shape = broadcastShapes(ctx.op, ins.map((t) => t.shape), ctx);
    if (!shape) return undefined;
    return { dtype: dtype ?? ins.find((t) => t.dtype !== "bool")?.dtype ?? "f32", shape };
  };
}

/**
 * An InferCtx for rules re-run on already-typed values (gradient rules, codegen, the CPU
 * reference): any error is a compiler bug.
 */
export function strictCtx(op: string): InferCtx {
  return {
    op,
    error: (code, args) => {
      throw new Error(`internal: ${op}: ${code} ${JSON.stringify(args)}`);
    },
    unify: (a, b) => (a === b ? a : undefined),
  };
}

/** An integer. */
export const isInt = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x);

/** A list of integers, or undefined. */
export const ints = (v: unknown): number[] | undefined => (Array.isArray(v) && v.every(isInt) ? (v as number[]) : undefined);

/** An attribute value for a message: lists as `[a, b]`. */
export function show(v: unknown): string {
  return Array.isArray(v) ? formatShape(v as Dim[]) : String(v);
}

/** An axis attribute (default 0, negative from the end) normalised against `rank`, or an NC3005 error. */
export function axisOf(attrs: Attrs, rank: number, ctx: InferCtx): number | undefined {
  const raw = attrs["axis"] ?? 0;
  if (!isInt(raw)) {
    ctx.error("NC3003", { op: ctx.op, expected: "an integer axis", got: `axis = ${String(raw)}` });
    return undefined;
  }
  const axis = raw < 0 ? raw + rank : raw;
  if (axis < 0 || axis >= rank) {
    ctx.error("NC3005", { axis: raw, rank });
    return undefined;
  }
  return axis;
}

/** A `shape` attribute: sizes (non-negative integers) or symbols. */
export function shapeAttr(attrs: Attrs, ctx: InferCtx): Dim[] | undefined {
  const raw = attrs["shape"];
  if (Array.isArray(raw) && raw.every((d) => (isInt(d) && d >= 0) || (typeof d === "string" && d.length > 0))) return raw as Dim[];
  ctx.error("NC3003", { op: ctx.op, expected: "shape as a list of sizes", got: raw === undefined ? "no shape" : `shape = ${String(raw)}` });
  return undefined;
}
