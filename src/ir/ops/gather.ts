import type { Attrs } from "../graph.js";
import { formatShape, numel, type TensorType } from "../types.js";
import { axisOf, isInt, strictCtx } from "./shape.js";
import type { CpuTensor, InferCtx, OpFamily, WindowWgsl } from "./types.js";
import { plus, times, WgslWriter } from "./window.js";

/**
 * gather (numpy take / ONNX Gather) and its gradient, a scatter-add written as a gather. Every
 * buffer holds f32, so indices are f32 holding integers.
 */

/**
 * The row of an index value along an axis of `size`: truncated to an integer, negative counting
 * from the end, then clamped into [0, size - 1].
 * NOTE: a GPU kernel cannot raise an error, so an out-of-range index reads (and its gradient
 * lands on) the nearest end row, on the CPU reference too, so both agree.
 */
export function indexRow(value: number, size: number): number {
  let q = Math.trunc(value);
  if (q < 0) q += size;
  return Math.min(Math.max(q, 0), size - 1);
}

/** The same as indexRow in WGSL: an i32 expression for the f32 index `value`. */
function wgslRow(wr: WgslWriter, value: string, size: number): string {
  const q = wr.let("q", `i32(${value})`);
  return wr.let("row", `u32(clamp(select(${q}, ${q} + ${size}i, ${q} < 0i), 0i, ${size - 1}i))`);
}

/** [outer, rows, inner] of a tensor split around `axis`. */
function around(shape: number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

function gatherInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const [x, idx] = ins as [TensorType, TensorType];
  const axis = axisOf(attrs, x.shape.length, ctx);
  if (axis === undefined) return undefined;
  return { dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)] };
}

function gatherCpu([x, idx]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const axis = axisOf(attrs, x!.shape.length, strictCtx("gather"))!;
  const [outer, rows, inner] = around(x!.shape, axis);
  const count = idx!.data.length;
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < count; j++) {
      const from = (o * rows + indexRow(idx!.data[j]!, rows)) * inner;
      const to = (o * count + j) * inner;
      for (let r = 0; r < inner; r++) out.data[to + r] = x!.data[from + r]!;
    }
}

function gatherWgsl(w: WindowWgsl): string {
  const [xs, is] = w.ins as [number[], number[]];
  const axis = axisOf(w.attrs, xs.length, strictCtx("gather"))!;
  const [outer, rows, inner] = around(xs, axis);
  const count = numel(is);
  const wr = new WgslWriter(w);
  const r = inner === 1 ? "0u" : wr.let("r", `${w.idx} % ${inner}u`);
  const jq = inner === 1 ? w.idx : `(${w.idx} / ${inner}u)`;
  const j = count === 1 ? "0u" : wr.let("j", outer === 1 ? jq : `${jq} % ${count}u`);
  const o = outer === 1 ? "0u" : wr.let("o", `${w.idx} / ${count * inner}u`);
  const row = wgslRow(wr, w.read(1, j), rows);
  const at = wr.let("at", plus(times(`(${plus(times(o, rows), row)})`, inner), r));
  return w.read(0, at);
}

/** gather_grad(g, idx) with `axis` and `size`: x's shape, where each row sums the g rows its index picked. */
function gatherGradInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const [g, idx] = ins as [TensorType, TensorType];
  const rank = g.shape.length - idx.shape.length + 1;
  const axis = axisOf(attrs, Math.max(rank, 0), ctx);
  if (axis === undefined) return undefined;
  const size = attrs["size"];
  if (!((isInt(size) && size >= 1) || (typeof size === "string" && size.length > 0))) {
    ctx.error("NC3003", { op: "gather_grad", expected: "size as a dim", got: size === undefined ? "no size" : `size = ${String(size)}` });
    return undefined;
  }
  const picked = g.shape.slice(axis, axis + idx.shape.length);
  if (!picked.every((d, i) => ctx.unify(d, idx.shape[i]!) !== undefined)) {
    ctx.error("NC3003", {
      op: "gather_grad",
      expected: `a gradient with the index dims ${formatShape(idx.shape)} at axis ${axis}`,
      got: formatShape(g.shape),
    });
    return undefined;
  }
  return { dtype: g.dtype, shape: [...g.shape.slice(0, axis), size, ...g.shape.slice(axis + idx.shape.length)] };
}

function gatherGradCpu([g, idx]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const axis = axisOf(attrs, out.shape.length, strictCtx("gather_grad"))!;
  const [outer, rows, inner] = around(out.shape, axis);
  const count = idx!.data.length;
  const acc = new Float64Array(out.data.length);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < count; j++) {
      const to = (o * rows + indexRow(idx!.data[j]!, rows)) * inner;
      const from = (o * count + j) * inner;
      for (let r = 0; r < inner; r++) acc[to + r] += g!.data[from + r]!;
    }
  out.data.set(acc);
}

/**
 * A scatter-add written as a gather: each output element loops over every index and sums the g
 * entries whose index is its row (no atomics).
 * NOTE: the loop is over all of idx for every output element; an embedding's gradient over a
 * large vocabulary would rather sort the indices first.
 */
function gatherGradWgsl(w: WindowWgsl): string {
  const [, is] = w.ins as [number[], number[]];
  const axis = axisOf(w.attrs, w.out.length, strictCtx("gather_grad"))!;
  const [outer, rows, inner] = around(w.out, axis);
  const count = numel(is);
  const wr = new WgslWriter(w);
  const r = inner === 1 ? "0u" : wr.let("r", `${w.idx} % ${inner}u`);
  const sq = inner === 1 ? w.idx : `(${w.idx} / ${inner}u)`;
  const s = wr.let("s", outer === 1 ? sq : `${sq} % ${rows}u`);
  const o = outer === 1 ? "0u" : wr.let("o", `${w.idx} / ${rows * inner}u`);
  const gb = wr.let("gb", plus(times(o, count * inner), r));
  const acc = wr.var("acc", "0.0");
  const j = w.name("j");
  wr.open(`for (var ${j} = 0u; ${j} < ${count}u; ${j}++)`);
  const row = wgslRow(wr, w.read(1, j), rows);
  wr.line(`if (${row} == ${s}) { ${acc} += ${w.read(0, plus(gb, times(j, inner)))}; }`);
  wr.close();
  return acc;
}

/** The gather entries of OPS. */
export const GATHER_OPS = {
  /**
   * gather(x, idx) with `axis` (default 0, negative from the end): x.shape[:axis] + idx.shape +
   * x.shape[axis+1:], numpy's take. Index values are truncated, negative ones count from the end,
   * and out-of-range ones are clamped (see indexRow).
   */
  gather: {
    kind: "window",
    arity: 2,
    inline: true,
    infer: gatherInfer,
    cpu: gatherCpu,
    wgsl: gatherWgsl,
    grad: (b, g, [x, idx], _o, attrs) => {
      const rank = x!.type.shape.length;
      const axis = axisOf(attrs, rank, strictCtx("gather"))!;
      return [b.op("gather_grad", [g, idx!], { axis, size: x!.type.shape[axis]! }), undefined];
    },
  },
  /** gather_grad(g, idx) with `axis` (of x) and `size` (x.shape[axis]) -> x's shape: a scatter-add. */
  gather_grad: {
    kind: "window",
    internal: "gather's gradient, built by autodiff",
    arity: 2,
    infer: gatherGradInfer,
    cpu: gatherGradCpu,
    wgsl: gatherGradWgsl,
    // Linear in g, and gather is its transpose.
    grad: (b, gg, [, idx], _o, attrs) => [b.op("gather", [gg, idx!], { axis: attrs["axis"] ?? 0 }), undefined],
  },
} satisfies OpFamily;
