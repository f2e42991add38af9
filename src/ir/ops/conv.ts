import type { Attrs } from "../graph.js";
import { formatShape, numel, stridesOf, type Dim, type TensorType } from "../types.js";
import type { CpuTensor, GemmAffine, GemmView, InferCtx, OpFamily, WindowWgsl } from "./types.js";
import {
  affine,
  convAttrs,
  divides,
  knownDims,
  outSizes,
  plus,
  sameRank,
  spatialRank,
  tapTable,
  times,
  typedWindowAttrs,
  WgslWriter,
  windowAttrs,
  windowStarts,
  type WindowAttrs,
} from "./window.js";

/**
 * Convolution over [N, C, *spatial] with 1, 2 or 3 spatial axes, as a window op: one thread per
 * output element loops over the taps of its window (see window.ts for the attributes: strides,
 * pads, dilations, groups). Its gradients are in conv-grad.ts and share the geometry here.
 *
 * Every WGSL generator of the family computes one output element with the window's taps clipped
 * to the input once per axis (WgslWriter.range), so the loops carry no bounds checks; strides are
 * constants of the concrete shapes, and each loop level adds its axis's offset to the one outside it.
 */

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

/**
 * A typed conv-family node's sizes on concrete shapes: x [n, c, *input], w [f, cg, *kernel] (cg =
 * c / groups) and y [n, f, *out] (conv's result, or the gradient its gradients take).
 */
export interface ConvDims {
  a: WindowAttrs;
  n: number;
  c: number;
  f: number;
  cg: number;
  /** Filters per group. */
  fg: number;
  input: number[];
  kernel: number[];
  out: number[];
  inSize: number;
  kSize: number;
  oSize: number;
}

/** The sizes of a typed conv-family node `op` from its x, w and y shapes. */
export function convDims(op: string, x: readonly number[], w: readonly number[], y: readonly number[], attrs: Attrs): ConvDims {
  const a = typedWindowAttrs(op, attrs, x.length - 2);
  const [input, kernel, out] = [x.slice(2), w.slice(2), y.slice(2)];
  const [f, cg] = [w[0]!, w[1]!];
  return { a, n: x[0]!, c: x[1]!, f, cg, fg: f / a.groups, input, kernel, out, inSize: numel(input), kSize: numel(kernel), oSize: numel(out) };
}

/**
 * The CPU reference's outer loops, shared by conv and its gradients: `body` runs for each (batch,
 * filter) pair with the flat offsets of the filter's input channel group in x, of the filter in
 * w, and of its plane in y.
 */
export function forEachFilter(d: ConvDims, body: (xb: number, wb: number, yb: number) => void): void {
  for (let b = 0; b < d.n; b++)
    for (let ff = 0; ff < d.f; ff++) body((b * d.c + Math.floor(ff / d.fg) * d.cg) * d.inSize, ff * d.cg * d.kSize, (b * d.f + ff) * d.oSize);
}

/** The attributes a conv-family node passes on to the ops of its gradient. */
export function gradAttrs(op: string, attrs: Attrs, s: number): Attrs {
  return convAttrs(typedWindowAttrs(op, attrs, s));
}

/*
 * conv and its gradients as implicit matrix products (GemmView in types.ts), for groups = 1:
 *   conv:             rows (n, out),  cols f,        k (c, taps):   A = x (padded), B = w
 *   conv_grad_weight: rows f,         cols (c, taps), k (n, out):   A = g,          B = x (padded)
 *   conv_grad_input:  rows (n, in),   cols c,        k (f, taps):   A = g (outside = 0), B = w
 * conv_grad_input needs stride 1 (otherwise only every stride-th tap reads a real output).
 * An axis gets a bound only when some row and k can reach outside the input.
 */

/** An affine position and the size it must stay below (and at or above 0) to read a real value. */
export type GemmBound = GemmAffine & { size: number };

/**
 * The bound 0 <= pos < size on spatial axis d of `s`, where pos = constant + outer·(row or column
 * coordinate d + 1) + inner·(k coordinate d + 1): every view here leads with one non-spatial
 * coordinate (batch or channel) on each side.
 */
export function axisBound(s: number, d: number, outer: number, inner: number, constant: number, size: number): GemmBound {
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
export function convInputReads(a: WindowAttrs, xs: number[], outSp: number[], kernel: number[]): { byOut: number[]; byTap: number[]; constant: number; bounds: { byOut: GemmBound[]; byTap: GemmBound[] } } {
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

/** The conv entry of OPS. */
export const CONV_OPS = {
  /**
   * conv(x [N, C, *in], w [F, C/groups, *k]) -> [N, F, *out], out = floor((in + before + after -
   * dilation·(k - 1) - 1) / stride) + 1; cross-correlation, as in every framework.
   */
  conv: {
    kind: "window",
    arity: 2,
    infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
      const [x, w] = ins as [TensorType, TensorType];
      const geo = convGeometry("conv", x.shape, w.shape, attrs, ctx);
      return geo && { dtype: x.dtype, shape: [x.shape[0]!, geo.filters, ...geo.out] };
    },
    cpu([x, w]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
      const d = convDims("conv", x!.shape, w!.shape, out.shape, attrs);
      const tt = tapTable(d.input, d.out, d.kernel, d.a);
      const { cg, inSize, kSize, oSize } = d;
      const [xd, wd] = [x!.data, w!.data];
      forEachFilter(d, (xb, wb, ob) => {
        for (let o = 0; o < oSize; o++) {
          let acc = 0;
          for (let e = tt.start[o]!; e < tt.start[o + 1]!; e++) {
            const t = tt.tap[e]!;
            const off = tt.offset[e]!;
            for (let k = 0; k < cg; k++) acc += xd[xb + k * inSize + off]! * wd[wb + k * kSize + t]!;
          }
          out.data[ob + o] = acc;
        }
      });
    },
    wgsl(w: WindowWgsl): string {
      const [xs, ws] = w.ins as [number[], number[]];
      const { a, c, f, cg, fg, input, kernel, out: outSp, inSize, kSize, oSize } = convDims("conv", xs, ws, w.out, w.attrs);
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
    },
    /** rows (n, out), cols f, k (c, taps): A = x (padded), B = w. */
    gemm([xs, ws]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
      const { a, n, c, f, kernel, out: outSp, kSize, oSize } = convDims("conv", xs!, ws!, out, attrs);
      if (a.groups !== 1) return undefined;
      const x = convInputReads(a, xs!, outSp, kernel);
      return {
        rows: [n, ...outSp],
        cols: [f],
        ks: [c, ...kernel],
        a: { input: 0, offset: { outer: x.byOut, inner: x.byTap, constant: x.constant }, bounds: x.bounds.byOut },
        b: { input: 1, offset: { outer: [c * kSize], inner: [kSize, ...stridesOf(kernel)], constant: 0 }, bounds: [] },
        out: { rows: [f * oSize, ...stridesOf(outSp)], cols: [oSize] },
      };
    },
    grad: (b, g, [x, w], _o, attrs) => {
      const base = gradAttrs("conv", attrs, x!.type.shape.length - 2);
      return [
        b.op("conv_grad_input", [g, w!], { ...base, input: x!.type.shape.slice(2) }),
        b.op("conv_grad_weight", [x!, g], { ...base, kernel: w!.type.shape.slice(2) }),
      ];
    },
  },
} satisfies OpFamily;
