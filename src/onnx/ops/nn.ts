import type { Value } from "../../ir/graph.js";
import { dimsOf, dtypeOfTerm, type Handler, invalid, type NodeCtx, OnnxImportError, type Term, unsupported } from "../node-context.js";
import { sizeOf } from "../tensor.js";
import { broadcastDims, filled, normAxis, out, reshapeValue, staticOf, unravel } from "./common.js";

/**
 * Neural-network ops: MatMul, Gemm, Conv, pools, normalisations and Dropout (inference).
 * Conv and the pools map to the `conv` / `pool` window primitives, with ONNX's auto_pad turned
 * into explicit pads. Where a primitive is missing or its shape rule disagrees with ONNX's
 * geometry (more spatial axes than it takes, say), they are built from movement primitives
 * instead: a pool is a max or sum over one strided slice per kernel tap of the padded input, a
 * convolution is im2col (those slices stacked) times the reshaped weight.
 */

/** MatMul with numpy semantics: 1-D operands get a unit dim, batch dims broadcast. */
export function matmul(n: NodeCtx, a: Value, b: Value): Value {
  const ad = a.type.shape as number[];
  const bd = b.type.shape as number[];
  if (!ad.length || !bd.length) invalid(`${n.where}: MatMul of a scalar`);
  const a2 = ad.length === 1 ? reshapeValue(n, a, [1, ad[0]!]) : a;
  const b2 = bd.length === 1 ? reshapeValue(n, b, [bd[0]!, 1]) : b;
  const as = a2.type.shape as number[];
  const bs = b2.type.shape as number[];
  const batchA = as.slice(0, -2);
  const batchB = bs.slice(0, -2);
  const batch = broadcastDims(batchA, batchB);
  if (!batch) invalid(`${n.where}: batch dims [${batchA}] and [${batchB}] do not broadcast`);
  const [m, k] = as.slice(-2) as [number, number];
  const nn = bs.at(-1)!;
  // A side whose batch dims are all 1 is one shared matrix; otherwise both sides get the full batch.
  const shared = (dims: number[]) => dims.every((d) => d === 1);
  let x = a2;
  let y = b2;
  if (shared(batchB)) y = reshapeValue(n, b2, bs.slice(-2));
  else if (shared(batchA)) x = reshapeValue(n, a2, as.slice(-2));
  if (!shared(batchA) && !shared(batchB)) {
    const full = (v: Value, dims: number[], tail: number[]) =>
      dims.length === batch.length && dims.every((d, i) => d === batch[i]) ? v : n.emit("broadcast", [v], { shape: [...batch, ...tail] });
    x = full(a2, batchA, [m, k]);
    y = full(b2, batchB, [bs.at(-2)!, nn]);
  }
  let r = n.emit("matmul", [x, y]);
  const outDims = [...batch, ...(ad.length === 1 ? [] : [m]), ...(bd.length === 1 ? [] : [nn])];
  return reshapeValue(n, r, outDims);
}

function gemm(n: NodeCtx): Term[] {
  const alpha = n.attr.float("alpha", 1);
  const beta = n.attr.float("beta", 1);
  const ta = n.attr.int("transA", 0) === 1;
  const tb = n.attr.int("transB", 0) === 1;
  let y = n.emit("matmul", [n.value(n.input(0)), n.value(n.input(1))], { ta, tb });
  if (alpha !== 1) y = n.emit("mul", [y, n.scalar(alpha)]);
  const c = n.optional(2);
  if (c && beta !== 0) y = n.emit("add", [y, beta === 1 ? n.value(c) : n.emit("mul", [n.value(c), n.scalar(beta)])]);
  return [out(y, dtypeOfTerm(n.input(0)))];
}

/** Whether a value has exactly these dims. */
function sameDims(v: Value, dims: number[]): boolean {
  const have = v.type.shape;
  return have.length === dims.length && have.every((d, i) => d === dims[i]);
}

/** Window geometry of a conv or pool over the spatial axes. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Explicit [begin, end] padding per spatial axis. */
  pads: [number, number][];
  /** Output size per spatial axis. */
  out: number[];
}

/**
 * ONNX auto_pad as explicit pads for one axis: SAME_UPPER / SAME_LOWER pad so that
 * out = ceil(in / stride), the odd element at the end (upper) or the beginning (lower); VALID none.
 */
export function autoPad(mode: string, size: number, kernel: number, stride: number, dilation: number): [number, number] {
  if (mode === "VALID" || mode === "NOTSET") return [0, 0];
  const extent = (kernel - 1) * dilation + 1;
  const outSize = Math.ceil(size / stride);
  const total = Math.max(0, (outSize - 1) * stride + extent - size);
  const small = Math.floor(total / 2);
  if (mode === "SAME_UPPER") return [small, total - small];
  if (mode === "SAME_LOWER") return [total - small, small];
  throw new Error(`unknown auto_pad ${mode}`);
}

/** Reads kernel_shape, strides, dilations, pads / auto_pad and ceil_mode into a window. */
export function windowOf(n: NodeCtx, spatial: number[], kernel: number[]): Window {
  const r = spatial.length;
  if (kernel.length !== r) invalid(`${n.where}: kernel_shape has ${kernel.length} dims for ${r} spatial axes`);
  const strides = n.attr.ints("strides") ?? new Array<number>(r).fill(1);
  const dilations = n.attr.ints("dilations") ?? new Array<number>(r).fill(1);
  const mode = n.attr.string("auto_pad", "NOTSET");
  if (!["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].includes(mode)) invalid(`${n.where}: auto_pad ${mode}`);
  const ceil = n.attr.int("ceil_mode", 0) === 1;
  const raw = n.attr.ints("pads");
  const pads: [number, number][] = spatial.map((s, i) =>
    mode === "NOTSET" ? [raw?.[i] ?? 0, raw?.[i + r] ?? 0] : autoPad(mode, s, kernel[i]!, strides[i]!, dilations[i]!),
  );
  const outSizes = spatial.map((s, i) => {
    const extent = (kernel[i]! - 1) * dilations[i]! + 1;
    const span = s + pads[i]![0] + pads[i]![1] - extent;
    if (span < 0) invalid(`${n.where}: the kernel is larger than the padded input`);
    if (mode === "SAME_UPPER" || mode === "SAME_LOWER") return Math.ceil(s / strides[i]!);
    if (!ceil) return Math.floor(span / strides[i]!) + 1;
    let o = Math.ceil(span / strides[i]!) + 1;
    // The last window must start inside the input or its leading padding (PyTorch's rule).
    if ((o - 1) * strides[i]! >= s + pads[i]![0]) o--;
    return o;
  });
  return { kernel, strides, dilations, pads, out: outSizes };
}

/** Every kernel tap (offset per spatial axis), row-major. */
function taps(kernel: number[]): number[][] {
  return Array.from({ length: sizeOf(kernel) }, (_, i) => unravel(i, kernel));
}

/**
 * Padding per spatial axis that the windows actually reach: the explicit leading pad, and at the
 * end as far as the last window goes (less than the explicit pad when it is never reached, more
 * when ceil_mode lets the last window hang over).
 */
function reachPads(w: Window, spatial: number[]): [number, number][] {
  return spatial.map((d, i) => {
    const end = (w.out[i]! - 1) * w.strides[i]! + (w.kernel[i]! - 1) * w.dilations[i]! + 1;
    const lo = w.pads[i]![0];
    return [lo, Math.max(0, end - (d + lo))];
  });
}

/**
 * The input padded for the window (and at the end as far as the last window reaches), and one
 * strided slice per tap giving [N, C, ...out] for that tap.
 */
function tapSlices(n: NodeCtx, x: Value, w: Window, fill: number): Value[] {
  const dims = x.type.shape as number[];
  const lead = dims.length - w.kernel.length;
  const reach = reachPads(w, dims.slice(lead));
  const pairs = dims.map((_, i): [number, number] => (i < lead ? [0, 0] : reach[i - lead]!));
  const padded = pairs.some(([lo, hi]) => lo || hi) ? n.emit("pad", [x], { pads: pairs.flat(), value: fill }) : x;
  const axes = w.kernel.map((_, i) => lead + i);
  return taps(w.kernel).map((t) => {
    const starts = t.map((k, i) => k * w.dilations[i]!);
    return n.emit("slice", [padded], {
      starts,
      ends: starts.map((s, i) => s + (w.out[i]! - 1) * w.strides[i]! + 1),
      axes,
      steps: w.strides,
    });
  });
}

function kernelShape(n: NodeCtx, w?: number[]): number[] {
  const k = n.attr.ints("kernel_shape") ?? w;
  if (!k) invalid(`${n.where}: kernel_shape is missing`);
  return k;
}

function pool(mode: "max" | "avg"): Handler {
  return (n) => {
    const x = n.input(0);
    if (mode === "max" && n.wants(1)) unsupported(`${n.where}: MaxPool's Indices output`);
    if (n.attr.int("storage_order", 0) !== 0) unsupported(`${n.where}: storage_order = 1`);
    const dt = dtypeOfTerm(x);
    if (x.kind === "dynamic" && dt !== "float32") unsupported(`${n.where}: dtype ${dt} (float32 runtime)`);
    const dims = dimsOf(x);
    if (dims.length < 3) invalid(`${n.where}: input must be [N, C, ...spatial]`);
    const spatial = dims.slice(2);
    const w = windowOf(n, spatial, kernelShape(n));
    const countPad = n.attr.int("count_include_pad", 0) === 1;
    const v = n.value(x);
    // The pool primitive, with ONNX's attributes; if its shape rule disagrees (ceil-mode rules
    // differ between frameworks), with the padding the windows reach and no ceil, unless
    // averaging counts pads and ceil_mode adds room that must not count.
    const outDims = [...dims.slice(0, 2), ...w.out];
    const attrs = { mode, kernel: w.kernel, strides: w.strides, dilations: w.dilations, count_pad: countPad };
    const native = n.tryEmit("pool", [v], { ...attrs, pads: w.pads.flat(), ceil: n.attr.int("ceil_mode", 0) === 1 });
    if (native && sameDims(native, outDims)) return [out(native, dt)];
    const reach = reachPads(w, spatial);
    const extra = reach.some(([, hi], i) => hi > w.pads[i]![1]);
    if (!(mode === "avg" && countPad && extra)) {
      const pads = reach.flatMap(([lo, hi], i) => [lo, mode === "avg" && countPad ? w.pads[i]![1] : hi]);
      const y = n.tryEmit("pool", [v], { ...attrs, pads, ceil: false });
      if (y && sameDims(y, outDims)) return [out(y, dt)];
    }
    const slices = tapSlices(n, v, w, mode === "max" ? -Infinity : 0);
    let acc = slices[0]!;
    for (const s of slices.slice(1)) acc = n.emit(mode === "max" ? "max" : "add", [acc, s]);
    if (mode === "max") return [out(acc, dt)];
    // Divisor per output position: the taps inside the input, plus the explicit padding when
    // count_include_pad (never the extra room ceil_mode adds past the end).
    const counts = new Float64Array(sizeOf(w.out));
    for (let i = 0; i < counts.length; i++) {
      const o = unravel(i, w.out);
      let c = 0;
      for (const t of taps(w.kernel)) {
        const inside = t.every((k, d) => {
          const pos = o[d]! * w.strides[d]! + k * w.dilations[d]! - w.pads[d]![0];
          return countPad ? pos < spatial[d]! + w.pads[d]![1] : pos >= 0 && pos < spatial[d]!;
        });
        if (inside) c++;
      }
      counts[i] = c;
    }
    const count = staticOf("float32", [...w.out], counts);
    return [out(n.emit("div", [acc, n.value(count)]), dt)];
  };
}

function conv(n: NodeCtx): Term[] {
  const x = n.input(0);
  const wt = n.input(1);
  const xd = dimsOf(x);
  const wd = dimsOf(wt);
  const groups = n.attr.int("group", 1);
  const r = xd.length - 2;
  if (r < 1 || wd.length !== xd.length) invalid(`${n.where}: input [${xd}] and weight [${wd}] ranks do not fit`);
  const [batch, channels] = xd as [number, number];
  const [filters, perGroup] = wd as [number, number];
  if (channels !== perGroup * groups || filters % groups !== 0)
    invalid(`${n.where}: ${channels} channels, weight [${wd}] and ${groups} groups do not fit`);
  const w = windowOf(n, xd.slice(2), kernelShape(n, wd.slice(2)));
  const bias = n.optional(2);
  let y = n.tryEmit("conv", [n.value(x), n.value(wt)], { strides: w.strides, pads: w.pads.flat(), dilations: w.dilations, groups });
  // NOTE: a primitive whose shape rule disagrees with ONNX's geometry is not used (the node is
  // dead code, dropped by simplify); the construction below is.
  if (y && !sameDims(y, [batch, filters, ...w.out])) y = undefined;
  if (!y) {
    // im2col: [N, C, K, P] with K taps and P output positions, then W [M, C·K] times it per group.
    const taps_ = tapSlices(n, n.value(x), w, 0);
    const kk = taps_.length;
    const positions = sizeOf(w.out);
    const cols = taps_.map((s) => reshapeValue(n, s, [batch, channels, 1, positions]));
    const stacked = cols.length === 1 ? cols[0]! : n.emit("concat", cols, { axis: 2 });
    const flat = reshapeValue(n, stacked, [batch, channels * kk, positions]);
    const wflat = reshapeValue(n, n.value(wt), [filters, perGroup * kk]);
    const outs: Value[] = [];
    const m = filters / groups;
    for (let gi = 0; gi < groups; gi++) {
      const xs = groups === 1 ? flat : n.emit("slice", [flat], { starts: [gi * perGroup * kk], ends: [(gi + 1) * perGroup * kk], axes: [1] });
      const ws = groups === 1 ? wflat : n.emit("slice", [wflat], { starts: [gi * m], ends: [(gi + 1) * m], axes: [0] });
      outs.push(n.emit("matmul", [ws, xs]));
    }
    const joined = outs.length === 1 ? outs[0]! : n.emit("concat", outs, { axis: 1 });
    y = reshapeValue(n, joined, [batch, filters, ...w.out]);
  }
  if (bias) y = n.emit("add", [y, reshapeValue(n, n.value(bias), [filters, ...new Array<number>(r).fill(1)])]);
  return [out(y, dtypeOfTerm(x))];
}

/** [C] per-channel values shaped to broadcast over [N, C, ...spatial]. */
function perChannel(n: NodeCtx, t: Term, rank: number): Value {
  const c = dimsOf(t)[0]!;
  return reshapeValue(n, n.value(t), [c, ...new Array<number>(Math.max(0, rank - 2)).fill(1)]);
}

function batchNorm(n: NodeCtx): Term[] {
  const x = n.input(0);
  const rank = dimsOf(x).length;
  const eps = n.attr.float("epsilon", 1e-5);
  const momentum = n.attr.float("momentum", 0.9);
  const training = n.attr.int("training_mode", 0) === 1 || (n.opset < 9 && n.attr.int("is_test", 1) === 0);
  const xv = n.value(x);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => perChannel(n, n.input(i), rank)) as [Value, Value, Value, Value];
  const dt = dtypeOfTerm(x);
  if (!training) {
    const inv = n.emit("div", [scale, n.emit("sqrt", [n.emit("add", [variance, n.scalar(eps)])])]);
    return [out(n.emit("add", [n.emit("mul", [n.emit("sub", [xv, mean]), inv]), bias]), dt)];
  }
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const bmean = n.emit("mean", [xv], { axes, keepdims: true });
  const centred = n.emit("sub", [xv, bmean]);
  const bvar = n.emit("mean", [n.emit("mul", [centred, centred])], { axes, keepdims: true });
  const y = n.emit("add", [n.emit("mul", [centred, n.emit("div", [scale, n.emit("sqrt", [n.emit("add", [bvar, n.scalar(eps)])])])]), bias]);
  const c = dimsOf(n.input(1))[0]!;
  const running = (old: Value, batch: Value) =>
    reshapeValue(n, n.emit("add", [n.emit("mul", [old, n.scalar(momentum)]), n.emit("mul", [batch, n.scalar(1 - momentum)])]), [c]);
  return [out(y, dt), out(running(mean, bmean), dt), out(running(variance, bvar), dt)];
}

function layerNorm(n: NodeCtx): Term[] {
  const x = n.input(0);
  const dims = dimsOf(x);
  const axis = normAxis(n, n.attr.int("axis", -1), dims.length);
  const eps = n.attr.float("epsilon", 1e-5);
  const axes = dims.slice(axis).map((_, i) => axis + i);
  const xv = n.value(x);
  const mean = n.emit("mean", [xv], { axes, keepdims: true });
  const centred = n.emit("sub", [xv, mean]);
  const variance = n.emit("mean", [n.emit("mul", [centred, centred])], { axes, keepdims: true });
  const invStd = n.emit("div", [n.scalar(1), n.emit("sqrt", [n.emit("add", [variance, n.scalar(eps)])])]);
  let y = n.emit("mul", [n.emit("mul", [centred, invStd]), n.value(n.input(1))]);
  const b = n.optional(2);
  if (b) y = n.emit("add", [y, n.value(b)]);
  const dt = dtypeOfTerm(x);
  return [out(y, dt), out(mean, dt), out(invStd, dt)];
}

function dropout(n: NodeCtx): (Term | undefined)[] {
  const x = n.input(0);
  let training = false;
  let ratio = n.attr.float("ratio", 0.5);
  if (n.opset >= 12) {
    const r = n.optional(1);
    if (r) ratio = n.static(r, "Dropout's ratio").data[0]!;
    const t = n.optional(2);
    if (t) training = n.static(t, "Dropout's training_mode").data[0] !== 0;
  } else if (n.opset < 7) {
    training = n.attr.int("is_test", 0) === 0;
  }
  // NOTE: ONNX's expected outputs for training dropout come from numpy's seeded RNG, which
  // netc's counter-based generator does not reproduce; only ratio 0 is deterministic.
  if (training && ratio !== 0) throw new OnnxImportError(`training dropout uses numpy's RNG (ratio ${ratio})`, "random");
  const mask = n.wants(1) ? filled("bool", dimsOf(x), 1) : undefined;
  return [x, mask];
}

/** Neural-network handlers by ONNX op type. */
export const NN_OPS: Record<string, Handler> = {
  MatMul: (n) => [out(matmul(n, n.value(n.input(0)), n.value(n.input(1))), dtypeOfTerm(n.input(0)))],
  Gemm: gemm,
  Conv: conv,
  MaxPool: pool("max"),
  AveragePool: pool("avg"),
  GlobalAveragePool: (n) => {
    const x = n.input(0);
    const axes = dimsOf(x).slice(2).map((_, i) => i + 2);
    return [out(n.emit("mean", [n.value(x)], { axes, keepdims: true }), dtypeOfTerm(x))];
  },
  GlobalMaxPool: (n) => {
    const x = n.input(0);
    const axes = dimsOf(x).slice(2).map((_, i) => i + 2);
    return [out(n.emit("max_reduce", [n.value(x)], { axes, keepdims: true }), dtypeOfTerm(x))];
  },
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Dropout: dropout,
};
