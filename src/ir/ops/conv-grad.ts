import type { Attrs } from "../graph.js";
import { stridesOf, type TensorType } from "../types.js";
import { axisBound, convDims, convInputReads, forEachFilter, gradAttrs, type ConvDims } from "./conv.js";
import type { CpuTensor, GemmView, InferCtx, OpFamily, WindowWgsl } from "./types.js";
import {
  affine,
  divides,
  intList,
  knownDims,
  outSizes,
  plus,
  readersOf,
  sameOut,
  sameRank,
  spatialRank,
  tapOf,
  tapTable,
  times,
  WgslWriter,
  windowAttrs,
} from "./window.js";

/**
 * conv's gradients, as window ops: conv_grad_input (the transposed convolution) and
 * conv_grad_weight. On the GPU both are gathers, never scatters (no atomics): conv_grad_input
 * loops, for each input element, over the output positions whose windows read it. Ungrouped
 * ones also have implicit GEMM views (see conv.ts).
 */

/**
 * Both gradients' CPU reference: a scatter over conv's taps (independent of the GPU's gathers).
 * For every tap, acc[to] += g · from[..], where (to, from) is (x, w) for the input gradient and
 * (w, x) for the weight gradient.
 */
function scatterTaps(d: ConvDims, g: CpuTensor, from: CpuTensor, out: CpuTensor, into: "x" | "w"): void {
  const tt = tapTable(d.input, d.out, d.kernel, d.a);
  const acc = new Float64Array(out.data.length);
  const [src, gd, cg, oSize] = [from.data, g.data, d.cg, d.oSize];
  forEachFilter(d, (xb, wb, gb) => {
    // Each side's base, step from one channel to the next, and per-tap offsets (x: in the input plane; w: the kernel tap).
    const x = { base: xb, step: d.inSize, at: tt.offset };
    const w = { base: wb, step: d.kSize, at: tt.tap };
    const [to, fr] = into === "x" ? [x, w] : [w, x];
    const [toAt, frAt, toStep, frStep] = [to.at, fr.at, to.step, fr.step];
    for (let o = 0; o < oSize; o++) {
      const gv = gd[gb + o]!;
      for (let e = tt.start[o]!; e < tt.start[o + 1]!; e++) {
        const t0 = to.base + toAt[e]!;
        const f0 = fr.base + frAt[e]!;
        for (let k = 0; k < cg; k++) acc[t0 + k * toStep] += gv * src[f0 + k * frStep]!;
      }
    }
  });
  out.data.set(acc);
}

/** The conv gradient entries of OPS. */
export const CONV_GRAD_OPS = {
  /** conv_grad_input(g [N, F, *out], w) with `input` (x's spatial size) -> [N, C, *input]: the transposed conv. */
  conv_grad_input: {
    kind: "window",
    internal: "conv's gradient, built by autodiff",
    arity: 2,
    /** conv_grad_input(g [N, F, *out], w [F, C / groups, *kernel]) with `input` -> [N, C, *input]. */
    infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
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
    },
    cpu([g, w]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
      scatterTaps(convDims("conv_grad_input", out.shape, w!.shape, g!.shape, attrs), g!, w!, out, "x");
    },
    wgsl(w: WindowWgsl): string {
      const [gs, ws] = w.ins as [number[], number[]];
      const { a, c, f, cg, fg, input, kernel, out: outSp, inSize, kSize, oSize } = convDims("conv_grad_input", w.out, ws, gs, w.attrs);
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
      // NOTE: unlike conv's WGSL, the filters stay the innermost loop: the readers' ranges differ per
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
    },
    /** rows (n, in), cols c, k (f, taps): A = g (outside = 0), B = w; stride 1 only (otherwise only every stride-th tap reads a real output). */
    gemm([gs, ws]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
      const { a, n, c, f, input, kernel, out: outSp, inSize, kSize, oSize } = convDims("conv_grad_input", out, ws!, gs!, attrs);
      if (a.groups !== 1 || a.strides.some((st) => st !== 1)) return undefined;
      const [ist, kst, ost] = [stridesOf(input), stridesOf(kernel), stridesOf(outSp)];
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
    },
    // Linear in each operand: d/dg is the conv of the incoming gradient, d/dw its weight gradient against g.
    grad: (b, gg, [g, w], _o, attrs) => {
      const base = gradAttrs("conv_grad_input", attrs, g!.type.shape.length - 2);
      return [b.op("conv", [gg, w!], base), b.op("conv_grad_weight", [gg, g!], { ...base, kernel: w!.type.shape.slice(2) })];
    },
  },
  /** conv_grad_weight(x, g [N, F, *out]) with `kernel` (w's spatial size) -> [F, C/groups, *kernel]. */
  conv_grad_weight: {
    kind: "window",
    internal: "conv's gradient, built by autodiff",
    arity: 2,
    /** conv_grad_weight(x [N, C, *input], g [N, F, *out]) with `kernel` -> [F, C / groups, *kernel]. */
    infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
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
    },
    cpu([x, g]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
      scatterTaps(convDims("conv_grad_weight", x!.shape, out.shape, g!.shape, attrs), g!, x!, out, "w");
    },
    wgsl(w: WindowWgsl): string {
      const [xs, gs] = w.ins as [number[], number[]];
      const { a, n, c, f, cg, fg, input, kernel, out: outSp, inSize, kSize, oSize } = convDims("conv_grad_weight", xs, w.out, gs, w.attrs);
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
    },
    /** rows f, cols (c, taps), k (n, out): A = g, B = x (padded). */
    gemm([xs, gs]: number[][], out: number[], attrs: Attrs): GemmView | undefined {
      const { a, n, c, f, kernel, out: outSp, kSize, oSize } = convDims("conv_grad_weight", xs!, out, gs!, attrs);
      if (a.groups !== 1) return undefined;
      const x = convInputReads(a, xs!, outSp, kernel);
      return {
        rows: [f],
        cols: [c, ...kernel],
        ks: [n, ...outSp],
        a: { input: 1, offset: { outer: [oSize], inner: [f * oSize, ...stridesOf(outSp)], constant: 0 }, bounds: [] },
        b: { input: 0, offset: { outer: x.byTap, inner: x.byOut, constant: x.constant }, bounds: x.bounds.byTap },
        out: { rows: [c * kSize], cols: [kSize, ...stridesOf(kernel)] },
      };
    },
    grad: (b, gg, [x, g], _o, attrs) => {
      const base = gradAttrs("conv_grad_weight", attrs, x!.type.shape.length - 2);
      return [b.op("conv_grad_input", [g!, gg], { ...base, input: x!.type.shape.slice(2) }), b.op("conv", [x!, gg], base)];
    },
  },
} satisfies OpFamily;
