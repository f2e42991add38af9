import type { Attrs } from "../graph.js";
import { strictCtx } from "./shape.js";
import type { CpuTensor, GemmAffine, GemmView, InferCtx, OpFamily, WindowWgsl } from "./types.js";
import {
  affine,
  convAttrs,
  i32,
  intList,
  knownDims,
  outSizes,
  plus,
  tapTable,
  times,
  WgslWriter,
  windowAttrs,
  type WindowAttrs,
} from "./window.js";
import { formatShape, numel, stridesOf, type Dim, type TensorType } from "../types.js";

/**
 * Convolution and pooling over [N, C, *spatial] with 1, 2 or 3 spatial axes, and their gradients,
 * as window ops (see WindowOp in types.ts): one thread per output element loops over the taps of
 * its window. Attributes, per spatial axis: `strides` (default 1), `pads` as
 * [before0, after0, before1, after1, ...] (default 0, the `pad` op's order), `dilations`
 * (default 1); conv has `groups` (default 1), pooling `mode`, `kernel`, `ceil`, `count_pad`.
 *
 * The gradients are gathers, never scatters (no atomics): conv_grad_input loops, for each input
 * element, over the output positions whose windows read it; pool_grad likewise.
 */

// ---------------------------------------------------------------- shape rules

/** The spatial rank of an [N, C, *spatial] tensor (1, 2 or 3), or an NC3004 error. */
function spatialRank(op: string, shape: readonly Dim[], ctx: InferCtx): number | undefined {
  const r = shape.length;
  if (r < 3 || r > 5) {
    ctx.error("NC3004", { op, expected: "3, 4 or 5 ([batch, channels, *spatial])", got: r });
    return undefined;
  }
  return r - 2;
}

/** A second operand of the same rank as the first (the weight of a conv, a gradient), or an NC3004 error. */
function sameRank(op: string, shape: readonly Dim[], rank: number, what: string, ctx: InferCtx): boolean {
  if (shape.length === rank) return true;
  ctx.error("NC3004", { op, expected: `${rank} (${what})`, got: shape.length });
  return false;
}

/** `count` (filters or channels) must split into `groups` equal parts. */
function divides(op: string, count: number, what: string, groups: number, ctx: InferCtx): boolean {
  if (count % groups === 0) return true;
  ctx.error("NC3017", { op, count, what, groups });
  return false;
}

/** The conv geometry checked against x [N, C, *input] and w [F, C / groups, *kernel]. */
interface ConvGeometry {
  a: WindowAttrs;
  channels: number;
  filters: number;
  input: number[];
  kernel: number[];
  out: number[];
}

function convGeometry(op: string, x: readonly Dim[], w: readonly Dim[], attrs: Attrs, ctx: InferCtx): ConvGeometry | undefined {
  const s = spatialRank(op, x, ctx);
  if (s === undefined || !sameRank(op, w, s + 2, "the weight [filters, channels / groups, *kernel]", ctx)) return undefined;
  const a = windowAttrs(op, attrs, s, ctx);
  const input = a && knownDims(op, x, 2, ctx);
  const kernel = input && knownDims(op, w, 2, ctx);
  if (!a || !input || !kernel) return undefined;
  const filters = w[0]!;
  if (typeof filters !== "number") {
    ctx.error("NC3013", { op, axis: 0, dim: filters });
    return undefined;
  }
  if (!divides(op, filters, "filters", a.groups, ctx)) return undefined;
  // NOTE: the channel dims are unified, not compared, so a symbolic one (an IR param declared
  // [F, C, 3, 3], an input [B, C, H, W]) binds to the other side's size.
  const [xc, wc] = [x[1]!, w[1]!];
  if (typeof xc === "number" && !divides(op, xc, "input channels", a.groups, ctx)) return undefined;
  let channels: number;
  if (typeof wc === "number") channels = wc * a.groups;
  else if (typeof xc === "number") channels = xc;
  else {
    ctx.error("NC3013", { op, axis: 1, dim: xc });
    return undefined;
  }
  if (ctx.unify(xc, channels) === undefined || ctx.unify(wc, channels / a.groups) === undefined) {
    ctx.error("NC3016", { op, channels: xc, weight: formatShape(w), groups: a.groups, expected: channels });
    return undefined;
  }
  const out = outSizes(op, input, kernel, a, ctx);
  return out && { a, channels, filters, input, kernel, out };
}

/** A gradient operand must have the spatial size the forward op gives; NC3003 otherwise. */
function sameOut(op: string, g: readonly Dim[], want: Dim[], ctx: InferCtx): boolean {
  if (g.length === want.length && g.every((d, i) => ctx.unify(d, want[i]!) !== undefined)) return true;
  ctx.error("NC3003", { op, expected: `a gradient of shape ${formatShape(want)}`, got: formatShape(g) });
  return false;
}

function convInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const [x, w] = ins as [TensorType, TensorType];
  const geo = convGeometry("conv", x.shape, w.shape, attrs, ctx);
  return geo && { dtype: x.dtype, shape: [x.shape[0]!, geo.filters, ...geo.out] };
}

/** conv_grad_input(g [N, F, *out], w [F, C / groups, *kernel]) with `input` -> [N, C, *input]. */
function convGradInputInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const op = "conv_grad_input";
  const [g, w] = ins as [TensorType, TensorType];
  const s = spatialRank(op, g.shape, ctx);
  if (s === undefined || !sameRank(op, w.shape, s + 2, "the weight [filters, channels / groups, *kernel]", ctx)) return undefined;
  const a = windowAttrs(op, attrs, s, ctx);
  const input = a && intList(op, attrs, "input", s, 1, ctx);
  const wd = input && knownDims(op, w.shape, 0, ctx);
  if (!a || !input || !wd) return undefined;
  const [filters, perGroup, ...kernel] = wd as [number, number, ...number[]];
  if (!divides(op, filters, "filters", a.groups, ctx)) return undefined;
  const out = outSizes(op, input, kernel, a, ctx);
  if (!out || !sameOut(op, g.shape, [g.shape[0]!, filters, ...out], ctx)) return undefined;
  return { dtype: g.dtype, shape: [g.shape[0]!, perGroup * a.groups, ...input] };
}

/** conv_grad_weight(x [N, C, *input], g [N, F, *out]) with `kernel` -> [F, C / groups, *kernel]. */
function convGradWeightInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const op = "conv_grad_weight";
  const [x, g] = ins as [TensorType, TensorType];
  const s = spatialRank(op, x.shape, ctx);
  if (s === undefined || !sameRank(op, g.shape, s + 2, "the gradient [batch, filters, *out]", ctx)) return undefined;
  const a = windowAttrs(op, attrs, s, ctx);
  const kernel = a && intList(op, attrs, "kernel", s, 1, ctx);
  const xd = kernel && knownDims(op, x.shape, 1, ctx);
  const filters = g.shape[1];
  if (!a || !kernel || !xd) return undefined;
  if (typeof filters !== "number") {
    ctx.error("NC3013", { op, axis: 1, dim: filters! });
    return undefined;
  }
  const [channels, ...input] = xd as [number, ...number[]];
  if (!divides(op, filters, "filters", a.groups, ctx) || !divides(op, channels, "input channels", a.groups, ctx)) return undefined;
  const out = outSizes(op, input, kernel, a, ctx);
  if (!out || !sameOut(op, g.shape, [x.shape[0]!, filters, ...out], ctx)) return undefined;
  return { dtype: x.dtype, shape: [filters, channels / a.groups, ...kernel] };
}

/** Pooling's attributes, checked against x [N, C, *input]. */
interface PoolGeometry {
  a: WindowAttrs;
  mode: "max" | "avg";
  kernel: number[];
  ceil: boolean;
  countPad: boolean;
  input: number[];
  out: number[];
}

function poolGeometry(op: string, x: readonly Dim[], attrs: Attrs, ctx: InferCtx): PoolGeometry | undefined {
  const s = spatialRank(op, x, ctx);
  if (s === undefined) return undefined;
  const mode = attrs["mode"];
  if (mode !== "max" && mode !== "avg") {
    ctx.error("NC3003", { op, expected: "mode = max or avg", got: mode === undefined ? "no mode" : `mode = ${String(mode)}` });
    return undefined;
  }
  for (const key of ["ceil", "count_pad"]) {
    const v = attrs[key];
    if (v !== undefined && typeof v !== "boolean") {
      ctx.error("NC3003", { op, expected: `${key} = true or false`, got: `${key} = ${String(v)}` });
      return undefined;
    }
  }
  const kernel = intList(op, attrs, "kernel", s, 1, ctx);
  const a = kernel && windowAttrs(op, attrs, s, ctx);
  const input = a && knownDims(op, x, 2, ctx);
  if (!kernel || !a || !input) return undefined;
  const ceil = attrs["ceil"] === true;
  const out = outSizes(op, input, kernel, a, ctx, ceil);
  if (!out) return undefined;
  // NOTE: a window of padding only has no max and nothing to average over: a user error.
  for (let d = 0; d < s; d++) {
    const o = paddingOnlyWindow(out[d]!, a.strides[d]!, a.before[d]!, kernel[d]!, a.dilations[d]!, input[d]!);
    if (o !== undefined) {
      ctx.error("NC3019", { op, index: o, axis: d + 2 });
      return undefined;
    }
  }
  return { a, mode, kernel, ceil, countPad: attrs["count_pad"] === true, input, out };
}

/**
 * The first of `out` windows along an axis of `size` values that lies entirely in the padding
 * (window o starts at o·stride - before and takes `kernel` values `dilation` apart), or undefined.
 * Windows starting inside the axis hold a real value, and every window starting past its end is
 * padding only, so only the windows starting in the leading padding are looked at one by one:
 * NOTE: without looping over every window, a mutated size of 2^31 made `check` take minutes.
 */
export function paddingOnlyWindow(out: number, stride: number, before: number, kernel: number, dilation: number, size: number): number | undefined {
  const real = (o: number) => {
    const first = o * stride - before;
    const t = first >= 0 ? 0 : Math.ceil(-first / dilation);
    return t < kernel && first + t * dilation < size;
  };
  const leading = before > 0 ? Math.min(out, Math.ceil(before / stride)) : 0;
  // NOTE: a window reaches the axis when its span covers the padding before it, which holds from
  // window 0 on if at all; whether it then hits or jumps over the axis depends on its start
  // modulo the dilation only (and it always hits when the dilation is at most the size).
  if (leading > 0 && !real(0)) return 0;
  const period = dilation <= size ? 0 : dilation;
  for (let o = 1; o < Math.min(leading, period); o++) if (!real(o)) return o;
  const past = Math.ceil((size + before) / stride);
  return past < out ? Math.max(past, leading) : undefined;
}

function poolInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const x = ins[0]!;
  const geo = poolGeometry("pool", x.shape, attrs, ctx);
  return geo && { dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...geo.out] };
}

function poolGradInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const [x, g] = ins as [TensorType, TensorType];
  const geo = poolGeometry("pool_grad", x.shape, attrs, ctx);
  if (!geo || !sameOut("pool_grad", g.shape, [x.shape[0]!, x.shape[1]!, ...geo.out], ctx)) return undefined;
  return { dtype: x.dtype, shape: [...x.shape] };
}

// ---------------------------------------------------------------- CPU reference

/** The window attributes of a typed node (errors are bugs by now). */
function attrsOf(op: string, attrs: Attrs, s: number): WindowAttrs {
  return windowAttrs(op, attrs, s, strictCtx(op))!;
}

/** Writes accumulated f64 sums into `out`, rounding to its precision. */
function store(out: CpuTensor, acc: Float64Array): void {
  out.data.set(acc);
}

function convCpu([x, w]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const [n, c] = x!.shape as [number, number];
  const [f, cg] = w!.shape as [number, number];
  const a = attrsOf("conv", attrs, x!.shape.length - 2);
  const input = x!.shape.slice(2);
  const kernel = w!.shape.slice(2);
  const outSp = out.shape.slice(2);
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  const tt = tapTable(input, outSp, kernel, a);
  const xd = x!.data;
  const wd = w!.data;
  for (let b = 0; b < n; b++)
    for (let ff = 0; ff < f; ff++) {
      const xb = (b * c + Math.floor(ff / fg) * cg) * inSize;
      const wb = ff * cg * kSize;
      const ob = (b * f + ff) * oSize;
      for (let o = 0; o < oSize; o++) {
        let acc = 0;
        for (let e = tt.start[o]!; e < tt.start[o + 1]!; e++) {
          const t = tt.tap[e]!;
          const off = tt.offset[e]!;
          for (let k = 0; k < cg; k++) acc += xd[xb + k * inSize + off]! * wd[wb + k * kSize + t]!;
        }
        out.data[ob + o] = acc;
      }
    }
}

/** The transposed convolution, as a scatter over conv's taps (independent of the GPU's gather). */
function convGradInputCpu([g, w]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const [n, f] = g!.shape as [number, number];
  const cg = w!.shape[1]!;
  const c = out.shape[1]!;
  const a = attrsOf("conv_grad_input", attrs, g!.shape.length - 2);
  const input = out.shape.slice(2);
  const kernel = w!.shape.slice(2);
  const outSp = g!.shape.slice(2);
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  const tt = tapTable(input, outSp, kernel, a);
  const acc = new Float64Array(out.data.length);
  for (let b = 0; b < n; b++)
    for (let ff = 0; ff < f; ff++) {
      const xb = (b * c + Math.floor(ff / fg) * cg) * inSize;
      const wb = ff * cg * kSize;
      const gb = (b * f + ff) * oSize;
      for (let o = 0; o < oSize; o++) {
        const gv = g!.data[gb + o]!;
        for (let e = tt.start[o]!; e < tt.start[o + 1]!; e++) {
          const t = tt.tap[e]!;
          const off = tt.offset[e]!;
          for (let k = 0; k < cg; k++) acc[xb + k * inSize + off] += gv * w!.data[wb + k * kSize + t]!;
        }
      }
    }
  store(out, acc);
}

function convGradWeightCpu([x, g]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const [n, c] = x!.shape as [number, number];
  const f = g!.shape[1]!;
  const cg = out.shape[1]!;
  const a = attrsOf("conv_grad_weight", attrs, x!.shape.length - 2);
  const input = x!.shape.slice(2);
  const kernel = out.shape.slice(2);
  const outSp = g!.shape.slice(2);
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  const tt = tapTable(input, outSp, kernel, a);
  const acc = new Float64Array(out.data.length);
  for (let b = 0; b < n; b++)
    for (let ff = 0; ff < f; ff++) {
      const xb = (b * c + Math.floor(ff / fg) * cg) * inSize;
      const wb = ff * cg * kSize;
      const gb = (b * f + ff) * oSize;
      for (let o = 0; o < oSize; o++) {
        const gv = g!.data[gb + o]!;
        for (let e = tt.start[o]!; e < tt.start[o + 1]!; e++) {
          const t = tt.tap[e]!;
          const off = tt.offset[e]!;
          for (let k = 0; k < cg; k++) acc[wb + k * kSize + t] += gv * x!.data[xb + k * inSize + off]!;
        }
      }
    }
  store(out, acc);
}

function poolOf(op: string, x: CpuTensor, attrs: Attrs): PoolGeometry {
  return poolGeometry(op, x.shape, attrs, strictCtx(op))!;
}

/** Max: the first maximum over the real taps in scan order; avg: their sum over the count. */
function poolCpu([x]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const geo = poolOf("pool", x!, attrs);
  const [inSize, oSize] = [numel(geo.input), numel(geo.out)];
  const tt = tapTable(geo.input, geo.out, geo.kernel, geo.a);
  const planes = x!.shape[0]! * x!.shape[1]!;
  const xd = x!.data;
  for (let p = 0; p < planes; p++) {
    const xb = p * inSize;
    for (let o = 0; o < oSize; o++) {
      const [e0, e1] = [tt.start[o]!, tt.start[o + 1]!];
      let v: number;
      if (geo.mode === "max") {
        v = xd[xb + tt.offset[e0]!]!;
        for (let e = e0 + 1; e < e1; e++) if (xd[xb + tt.offset[e]!]! > v) v = xd[xb + tt.offset[e]!]!;
      } else {
        let sum = 0;
        for (let e = e0; e < e1; e++) sum += xd[xb + tt.offset[e]!]!;
        v = sum / (geo.countPad ? tt.padded[o]! : e1 - e0);
      }
      out.data[p * oSize + o] = v;
    }
  }
}

/** Scatters g: max to each window's first maximum, avg evenly over each window's count. */
function poolGradCpu([x, g]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
  const geo = poolOf("pool_grad", x!, attrs);
  const [inSize, oSize] = [numel(geo.input), numel(geo.out)];
  const tt = tapTable(geo.input, geo.out, geo.kernel, geo.a);
  const planes = x!.shape[0]! * x!.shape[1]!;
  const xd = x!.data;
  const acc = new Float64Array(out.data.length);
  for (let p = 0; p < planes; p++) {
    const xb = p * inSize;
    for (let o = 0; o < oSize; o++) {
      const gv = g!.data[p * oSize + o]!;
      const [e0, e1] = [tt.start[o]!, tt.start[o + 1]!];
      if (geo.mode === "max") {
        let arg = tt.offset[e0]!;
        for (let e = e0 + 1; e < e1; e++) if (xd[xb + tt.offset[e]!]! > xd[xb + arg]!) arg = tt.offset[e]!;
        acc[xb + arg] += gv;
      } else {
        const share = gv / (geo.countPad ? tt.padded[o]! : e1 - e0);
        for (let e = e0; e < e1; e++) acc[xb + tt.offset[e]!] += share;
      }
    }
  }
  store(out, acc);
}

// ---------------------------------------------------------------- WGSL

/*
 * Every generator below computes one output element with the window's taps clipped to the input
 * once per axis (WgslWriter.range), so the loops carry no bounds checks; strides are constants
 * of the concrete shapes, and each loop level adds its axis's offset to the one outside it.
 */

function convWgsl(w: WindowWgsl): string {
  const [xs, ws] = w.ins as [number[], number[]];
  const a = attrsOf("conv", w.attrs, xs.length - 2);
  const [c, input, kernel, outSp] = [xs[1]!, xs.slice(2), ws.slice(2), w.out.slice(2)];
  const [f, cg] = [ws[0]!, ws[1]!];
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  const wr = new WgslWriter(w);
  const o = wr.let("o", `${w.idx} % ${oSize}u`);
  const ff = wr.let("f", `(${w.idx} / ${oSize}u) % ${f}u`);
  const n = wr.let("n", `${w.idx} / ${f * oSize}u`);
  const oc = wr.unravel("o", o, outSp);
  const group = a.groups === 1 ? "0u" : times(`(${ff} / ${fg}u)`, cg * inSize);
  let xo = wr.let("xb", plus(times(n, c * inSize), group));
  let wo = wr.let("wb", times(ff, cg * kSize));
  const starts = oc.map((q, d) => wr.let(`s${d}`, affine(`i32(${q})`, a.strides[d]!, -a.before[d]!)));
  const ranges = starts.map((st, d) => wr.range(`${d}`, st, a.dilations[d]!, kernel[d]!, input[d]!, windowStarts(d, outSp[d]!, a)));
  const acc = wr.var("acc", "0.0");
  const ist = stridesOf(input);
  const kst = stridesOf(kernel);
  // NOTE: the channels are the outermost loop and the taps inside it: a window's loads then lie
  // close together in x (3.4x faster on llvmpipe than channels innermost, whose loads stride a
  // whole input plane apart; measured on the 32->64 3x3 conv of examples/fashion-cnn2.net).
  if (cg > 1) {
    const k = w.name("c");
    wr.open(`for (var ${k} = 0u; ${k} < ${cg}u; ${k}++)`);
    xo = wr.let("xc", plus(xo, times(k, inSize)));
    wo = wr.let("wc", plus(wo, times(k, kSize)));
  }
  starts.forEach((st, d) => {
    const t = wr.forRange(`t${d}`, ranges[d]!.lo, ranges[d]!.hi);
    xo = wr.let(`xo${d}`, plus(xo, times(`u32(${affine(t, a.dilations[d]!, 0)} + ${st})`, ist[d]!)));
    wo = wr.let(`wo${d}`, plus(wo, times(`u32(${t})`, kst[d]!)));
  });
  wr.line(`${acc} += ${w.read(0, xo)} * ${w.read(1, wo)};`);
  wr.close(starts.length + (cg > 1 ? 1 : 0));
  return acc;
}

/** The lowest and highest first input position of a window on axis d (o·stride - pad over o < out). */
function windowStarts(d: number, out: number, a: WindowAttrs): [number, number] {
  return [-a.before[d]!, (out - 1) * a.strides[d]! - a.before[d]!];
}

/**
 * For each input position q (padded coordinates, i32) on an axis, the output positions whose
 * windows can read it: o·stride <= q and q - o·stride <= dilation·(k - 1), with o < out.
 */
function readersOf(wr: WgslWriter, d: number, q: string, a: WindowAttrs, k: number, out: number): { lo: string; hi: string } {
  const s = a.strides[d]!;
  const reach = a.dilations[d]! * (k - 1);
  // NOTE: truncating a negative numerator toward zero still gives a value <= 0, so max() fixes it.
  const lo = wr.let(`lo${d}`, `max(0i, ${s === 1 ? affine(q, 1, -reach) : `(${affine(q, 1, s - 1 - reach)}) / ${i32(s)}`})`);
  const hi = wr.let(`hi${d}`, `min(${i32(out)}, ${s === 1 ? affine(q, 1, 1) : `${q} / ${i32(s)} + 1i`})`);
  return { lo, hi };
}

/**
 * The tap a reader o of input position q uses: (q - o·stride) / dilation, skipping readers whose
 * window steps over q (dilation > 1). Returns the i32 tap expression.
 */
function tapOf(wr: WgslWriter, d: number, q: string, o: string, a: WindowAttrs): string {
  const r = wr.let(`r${d}`, `${q} - ${affine(o, a.strides[d]!, 0)}`);
  const dil = a.dilations[d]!;
  if (dil === 1) return r;
  wr.line(`if (${r} % ${i32(dil)} != 0i) { continue; }`);
  return wr.let(`k${d}`, `${r} / ${i32(dil)}`);
}

function convGradInputWgsl(w: WindowWgsl): string {
  const [gs, ws] = w.ins as [number[], number[]];
  const a = attrsOf("conv_grad_input", w.attrs, gs.length - 2);
  const [f, cg] = [ws[0]!, ws[1]!];
  const c = w.out[1]!;
  const [input, kernel, outSp] = [w.out.slice(2), ws.slice(2), gs.slice(2)];
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  const wr = new WgslWriter(w);
  const i = wr.let("i", `${w.idx} % ${inSize}u`);
  const ch = wr.let("c", `(${w.idx} / ${inSize}u) % ${c}u`);
  const n = wr.let("n", `${w.idx} / ${c * inSize}u`);
  const ic = wr.unravel("i", i, input);
  const grp = a.groups === 1 ? "0u" : wr.let("grp", `${ch} / ${cg}u`);
  const local = a.groups === 1 ? ch : wr.let("cl", `${ch} % ${cg}u`);
  let go = wr.let("gb", plus(times(n, f * oSize), times(grp, fg * oSize)));
  let wo = wr.let("wb", plus(times(grp, fg * cg * kSize), times(local, kSize)));
  const qs = ic.map((q, d) => wr.let(`q${d}`, affine(`i32(${q})`, 1, a.before[d]!)));
  const ranges = qs.map((q, d) => readersOf(wr, d, q, a, kernel[d]!, outSp[d]!));
  const acc = wr.var("acc", "0.0");
  const ost = stridesOf(outSp);
  const kst = stridesOf(kernel);
  qs.forEach((q, d) => {
    const o = wr.forRange(`o${d}`, ranges[d]!.lo, ranges[d]!.hi);
    const t = tapOf(wr, d, q, o, a);
    go = wr.let(`go${d}`, plus(go, times(`u32(${o})`, ost[d]!)));
    wo = wr.let(`wo${d}`, plus(wo, times(`u32(${t})`, kst[d]!)));
  });
  // NOTE: unlike convWgsl, the filters stay the innermost loop: the readers' ranges differ per
  // thread, and running them once per filter measured 1.7x slower on llvmpipe (171 against
  // 284 ms for the 64->32 input gradient of a 3x3 conv at batch 64).
  if (fg > 1) {
    const k = w.name("f");
    wr.open(`for (var ${k} = 0u; ${k} < ${fg}u; ${k}++)`);
    wr.line(`${acc} += ${w.read(0, plus(go, times(k, oSize)))} * ${w.read(1, plus(wo, times(k, cg * kSize)))};`);
    wr.close();
  } else wr.line(`${acc} += ${w.read(0, go)} * ${w.read(1, wo)};`);
  wr.close(qs.length);
  return acc;
}

function convGradWeightWgsl(w: WindowWgsl): string {
  const [xs, gs] = w.ins as [number[], number[]];
  const a = attrsOf("conv_grad_weight", w.attrs, xs.length - 2);
  const [n, c] = [xs[0]!, xs[1]!];
  const f = gs[1]!;
  const cg = w.out[1]!;
  const [input, kernel, outSp] = [xs.slice(2), w.out.slice(2), gs.slice(2)];
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const fg = f / a.groups;
  // NOTE: one thread per weight element, each looping over the whole batch and output: only
  // F·C/groups·k threads. Ungrouped convs use the implicit GEMM view below instead (3-7x faster on
  // llvmpipe, bench/conv.bench.ts); this loop remains for grouped ones and as the "direct" choice.
  const wr = new WgslWriter(w);
  const t = wr.let("t", `${w.idx} % ${kSize}u`);
  const local = wr.let("cl", `(${w.idx} / ${kSize}u) % ${cg}u`);
  const ff = wr.let("f", `${w.idx} / ${cg * kSize}u`);
  const tc = wr.unravel("t", t, kernel);
  const ch = a.groups === 1 ? local : wr.let("c", plus(times(`(${ff} / ${fg}u)`, cg), local));
  const xc = wr.let("xc", times(ch, inSize));
  const gf = wr.let("gf", times(ff, oSize));
  const starts = tc.map((q, d) => wr.let(`s${d}`, affine(`i32(${q})`, a.dilations[d]!, -a.before[d]!)));
  // NOTE: here the roles swap: the start moves with the tap, the step is the stride.
  const ranges = starts.map((st, d) => wr.range(`${d}`, st, a.strides[d]!, outSp[d]!, input[d]!, [-a.before[d]!, (kernel[d]! - 1) * a.dilations[d]! - a.before[d]!]));
  const acc = wr.var("acc", "0.0");
  const b = w.name("b");
  wr.open(`for (var ${b} = 0u; ${b} < ${n}u; ${b}++)`);
  let xo = wr.let("xb", plus(times(b, c * inSize), xc));
  let go = wr.let("gb", plus(times(b, f * oSize), gf));
  const ist = stridesOf(input);
  const ost = stridesOf(outSp);
  starts.forEach((st, d) => {
    const o = wr.forRange(`o${d}`, ranges[d]!.lo, ranges[d]!.hi);
    xo = wr.let(`xo${d}`, plus(xo, times(`u32(${affine(o, a.strides[d]!, 0)} + ${st})`, ist[d]!)));
    go = wr.let(`go${d}`, plus(go, times(`u32(${o})`, ost[d]!)));
  });
  wr.line(`${acc} += ${w.read(1, go)} * ${w.read(0, xo)};`);
  wr.close(starts.length + 1);
  return acc;
}

// ---------------------------------------------------------------- implicit GEMM views

/*
 * conv and its gradients as implicit matrix products (GemmView in types.ts), for groups = 1:
 *   conv:             rows (n, out),  cols f,        k (c, taps):   A = x (padded), B = w
 *   conv_grad_weight: rows f,         cols (c, taps), k (n, out):   A = g,          B = x (padded)
 *   conv_grad_input:  rows (n, in),   cols c,        k (f, taps):   A = g (outside = 0), B = w
 * conv_grad_input needs stride 1 (otherwise only every stride-th tap reads a real output).
 * An axis gets a bound only when some row and k can reach outside the input.
 */

type GemmBound = GemmAffine & { size: number };

/**
 * The bound 0 <= pos < size on spatial axis d of `s`, where pos = constant + outer·(row or column
 * coordinate d + 1) + inner·(k coordinate d + 1): every view here leads with one non-spatial
 * coordinate (batch or channel) on each side.
 */
function axisBound(s: number, d: number, outer: number, inner: number, constant: number, size: number): GemmBound {
  const o = new Array<number>(s + 1).fill(0);
  const i = new Array<number>(s + 1).fill(0);
  o[1 + d] = outer;
  i[1 + d] = inner;
  return { outer: o, inner: i, constant, size };
}

/**
 * How conv and conv_grad_weight read x at (n, out position) through (c, tap): the offset is
 * constant + (n, out)·byOut + (c, taps)·byTap, and the position on axis d is
 * out·stride + tap·dilation - before, bounded only on axes a window can leave. conv puts
 * (n, out) in its rows and (c, taps) in k; conv_grad_weight the other way round.
 */
function convInputReads(a: WindowAttrs, xs: number[], outSp: number[], kernel: number[]): { byOut: number[]; byTap: number[]; constant: number; bounds: { byOut: GemmBound[]; byTap: GemmBound[] } } {
  const [c, input] = [xs[1]!, xs.slice(2)];
  const ist = stridesOf(input);
  const inSize = numel(input);
  const axes = input.flatMap((size, d) => {
    const [lo, hi] = [-a.before[d]!, (outSp[d]! - 1) * a.strides[d]! - a.before[d]! + (kernel[d]! - 1) * a.dilations[d]!];
    return lo < 0 || hi >= size ? [d] : [];
  });
  const s = input.length;
  return {
    byOut: [c * inSize, ...ist.map((st, d) => st * a.strides[d]!)],
    byTap: [inSize, ...ist.map((st, d) => st * a.dilations[d]!)],
    constant: -ist.reduce((acc, st, d) => acc + st * a.before[d]!, 0),
    bounds: {
      byOut: axes.map((d) => axisBound(s, d, a.strides[d]!, a.dilations[d]!, -a.before[d]!, input[d]!)),
      byTap: axes.map((d) => axisBound(s, d, a.dilations[d]!, a.strides[d]!, -a.before[d]!, input[d]!)),
    },
  };
}

function convGemm([xs, ws]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
  const a = attrsOf("conv", attrs, xs!.length - 2);
  if (a.groups !== 1) return undefined;
  const [n, c] = [xs![0]!, xs![1]!];
  const [f, kernel, outSp] = [ws![0]!, ws!.slice(2), out.slice(2)];
  const x = convInputReads(a, xs!, outSp, kernel);
  const kSize = numel(kernel);
  const oSize = numel(outSp);
  return {
    rows: [n, ...outSp],
    cols: [f],
    ks: [c, ...kernel],
    a: { input: 0, offset: { outer: x.byOut, inner: x.byTap, constant: x.constant }, bounds: x.bounds.byOut },
    b: { input: 1, offset: { outer: [c * kSize], inner: [kSize, ...stridesOf(kernel)], constant: 0 }, bounds: [] },
    out: { rows: [f * oSize, ...stridesOf(outSp)], cols: [oSize] },
  };
}

function convGradWeightGemm([xs, gs]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
  const a = attrsOf("conv_grad_weight", attrs, xs!.length - 2);
  if (a.groups !== 1) return undefined;
  const [n, c] = [xs![0]!, xs![1]!];
  const [f, outSp] = [gs![1]!, gs!.slice(2)];
  const kernel = out.slice(2);
  const x = convInputReads(a, xs!, outSp, kernel);
  const oSize = numel(outSp);
  const kSize = numel(kernel);
  return {
    rows: [f],
    cols: [c, ...kernel],
    ks: [n, ...outSp],
    a: { input: 1, offset: { outer: [oSize], inner: [f * oSize, ...stridesOf(outSp)], constant: 0 }, bounds: [] },
    b: { input: 0, offset: { outer: x.byTap, inner: x.byOut, constant: x.constant }, bounds: x.bounds.byTap },
    out: { rows: [c * kSize], cols: [kSize, ...stridesOf(kernel)] },
  };
}

function convGradInputGemm([gs, ws]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
  const a = attrsOf("conv_grad_input", attrs, gs!.length - 2);
  if (a.groups !== 1 || a.strides.some((st) => st !== 1)) return undefined;
  const [n, f, outSp] = [gs![0]!, gs![1]!, gs!.slice(2)];
  const [c, input] = [out[1]!, out.slice(2)];
  const kernel = ws!.slice(2);
  const [ist, kst, ost] = [stridesOf(input), stridesOf(kernel), stridesOf(outSp)];
  const [inSize, kSize, oSize] = [numel(input), numel(kernel), numel(outSp)];
  const s = input.length;
  // The output position reading input position i through tap t is i + before - t·dilation.
  const bounds = input.flatMap((size, d) => {
    const [lo, hi] = [a.before[d]! - (kernel[d]! - 1) * a.dilations[d]!, size - 1 + a.before[d]!];
    return lo < 0 || hi >= outSp[d]! ? [axisBound(s, d, 1, -a.dilations[d]!, a.before[d]!, outSp[d]!)] : [];
  });
  return {
    rows: [n, ...input],
    cols: [c],
    ks: [f, ...kernel],
    a: {
      input: 0,
      offset: {
        outer: [f * oSize, ...ost],
        inner: [oSize, ...ost.map((st, d) => -st * a.dilations[d]!)],
        constant: ost.reduce((acc, st, d) => acc + st * a.before[d]!, 0),
      },
      bounds,
    },
    b: { input: 1, offset: { outer: [kSize], inner: [c * kSize, ...kst], constant: 0 }, bounds: [] },
    out: { rows: [c * inSize, ...ist], cols: [inSize] },
  };
}

/** The real taps of the window starting at `starts` (i32, per axis): a range per axis. */
function tapRanges(wr: WgslWriter, starts: string[], geo: PoolGeometry): { lo: string; hi: string }[] {
  return starts.map((st, d) => wr.range(`${d}`, st, geo.a.dilations[d]!, geo.kernel[d]!, geo.input[d]!, windowStarts(d, geo.out[d]!, geo.a)));
}

/** Loops over the taps in `ranges`, innermost axis last; `body` gets the flat offset of each tap in x. */
function tapLoops(wr: WgslWriter, base: string, starts: string[], ranges: { lo: string; hi: string }[], geo: PoolGeometry, body: (offset: string) => void): void {
  const ist = stridesOf(geo.input);
  let xo = base;
  starts.forEach((st, d) => {
    const t = wr.forRange(`t${d}`, ranges[d]!.lo, ranges[d]!.hi);
    xo = wr.let(`xo${d}`, plus(xo, times(`u32(${affine(t, geo.a.dilations[d]!, 0)} + ${st})`, ist[d]!)));
  });
  body(xo);
  wr.close(starts.length);
}

/** The offset in x of a window's first real tap (every window has one: see poolGeometry). */
function firstTap(wr: WgslWriter, base: string, starts: string[], ranges: { lo: string }[], geo: PoolGeometry): string {
  const ist = stridesOf(geo.input);
  const terms = starts.map((st, d) => times(`u32(${affine(ranges[d]!.lo, geo.a.dilations[d]!, 0)} + ${st})`, ist[d]!));
  return wr.let("first", plus(base, ...terms));
}

/**
 * The divisor of an avg window (f32): its real taps (`ranges`, computed here when absent), or with
 * count_pad its taps inside the padded input (never the room ceil mode adds past it).
 */
function windowCount(wr: WgslWriter, starts: string[], geo: PoolGeometry, ranges?: { lo: string; hi: string }[]): string {
  const real = geo.countPad ? undefined : (ranges ?? tapRanges(wr, starts, geo));
  const counts = starts.map((st, d) => {
    if (real) return `(${real[d]!.hi} - ${real[d]!.lo})`;
    const padded = geo.input[d]! + geo.a.before[d]! + geo.a.after[d]!;
    const r = wr.range(`p${d}`, wr.let(`sp${d}`, affine(st, 1, geo.a.before[d]!)), geo.a.dilations[d]!, geo.kernel[d]!, padded);
    return `(${r.hi} - ${r.lo})`;
  });
  return wr.let("count", `f32(${counts.join(" * ")})`);
}

function poolWgsl(w: WindowWgsl): string {
  const geo = poolGeometry("pool", w.ins[0]!, w.attrs, strictCtx("pool"))!;
  const [inSize, oSize] = [numel(geo.input), numel(geo.out)];
  const wr = new WgslWriter(w);
  const o = wr.let("o", `${w.idx} % ${oSize}u`);
  const xb = wr.let("xb", times(`(${w.idx} / ${oSize}u)`, inSize));
  const oc = wr.unravel("o", o, geo.out);
  const starts = oc.map((q, d) => wr.let(`s${d}`, affine(`i32(${q})`, geo.a.strides[d]!, -geo.a.before[d]!)));
  const ranges = tapRanges(wr, starts, geo);
  if (geo.mode === "max") {
    const best = wr.var("best", w.read(0, firstTap(wr, xb, starts, ranges, geo)));
    tapLoops(wr, xb, starts, ranges, geo, (xo) => {
      const v = wr.let("v", w.read(0, xo));
      wr.line(`if (${v} > ${best}) { ${best} = ${v}; }`);
    });
    return best;
  }
  const sum = wr.var("sum", "0.0");
  tapLoops(wr, xb, starts, ranges, geo, (xo) => wr.line(`${sum} += ${w.read(0, xo)};`));
  return `(${sum} / ${windowCount(wr, starts, geo, ranges)})`;
}

function poolGradWgsl(w: WindowWgsl): string {
  const geo = poolGeometry("pool_grad", w.ins[0]!, w.attrs, strictCtx("pool_grad"))!;
  const [inSize, oSize] = [numel(geo.input), numel(geo.out)];
  const wr = new WgslWriter(w);
  const i = wr.let("i", `${w.idx} % ${inSize}u`);
  const plane = wr.let("plane", `${w.idx} / ${inSize}u`);
  const xb = wr.let("xb", times(plane, inSize));
  let go = wr.let("gb", times(plane, oSize));
  const ic = wr.unravel("i", i, geo.input);
  const qs = ic.map((q, d) => wr.let(`q${d}`, affine(`i32(${q})`, 1, geo.a.before[d]!)));
  const readers = qs.map((q, d) => readersOf(wr, d, q, geo.a, geo.kernel[d]!, geo.out[d]!));
  const acc = wr.var("acc", "0.0");
  const ost = stridesOf(geo.out);
  // Each window reading this element: its start on every axis, and its g.
  const starts = qs.map((q, d) => {
    const o = wr.forRange(`o${d}`, readers[d]!.lo, readers[d]!.hi);
    if (geo.a.dilations[d]! > 1) tapOf(wr, d, q, o, geo.a);
    go = wr.let(`go${d}`, plus(go, times(`u32(${o})`, ost[d]!)));
    return wr.let(`s${d}`, affine(o, geo.a.strides[d]!, -geo.a.before[d]!));
  });
  if (geo.mode === "max") {
    // NOTE: the window's argmax is its first maximum in scan order, as in the forward op and
    // PyTorch, so tied elements do not share (or duplicate) the gradient. It is recomputed for
    // every element the window covers (k taps each): cheap for the usual non-overlapping windows;
    // storing the forward pass's argmax would save it for heavily overlapping ones.
    const ranges = tapRanges(wr, starts, geo);
    const first = firstTap(wr, xb, starts, ranges, geo);
    const best = wr.var("best", w.read(0, first));
    const arg = wr.var("arg", first);
    tapLoops(wr, xb, starts, ranges, geo, (xo) => {
      const v = wr.let("v", w.read(0, xo));
      wr.line(`if (${v} > ${best}) { ${best} = ${v}; ${arg} = ${xo}; }`);
    });
    wr.line(`if (${arg} == ${w.idx}) { ${acc} += ${w.read(1, go)}; }`);
  } else {
    wr.line(`${acc} += ${w.read(1, go)} / ${windowCount(wr, starts, geo)};`);
  }
  wr.close(qs.length);
  return acc;
}

// ---------------------------------------------------------------- the registry entries

/** The window attributes of a conv-family node, as its gradient ops take them. */
function baseAttrs(op: string, attrs: Attrs, s: number): Attrs {
  return convAttrs(attrsOf(op, attrs, s));
}

/** Convolution, pooling and their gradients, merged into OPS. */
export const CONV_OPS = {
  /**
   * conv(x [N, C, *in], w [F, C/groups, *k]) -> [N, F, *out], out = floor((in + before + after -
   * dilation·(k - 1) - 1) / stride) + 1; cross-correlation, as in every framework.
   */
  conv: {
    kind: "window",
    arity: 2,
    infer: convInfer,
    cpu: convCpu,
    wgsl: convWgsl,
    gemm: convGemm,
    grad: (b, g, [x, w], _o, attrs) => {
      const base = baseAttrs("conv", attrs, x!.type.shape.length - 2);
      return [
        b.op("conv_grad_input", [g, w!], { ...base, input: x!.type.shape.slice(2) }),
        b.op("conv_grad_weight", [x!, g], { ...base, kernel: w!.type.shape.slice(2) }),
      ];
    },
  },
  /** conv_grad_input(g [N, F, *out], w) with `input` (x's spatial size) -> [N, C, *input]: the transposed conv. */
  conv_grad_input: {
    kind: "window",
    arity: 2,
    infer: convGradInputInfer,
    cpu: convGradInputCpu,
    wgsl: convGradInputWgsl,
    gemm: convGradInputGemm,
    // Linear in each operand: d/dg is the conv of the incoming gradient, d/dw its weight gradient against g.
    grad: (b, gg, [g, w], _o, attrs) => {
      const base = baseAttrs("conv_grad_input", attrs, g!.type.shape.length - 2);
      return [b.op("conv", [gg, w!], base), b.op("conv_grad_weight", [gg, g!], { ...base, kernel: w!.type.shape.slice(2) })];
    },
  },
  /** conv_grad_weight(x, g [N, F, *out]) with `kernel` (w's spatial size) -> [F, C/groups, *kernel]. */
  conv_grad_weight: {
    kind: "window",
    arity: 2,
    infer: convGradWeightInfer,
    cpu: convGradWeightCpu,
    wgsl: convGradWeightWgsl,
    gemm: convGradWeightGemm,
    grad: (b, gg, [x, g], _o, attrs) => {
      const base = baseAttrs("conv_grad_weight", attrs, x!.type.shape.length - 2);
      return [b.op("conv_grad_input", [g!, gg], { ...base, input: x!.type.shape.slice(2) }), b.op("conv", [x!, gg], base)];
    },
  },
  /**
   * pool(x [N, C, *in]) -> [N, C, *out] with `mode` max or avg, `kernel`, strides, pads,
   * dilations, `ceil` (ceil_mode) and `count_pad` (avg: divide by the taps inside the padded
   * input, not only the real ones). Padding never wins a max.
   */
  pool: {
    kind: "window",
    arity: 1,
    infer: poolInfer,
    cpu: poolCpu,
    wgsl: poolWgsl,
    grad: (b, g, [x], _o, attrs) => [b.op("pool_grad", [x!, g], attrs)],
  },
  /** pool_grad(x, g) -> x's shape: g routed back to each window's first maximum (max) or spread over it (avg). */
  pool_grad: {
    kind: "window",
    arity: 2,
    infer: poolGradInfer,
    cpu: poolGradCpu,
    wgsl: poolGradWgsl,
  },
} satisfies OpFamily;
