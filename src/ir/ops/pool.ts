import type { Attrs } from "../graph.js";
import { numel, stridesOf, type Dim, type TensorType } from "../types.js";
import { strictCtx } from "./shape.js";
import type { CpuTensor, InferCtx, OpFamily, WindowBlocks, WindowWgsl } from "./types.js";
import {
  affine,
  intList,
  knownDims,
  outSizes,
  plus,
  readersOf,
  sameOut,
  spatialRank,
  tapOf,
  tapTable,
  times,
  WgslWriter,
  windowAttrs,
  windowStarts,
  type WindowAttrs,
} from "./window.js";

/**
 * Pooling over [N, C, *spatial] with 1, 2 or 3 spatial axes, and its gradient, as window ops:
 * one thread per output element loops over the taps of its window (see window.ts for the
 * attributes). The gradient is a gather, never a scatter (no atomics): pool_grad loops, for each
 * input element, over the windows that read it.
 */

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

/** The pooling geometry of a typed node (errors are compiler bugs by now). */
function typedPool(op: string, x: readonly number[], attrs: Attrs): PoolGeometry {
  return poolGeometry(op, x, attrs, strictCtx(op))!;
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

/**
 * Whether every input element lies in at most one window, each window wholly inside the input:
 * stride = kernel, no dilation, no padding before, and no window reaching past the input (the
 * usual 2x2 max pool, also on odd sizes, whose last row and column no window reads).
 */
function disjointWindows(geo: PoolGeometry): boolean {
  return geo.kernel.every((k, d) => geo.a.strides[d] === k && geo.a.dilations[d] === 1 && geo.a.before[d] === 0 && geo.out[d]! * k <= geo.input[d]!);
}

/**
 * pool_grad for disjoint windows (see disjointWindows) as blocks: a thread per window reads its
 * g once, finds a max window's first maximum by a scan over its taps in loops of constant counts
 * (written out by the shader compiler: 4 loads for a 2x2 window), and writes every element of
 * the window. The general path instead runs a thread per input element, each finding its
 * readers and rescanning their windows (k^2 + 1 loads per element against (k^2 + 1) / k^2);
 * a thread per window measured 2.5-3x faster than a thread per element on llvmpipe.
 * The last window on an axis the kernel does not divide also writes the 0s of the elements past
 * it (no window reads them), so its block is k + rem long there and the others' blocks skip that
 * room.
 */
function disjointPoolGradBlocks(w: WindowWgsl, geo: PoolGeometry): WindowBlocks {
  const [inSize, oSize] = [numel(geo.input), numel(geo.out)];
  const ist = stridesOf(geo.input);
  const wr = new WgslWriter(w);
  const os = wr.unravel("o", wr.let("o", `${w.idx} % ${oSize}u`), geo.out);
  const start = wr.let("wstart", plus(times(`(${w.idx} / ${oSize}u)`, inSize), ...os.map((o, d) => times(o, geo.kernel[d]! * ist[d]!))));
  // NOTE: g [N, C, *out] is indexed by the window, as the thread is.
  const g = wr.let("g", w.read(1, w.idx));
  let arg = "";
  if (geo.mode === "max") {
    const best = wr.var("best", w.read(0, start));
    arg = wr.var("arg", start);
    let xo = start;
    geo.kernel.forEach((k, d) => {
      const t = w.name(`t${d}`);
      wr.open(`for (var ${t} = 0u; ${t} < ${k}u; ${t}++)`);
      xo = wr.let(`xo${d}`, plus(xo, times(t, ist[d]!)));
    });
    const v = wr.let("v", w.read(0, xo));
    // Strictly greater: the first maximum in scan order takes the gradient, as in the general path.
    wr.line(`if (${v} > ${best}) { ${best} = ${v}; ${arg} = ${xo}; }`);
    wr.close(geo.kernel.length);
  }
  const rem = geo.kernel.map((k, d) => geo.input[d]! - geo.out[d]! * k);
  const extent = geo.kernel.map((k, d) => k + rem[d]!);
  return {
    threads: w.out[0]! * w.out[1]! * oSize,
    per: { outputs: inSize, threads: oSize },
    count: numel(extent),
    element(t) {
      const cs = wr.unravel("e", t, extent);
      const index = wr.let("xi", plus(start, ...cs.map((c, d) => times(c, ist[d]!))));
      // Room past the window exists only on the last window of an axis with a remainder.
      const valid = rem.flatMap((r, d) => (r > 0 ? [`(${cs[d]} < ${geo.kernel[d]}u || ${os[d]} == ${geo.out[d]! - 1}u)`] : []));
      const inWindow = rem.flatMap((r, d) => (r > 0 ? [`${cs[d]} < ${geo.kernel[d]}u`] : []));
      const value =
        geo.mode === "max"
          ? `select(0.0, ${g}, ${index} == ${arg})`
          : inWindow.length
            ? `select(0.0, ${g} / ${numel(geo.kernel)}.0, ${inWindow.join(" && ")})`
            : `${g} / ${numel(geo.kernel)}.0`;
      return { index, valid: valid.length ? valid.join(" && ") : "true", value };
    },
  };
}

/** The pooling entries of OPS. */
export const POOL_OPS = {
  /**
   * pool(x [N, C, *in]) -> [N, C, *out] with `mode` max or avg, `kernel`, strides, pads,
   * dilations, `ceil` (ceil_mode) and `count_pad` (avg: divide by the taps inside the padded
   * input, not only the real ones). Padding never wins a max.
   */
  pool: {
    kind: "window",
    arity: 1,
    infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
      const x = ins[0]!;
      const geo = poolGeometry("pool", x.shape, attrs, ctx);
      return geo && { dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...geo.out] };
    },
    /** Max: the first maximum over the real taps in scan order; avg: their sum over the count. */
    cpu([x]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
      const geo = typedPool("pool", x!.shape, attrs);
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
    },
    wgsl(w: WindowWgsl): string {
      const geo = typedPool("pool", w.ins[0]!, w.attrs);
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
    },
    grad: (b, g, [x], _o, attrs) => [b.op("pool_grad", [x!, g], attrs)],
  },
  /** pool_grad(x, g) -> x's shape: g routed back to each window's first maximum (max) or spread over it (avg). */
  pool_grad: {
    kind: "window",
    internal: "pool's gradient, built by autodiff",
    arity: 2,
    infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
      const [x, g] = ins as [TensorType, TensorType];
      const geo = poolGeometry("pool_grad", x.shape, attrs, ctx);
      if (!geo || !sameOut("pool_grad", g.shape, [x.shape[0]!, x.shape[1]!, ...geo.out], ctx)) return undefined;
      return { dtype: x.dtype, shape: [...x.shape] };
    },
    /** Scatters g: max to each window's first maximum, avg evenly over each window's count. */
    cpu([x, g]: CpuTensor[], out: CpuTensor, attrs: Attrs): void {
      const geo = typedPool("pool_grad", x!.shape, attrs);
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
      out.data.set(acc);
    },
    wgsl(w: WindowWgsl): string {
      const geo = typedPool("pool_grad", w.ins[0]!, w.attrs);
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
    },
    blocks(w: WindowWgsl): WindowBlocks | undefined {
      const geo = typedPool("pool_grad", w.ins[0]!, w.attrs);
      return disjointWindows(geo) ? disjointPoolGradBlocks(w, geo) : undefined;
    },
  },
} satisfies OpFamily;
