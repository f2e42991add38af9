import { dimsOf, dtypeOfTerm, type Handler, invalid, type NodeCtx, st, type Term, unsupported } from "../node-context.js";
import { sizeOf, type HostTensor, type OnnxDType } from "../tensor.js";
import { broadcastDims, empty, filled, int64, normAxis, out, reshapeTerm, unravel } from "./common.js";
import { stridesOf } from "../../ir/types.js";

/**
 * Shape, movement and reduction ops. Shapes are static in the graphs netc imports, so
 * Shape/Size/Range/ConstantOfShape give import-time tensors, and shape-valued inputs (Reshape's
 * shape, Unsqueeze's axes, Slice's starts ...) must be known at import time.
 */

/** Axes from an attribute (older opsets) or an int64 input (newer ones); undefined when absent. */
function axesOf(n: NodeCtx, inputIndex: number, rank: number): number[] | undefined {
  const fromInput = n.optional(inputIndex);
  const raw = fromInput ? n.ints(fromInput, "axes") : n.attr.ints("axes");
  return raw?.map((a) => normAxis(n, a, rank));
}

/** Reshape's target: 0 copies the input dim (unless allowzero), -1 is inferred. */
function reshapeTarget(n: NodeCtx, from: number[], shape: number[], allowzero: boolean): number[] {
  const dims = shape.map((d, i) => (d === 0 && !allowzero ? from[i]! : d));
  const holes = dims.filter((d) => d === -1).length;
  if (holes > 1 || dims.some((d) => d < -1)) invalid(`${n.where}: bad target shape [${shape}]`);
  if (holes) {
    const known = sizeOf(dims.filter((d) => d !== -1));
    if (known === 0 || sizeOf(from) % known !== 0) invalid(`${n.where}: cannot reshape [${from}] to [${shape}]`);
    return dims.map((d) => (d === -1 ? sizeOf(from) / known : d));
  }
  if (sizeOf(dims) !== sizeOf(from)) invalid(`${n.where}: cannot reshape [${from}] to [${shape}]`);
  return dims;
}

/** A reshape that also handles empty tensors (no IR value has zero elements). */
function reshaped(n: NodeCtx, x: Term, dims: number[]): Term {
  if (sizeOf(dims) === 0) return empty(dtypeOfTerm(x), dims);
  return reshapeTerm(n, x, dims);
}

/** ONNX Slice's clamped [start, end) with step, and the number of elements taken. */
export function sliceRange(start: number, end: number, step: number, dim: number): { start: number; count: number } {
  if (step === 0) throw new Error("step 0");
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
    return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
  }
  start = Math.min(Math.max(start, 0), dim - 1);
  end = Math.min(Math.max(end, -1), dim - 1);
  return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
}

/** Gathers elements of a host tensor: out[idx] = data[src(idx)]. */
function hostGather(t: HostTensor, dims: number[], src: (idx: number[]) => number[]): HostTensor {
  const s = stridesOf(t.dims);
  const data = new Float64Array(sizeOf(dims));
  for (let i = 0; i < data.length; i++) {
    const from = src(unravel(i, dims));
    data[i] = t.data[from.reduce((acc, c, d) => acc + c * s[d]!, 0)]!;
  }
  return { dtype: t.dtype, dims, data };
}

function slice(n: NodeCtx): Term[] {
  const x = n.input(0);
  const dims = dimsOf(x);
  const rank = dims.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (n.opset < 10) {
    starts = n.attr.ints("starts") ?? [];
    ends = n.attr.ints("ends") ?? [];
    axes = n.attr.ints("axes");
  } else {
    starts = n.ints(n.input(1), "starts");
    ends = n.ints(n.input(2), "ends");
    axes = n.optional(3) ? n.ints(n.input(3), "axes") : undefined;
    steps = n.optional(4) ? n.ints(n.input(4), "steps") : undefined;
  }
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(n, a, rank));
  const st_ = (steps ?? starts.map(() => 1));
  const per = dims.map((d) => ({ start: 0, count: d, step: 1 }));
  ax.forEach((a, k) => {
    const step = st_[k]!;
    if (step === 0) invalid(`${n.where}: slice step 0`);
    const r = sliceRange(starts[k]!, ends[k]!, step, dims[a]!);
    per[a] = { start: r.start, count: r.count, step };
  });
  const outDims = per.map((p) => p.count);
  if (x.kind === "static") return [st(hostGather(x.t, outDims, (idx) => idx.map((c, d) => per[d]!.start + c * per[d]!.step)))];
  if (sizeOf(outDims) === 0) return [empty(x.dtype, outDims)];
  const sliced = per.map((p, d) => ({ ...p, d })).filter((p) => p.start !== 0 || p.count !== dims[p.d] || p.step !== 1);
  if (!sliced.length) return [x];
  if (sliced.some((p) => p.step < 0)) unsupported(`${n.where}: negative slice steps at run time`);
  const v = n.emit("slice", [x.value], {
    starts: sliced.map((p) => p.start),
    ends: sliced.map((p) => p.start + (p.count - 1) * p.step + 1),
    axes: sliced.map((p) => p.d),
    steps: sliced.map((p) => p.step),
  });
  return [out(v, x.dtype)];
}

/** Gather along `axis` with import-time indices: the `gather` primitive, or slices joined by concat. */
function gather(n: NodeCtx): Term[] {
  const x = n.input(0);
  const idx = n.static(n.input(1), "Gather indices");
  const dims = dimsOf(x);
  const axis = normAxis(n, n.attr.int("axis", 0), dims.length);
  const size = dims[axis]!;
  const indices = Array.from(idx.data, (i) => {
    const j = i < 0 ? i + size : i;
    if (!Number.isInteger(j) || j < 0 || j >= size) invalid(`${n.where}: index ${i} is out of range for a dim of ${size}`);
    return j;
  });
  const outDims = [...dims.slice(0, axis), ...idx.dims, ...dims.slice(axis + 1)];
  if (x.kind === "static") {
    const r = idx.dims.length;
    const is = stridesOf(idx.dims);
    return [
      st(
        hostGather(x.t, outDims, (o) => {
          const which = o.slice(axis, axis + r).reduce((acc, c, k) => acc + c * is[k]!, 0);
          return [...o.slice(0, axis), indices[which]!, ...o.slice(axis + r)];
        }),
      ),
    ];
  }
  if (sizeOf(outDims) === 0) return [empty(x.dtype, outDims)];
  const ix = st({ dtype: "int64", dims: idx.dims, data: Float64Array.from(indices) });
  const y = n.e.has("gather") ? n.tryEmit("gather", [x.value, n.value(ix)], { axis }) : undefined;
  if (y && y.type.shape.length === outDims.length && y.type.shape.every((d, i) => d === outDims[i])) return [out(y, x.dtype)];
  // NOTE: without a gather primitive, each index is a one-wide slice; the concat of slices
  // is a view, so this still fuses into the kernel that reads it.
  const parts = indices.map((j) => n.emit("slice", [x.value], { starts: [j], ends: [j + 1], axes: [axis] }));
  const joined = parts.length === 1 ? parts[0]! : n.emit("concat", parts, { axis });
  return [reshapeTerm(n, out(joined, x.dtype), outDims)];
}

type ReduceKind = "sum" | "mean" | "max" | "min" | "sumsquare" | "l1" | "l2" | "logsumexp";

/** ReduceX: axes from the attribute (old opsets) or input 1 (ReduceSum 13+, the others 18+). */
function reduce(kind: ReduceKind): Handler {
  return (n) => {
    const x = n.input(0);
    const dims = dimsOf(x);
    const rank = dims.length;
    const keep = n.attr.int("keepdims", 1) === 1;
    const inputAxes = (kind === "sum" && n.opset >= 13) || n.opset >= 18;
    let axes = inputAxes ? (n.optional(1) ? n.ints(n.input(1), "axes").map((a) => normAxis(n, a, rank)) : undefined) : axesOf(n, 99, rank);
    if (!axes || axes.length === 0) {
      if (n.attr.int("noop_with_empty_axes", 0) === 1) return [x];
      axes = dims.map((_, i) => i);
    }
    axes = [...new Set(axes)].sort((a, b) => a - b);
    const outDims = dims.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
    const dt = dtypeOfTerm(x);
    if (sizeOf(outDims) === 0) return [empty(dt, outDims)];
    if (axes.some((a) => dims[a] === 0)) {
      // Reducing over nothing: the identity of the reduction.
      const fill = { sum: 0, sumsquare: 0, l1: 0, l2: 0, mean: NaN, max: -Infinity, min: Infinity, logsumexp: -Infinity }[kind];
      return [filled(dt, outDims, fill)];
    }
    if (x.kind === "dynamic" && !/^float/.test(dt) && !(dt === "bool" && (kind === "max" || kind === "min"))) unsupported(`${n.where}: reduction of ${dt} at run time (float32 runtime)`);
    const attrs = { axes, keepdims: keep };
    const v = n.value(x);
    let y;
    switch (kind) {
      case "sum":
        y = n.emit("sum", [v], attrs);
        break;
      case "mean":
        y = n.emit("mean", [v], attrs);
        break;
      case "max":
        y = n.emit("max_reduce", [v], attrs);
        break;
      case "min":
        y = n.emit("neg", [n.emit("max_reduce", [n.emit("neg", [v])], attrs)]);
        break;
      case "sumsquare":
        y = n.emit("sum", [n.emit("mul", [v, v])], attrs);
        break;
      case "l1":
        y = n.emit("sum", [n.emit("abs", [v])], attrs);
        break;
      case "l2":
        y = n.emit("sqrt", [n.emit("sum", [n.emit("mul", [v, v])], attrs)]);
        break;
      case "logsumexp": {
        const m = n.emit("max_reduce", [v], { axes, keepdims: true });
        const s = n.emit("log", [n.emit("sum", [n.emit("exp", [n.emit("sub", [v, m])])], attrs)]);
        y = n.emit("add", [s, keep ? m : n.emit("reshape", [m], { shape: outDims })]);
        break;
      }
    }
    return [out(y, dt)];
  };
}

function concat(n: NodeCtx): Term[] {
  const xs = n.inputs.filter((x): x is Term => x !== undefined);
  const rank = dimsOf(xs[0]!).length;
  const axis = normAxis(n, n.attr.int("axis", 0), rank);
  const outDims = [...dimsOf(xs[0]!)];
  outDims[axis] = xs.reduce((acc, x) => acc + dimsOf(x)[axis]!, 0);
  const dt = dtypeOfTerm(xs[0]!);
  if (sizeOf(outDims) === 0) return [empty(dt, outDims)];
  const parts = xs.filter((x) => sizeOf(dimsOf(x)) > 0);
  if (parts.length === 1) return [parts[0]!];
  return [out(n.emit("concat", parts.map((x) => n.value(x)), { axis }), dt)];
}

function pad(n: NodeCtx): Term[] {
  const x = n.input(0);
  const dims = dimsOf(x);
  const rank = dims.length;
  const mode = n.attr.string("mode", "constant");
  if (mode !== "constant") unsupported(`${n.where}: mode ${mode}`);
  let pads: number[];
  let value = 0;
  let axes = dims.map((_, i) => i);
  if (n.opset < 11) {
    pads = n.attr.ints("pads") ?? [];
    value = n.attr.float("value", 0);
  } else {
    pads = n.ints(n.input(1), "pads");
    const v = n.optional(2);
    if (v) value = n.static(v, "the pad value").data[0] ?? 0;
    const a = n.optional(3);
    if (a) axes = n.ints(a, "axes").map((i) => normAxis(n, i, rank));
  }
  if (pads.length !== 2 * axes.length) invalid(`${n.where}: ${pads.length} pads for ${axes.length} axes`);
  const pairs = dims.map(() => [0, 0] as [number, number]);
  axes.forEach((a, k) => (pairs[a] = [pads[k]!, pads[k + axes.length]!]));
  if (pairs.some(([lo, hi]) => lo < 0 || hi < 0)) unsupported(`${n.where}: negative pads`);
  if (pairs.every(([lo, hi]) => lo === 0 && hi === 0)) return [x];
  if (Number.isFinite(value)) return [out(n.emit("pad", [n.value(x)], { pads: pairs.flat(), value }), dtypeOfTerm(x))];
  // NOTE: WGSL has no infinity literal, so a non-finite fill is data: pad with 0, then select the
  // fill outside the original region (an import-time mask).
  const padded = n.emit("pad", [n.value(x)], { pads: pairs.flat(), value: 0 });
  const outDims = dims.map((d, i) => d + pairs[i]![0] + pairs[i]![1]);
  const inside = new Float64Array(sizeOf(outDims));
  for (let i = 0; i < inside.length; i++) {
    const idx = unravel(i, outDims);
    inside[i] = idx.every((c, d) => c >= pairs[d]![0] && c < pairs[d]![0] + dims[d]!) ? 1 : 0;
  }
  const mask = n.value(st({ dtype: "bool", dims: outDims, data: inside }));
  const fill = n.value(st({ dtype: "float32", dims: [1], data: Float64Array.of(value) }));
  return [out(n.emit("select", [mask, padded, fill]), dtypeOfTerm(x))];
}

function constant(n: NodeCtx): Term[] {
  const t = n.attr.tensor("value");
  if (t) return [st(t)];
  const f = n.attr.float("value_float");
  if (f !== undefined) return [st({ dtype: "float32", dims: [], data: Float64Array.of(Math.fround(f)) })];
  const fs = n.attr.floats("value_floats");
  if (fs) return [st({ dtype: "float32", dims: [fs.length], data: Float64Array.from(fs, Math.fround) })];
  const i = n.attr.int("value_int");
  if (i !== undefined) return [int64([], [i])];
  const is = n.attr.ints("value_ints");
  if (is) return [int64([is.length], is)];
  return unsupported(`${n.where}: a Constant without a numeric value (${n.attr.names().join(", ")})`);
}

/** Shape and movement handlers by ONNX op type. */
export const SHAPE_OPS: Record<string, Handler> = {
  Constant: constant,
  Shape: (n) => {
    const dims = dimsOf(n.input(0));
    const rank = dims.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clamp(n.attr.int("start", 0));
    const end = clamp(n.attr.int("end", rank));
    const part = dims.slice(start, Math.max(start, end));
    return [int64([part.length], part)];
  },
  Size: (n) => [int64([], [sizeOf(dimsOf(n.input(0)))])],
  ConstantOfShape: (n) => {
    const dims = n.ints(n.input(0), "the shape");
    const v = n.attr.tensor("value");
    return [filled(v?.dtype ?? "float32", dims, v?.data[0] ?? 0)];
  },
  Range: (n) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => n.static(n.input(i), "Range bounds").data[0]!) as [number, number, number];
    const dt = dtypeOfTerm(n.input(0));
    const count = Math.max(Math.ceil((limit - start) / delta), 0);
    return [st({ dtype: dt, dims: [count], data: Float64Array.from({ length: count }, (_, i) => start + i * delta) })];
  },
  Reshape: (n) => {
    const x = n.input(0);
    const shape = n.opset >= 5 ? n.ints(n.input(1), "the target shape") : (n.attr.ints("shape") ?? []);
    return [reshaped(n, x, reshapeTarget(n, dimsOf(x), shape, n.attr.int("allowzero", 0) === 1))];
  },
  Flatten: (n) => {
    const x = n.input(0);
    const dims = dimsOf(x);
    const raw = n.attr.int("axis", 1);
    const axis = raw < 0 ? raw + dims.length : raw;
    if (axis < 0 || axis > dims.length) invalid(`${n.where}: axis ${raw} is out of range for rank ${dims.length}`);
    return [reshaped(n, x, [sizeOf(dims.slice(0, axis)), sizeOf(dims.slice(axis))])];
  },
  Squeeze: (n) => {
    const x = n.input(0);
    const dims = dimsOf(x);
    const axes = axesOf(n, n.opset >= 13 ? 1 : 99, dims.length) ?? dims.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of axes) if (dims[a] !== 1) invalid(`${n.where}: cannot squeeze axis ${a} of size ${dims[a]}`);
    return [reshaped(n, x, dims.filter((_, i) => !axes.includes(i)))];
  },
  Unsqueeze: (n) => {
    const x = n.input(0);
    const dims = dimsOf(x);
    const raw = n.opset >= 13 ? n.ints(n.input(1), "axes") : (n.attr.ints("axes") ?? []);
    const rank = dims.length + raw.length;
    const axes = raw.map((a) => normAxis(n, a, rank));
    const outDims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) outDims.push(axes.includes(i) ? 1 : dims[k++]!);
    return [reshaped(n, x, outDims)];
  },
  Transpose: (n) => {
    const x = n.input(0);
    const rank = dimsOf(x).length;
    const perm = n.attr.ints("perm") ?? [...Array(rank).keys()].reverse();
    if (perm.every((p, i) => p === i)) return [x];
    const outDims = perm.map((p) => dimsOf(x)[p]!);
    if (sizeOf(outDims) === 0) return [empty(dtypeOfTerm(x), outDims)];
    return [out(n.emit("transpose", [n.value(x)], { perm }), dtypeOfTerm(x))];
  },
  Expand: (n) => {
    const x = n.input(0);
    const shape = n.ints(n.input(1), "the target shape");
    const outDims = broadcastDims(dimsOf(x), shape);
    if (!outDims) invalid(`${n.where}: [${dimsOf(x)}] does not broadcast to [${shape}]`);
    const same = outDims.length === dimsOf(x).length && outDims.every((d, i) => d === dimsOf(x)[i]);
    if (same) return [x];
    if (sizeOf(outDims) === 0) return [empty(dtypeOfTerm(x), outDims)];
    return [out(n.emit("broadcast", [n.value(x)], { shape: outDims }), dtypeOfTerm(x))];
  },
  Concat: concat,
  Slice: slice,
  Gather: gather,
  Pad: pad,
  ReduceSum: reduce("sum"),
  ReduceMean: reduce("mean"),
  ReduceMax: reduce("max"),
  ReduceMin: reduce("min"),
  ReduceSumSquare: reduce("sumsquare"),
  ReduceL1: reduce("l1"),
  ReduceL2: reduce("l2"),
  ReduceLogSumExp: reduce("logsumexp"),
};

/** Re-exported for handlers that fill by dtype. */
export type { OnnxDType };
