import type { Attrs } from "../graph.js";
import { formatShape, numel, stridesOf, type Dim } from "../types.js";
import { isInt, show, strictCtx } from "./shape.js";
import type { InferCtx, WindowWgsl } from "./types.js";

/**
 * Shared pieces of the window ops (conv, pool, gather, ...): their attributes, the geometry of a
 * sliding window, a table of the taps each output position reads (for the CPU reference), and a
 * small writer for the WGSL they generate.
 */

/** Per spatial axis: stride, padding before and after, dilation; and the groups of a conv. */
export interface WindowAttrs {
  strides: number[];
  before: number[];
  after: number[];
  dilations: number[];
  groups: number;
}

/**
 * An integer list attribute of `count` entries, each at least `min`; `dflt` fills it when absent
 * (undefined `dflt`: the attribute is required).
 */
export function intList(op: string, attrs: Attrs, key: string, count: number, min: number, ctx: InferCtx, dflt?: number): number[] | undefined {
  const raw = attrs[key];
  if (raw === undefined && dflt !== undefined) return new Array<number>(count).fill(dflt);
  const ok = Array.isArray(raw) && raw.length === count && raw.every((x) => isInt(x) && x >= min);
  if (!ok) {
    const got = raw === undefined ? `no ${key}` : `${key} = ${show(raw)}`;
    ctx.error("NC3003", { op, expected: `${key} as ${count} integer(s) >= ${min}`, got });
    return undefined;
  }
  return raw as number[];
}

/** strides, pads ([before0, after0, before1, after1, ...]), dilations and groups, with their defaults. */
export function windowAttrs(op: string, attrs: Attrs, s: number, ctx: InferCtx): WindowAttrs | undefined {
  const strides = intList(op, attrs, "strides", s, 1, ctx, 1);
  const pads = strides && intList(op, attrs, "pads", 2 * s, 0, ctx, 0);
  const dilations = pads && intList(op, attrs, "dilations", s, 1, ctx, 1);
  if (!strides || !pads || !dilations) return undefined;
  const groups = attrs["groups"] ?? 1;
  if (!isInt(groups) || groups < 1) {
    ctx.error("NC3003", { op, expected: "groups as a positive integer", got: `groups = ${show(groups)}` });
    return undefined;
  }
  return {
    strides,
    before: strides.map((_, d) => pads[2 * d]!),
    after: strides.map((_, d) => pads[2 * d + 1]!),
    dilations,
    groups,
  };
}

/** The attributes a conv-family op passes on to the ops of its gradient. */
export function convAttrs(a: WindowAttrs): Attrs {
  return {
    strides: [...a.strides],
    pads: a.before.flatMap((b, d) => [b, a.after[d]!]),
    dilations: [...a.dilations],
    groups: a.groups,
  };
}

/** The window attributes of a typed node (errors are compiler bugs by now). */
export function typedWindowAttrs(op: string, attrs: Attrs, s: number): WindowAttrs {
  return windowAttrs(op, attrs, s, strictCtx(op))!;
}

/** The spatial rank of an [N, C, *spatial] tensor (1, 2 or 3), or an NC3004 error. */
export function spatialRank(op: string, shape: readonly Dim[], ctx: InferCtx): number | undefined {
  const r = shape.length;
  if (r < 3 || r > 5) {
    ctx.error("NC3004", { op, expected: "3, 4 or 5 ([batch, channels, *spatial])", got: r });
    return undefined;
  }
  return r - 2;
}

/** A second operand of the same rank as the first (the weight of a conv, a gradient), or an NC3004 error. */
export function sameRank(op: string, shape: readonly Dim[], rank: number, what: string, ctx: InferCtx): boolean {
  if (shape.length === rank) return true;
  ctx.error("NC3004", { op, expected: `${rank} (${what})`, got: shape.length });
  return false;
}

/** `count` (filters or channels) must split into `groups` equal parts. */
export function divides(op: string, count: number, what: string, groups: number, ctx: InferCtx): boolean {
  if (count % groups === 0) return true;
  ctx.error("NC3017", { op, count, what, groups });
  return false;
}

/** A gradient operand must have the spatial size the forward op gives; NC3003 otherwise. */
export function sameOut(op: string, g: readonly Dim[], want: Dim[], ctx: InferCtx): boolean {
  if (g.length === want.length && g.every((d, i) => ctx.unify(d, want[i]!) !== undefined)) return true;
  ctx.error("NC3003", { op, expected: `a gradient of shape ${formatShape(want)}`, got: formatShape(g) });
  return false;
}

/** The extent of a dilated window: dilation·(k - 1) + 1. */
export function span(k: number, dilation: number): number {
  return dilation * (k - 1) + 1;
}

/**
 * Output size of a window sliding over `size` padded by (before, after): floor or, with `ceil`,
 * ceil((size + before + after - span) / stride) + 1, where ceil mode drops a last window that would
 * start past the input and its left padding (ONNX, PyTorch). Below 1 when the window does not fit.
 */
export function outSize(size: number, k: number, a: WindowAttrs, d: number, ceil = false): number {
  const room = size + a.before[d]! + a.after[d]! - span(k, a.dilations[d]!);
  if (room < 0) return 0;
  const s = a.strides[d]!;
  let out = (ceil ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
  if (ceil && (out - 1) * s >= size + a.before[d]!) out--;
  return out;
}

/** Dims that must be numbers (spatial sizes, channels), or an NC3013 error naming the first that is not. */
export function knownDims(op: string, shape: readonly Dim[], from: number, ctx: InferCtx): number[] | undefined {
  for (let d = from; d < shape.length; d++) {
    if (typeof shape[d] !== "number") {
      ctx.error("NC3013", { op, axis: d, dim: shape[d]! });
      return undefined;
    }
  }
  return shape.slice(from) as number[];
}

/** The spatial output sizes for `input` and `kernel`, or an NC3018 error when a window does not fit. */
export function outSizes(op: string, input: number[], kernel: number[], a: WindowAttrs, ctx: InferCtx, ceil = false): number[] | undefined {
  const out: number[] = [];
  for (let d = 0; d < input.length; d++) {
    const o = outSize(input[d]!, kernel[d]!, a, d, ceil);
    if (o < 1) {
      ctx.error("NC3018", { op, axis: d + 2, window: span(kernel[d]!, a.dilations[d]!), padded: input[d]! + a.before[d]! + a.after[d]! });
      return undefined;
    }
    out.push(o);
  }
  return out;
}

// ---------------------------------------------------------------- CPU: tap tables

/**
 * The taps every output position of a window reads, for the CPU reference. For output position
 * `o` (flat over the spatial output), entries `start[o] .. start[o + 1]` list the taps inside the
 * input in scan order (row-major over the kernel): the flat kernel tap and the flat spatial input
 * offset. `padded[o]` counts the taps inside the padded input (avg pooling's count_pad divisor).
 */
export interface TapTable {
  start: Int32Array;
  tap: Int32Array;
  offset: Int32Array;
  padded: Int32Array;
}

/** Builds the tap table of a window over `input` with output `out` and kernel `kernel`. */
export function tapTable(input: number[], out: number[], kernel: number[], a: WindowAttrs): TapTable {
  const s = input.length;
  const outCount = numel(out);
  const kCount = numel(kernel);
  const inSt = stridesOf(input);
  const start = new Int32Array(outCount + 1);
  const taps: number[] = [];
  const offsets: number[] = [];
  const padded = new Int32Array(outCount);
  const oc = new Array<number>(s);
  const tc = new Array<number>(s);
  for (let o = 0; o < outCount; o++) {
    start[o] = taps.length;
    let rem = o;
    for (let d = s - 1; d >= 0; d--) {
      oc[d] = rem % out[d]!;
      rem = Math.floor(rem / out[d]!);
    }
    for (let t = 0; t < kCount; t++) {
      let r = t;
      for (let d = s - 1; d >= 0; d--) {
        tc[d] = r % kernel[d]!;
        r = Math.floor(r / kernel[d]!);
      }
      let inside = true;
      let inPadded = true;
      let off = 0;
      for (let d = 0; d < s; d++) {
        const p = oc[d]! * a.strides[d]! + tc[d]! * a.dilations[d]! - a.before[d]!;
        if (p < 0 || p >= input[d]!) inside = false;
        if (p < -a.before[d]! || p >= input[d]! + a.after[d]!) inPadded = false;
        off += p * inSt[d]!;
      }
      if (inPadded) padded[o]!++;
      if (inside) {
        taps.push(t);
        offsets.push(off);
      }
    }
  }
  start[outCount] = taps.length;
  return { start, tap: Int32Array.from(taps), offset: Int32Array.from(offsets), padded };
}

// ---------------------------------------------------------------- WGSL

/** An i32 literal. */
export const i32 = (n: number): string => (n < 0 ? `(${n}i)` : `${n}i`);

/** `e * n` for u32 `e`, simplified for n = 0 and 1. */
export function times(e: string, n: number): string {
  if (n === 0) return "0u";
  return n === 1 ? e : `${e} * ${n}u`;
}

/** `e * mul + add` for an i32 `e`, simplified for mul = 1 and add = 0. */
export function affine(e: string, mul: number, add: number): string {
  let s = mul === 1 ? e : `${e} * ${i32(mul)}`;
  if (add > 0) s += ` + ${i32(add)}`;
  else if (add < 0) s += ` - ${i32(-add)}`;
  return s;
}

/** `a + b` for u32 terms, dropping zeros. */
export function plus(...terms: string[]): string {
  const t = terms.filter((x) => x !== "0u");
  return t.length ? t.join(" + ") : "0u";
}

/** Writes a window op's WGSL through its WindowWgsl, with indentation for nested blocks. */
export class WgslWriter {
  private depth = 0;
  constructor(readonly w: WindowWgsl) {}

  /** One statement at the current depth. */
  line(s: string): void {
    this.w.emit("  ".repeat(this.depth) + s);
  }
  /** `let name = expr;` with a fresh name; returns the name. */
  let(base: string, expr: string): string {
    const name = this.w.name(base);
    this.line(`let ${name} = ${expr};`);
    return name;
  }
  /** `var name = init;` with a fresh name; returns the name. */
  var(base: string, init: string): string {
    const name = this.w.name(base);
    this.line(`var ${name} = ${init};`);
    return name;
  }
  /** Opens a block (`for (...) {`). */
  open(head: string): void {
    this.line(`${head} {`);
    this.depth++;
  }
  /** Closes `n` blocks. */
  close(n = 1): void {
    for (let k = 0; k < n; k++) {
      this.depth--;
      this.line("}");
    }
  }
  /** A `for` over an i32 range [lo, hi); returns the loop variable. */
  forRange(base: string, lo: string, hi: string): string {
    const v = this.w.name(base);
    this.open(`for (var ${v} = ${lo}; ${v} < ${hi}; ${v}++)`);
    return v;
  }

  /** The u32 coordinates of `flat` (< the product of `shape`) along each axis of `shape`. */
  unravel(base: string, flat: string, shape: number[]): string[] {
    const st = stridesOf(shape);
    return shape.map((n, d) => {
      if (n === 1) return "0u";
      const q = st[d] === 1 ? flat : `(${flat} / ${st[d]}u)`;
      return this.let(`${base}${d}`, d === 0 ? q : `${q} % ${n}u`);
    });
  }

  /**
   * The range [lo, hi) of j (i32) with 0 <= j < count and 0 <= start + step·j < limit, for an i32
   * expression `start`: lo = ceil(-start / step) when start < 0, hi from the last position below
   * `limit`. Every division has a non-negative numerator, so WGSL's truncation is a floor.
   * `known` bounds `start` over every thread ([lowest, highest]): when every window lies inside
   * [0, limit), the range is the constant [0, count) and the loop one a compiler can unroll.
   */
  range(base: string, start: string, step: number, count: number, limit: number, known?: [number, number]): { lo: string; hi: string } {
    if (known && known[0] >= 0 && known[1] + step * (count - 1) < limit) return { lo: "0i", hi: i32(count) };
    const negStart = step === 1 ? `-(${start})` : `(${i32(step - 1)} - ${start}) / ${i32(step)}`;
    const lo = this.let(`lo${base}`, `select(0i, ${negStart}, ${start} < 0i)`);
    const last = step === 1 ? `${i32(limit)} - ${start}` : `(${i32(limit - 1)} - ${start}) / ${i32(step)} + 1i`;
    const hi = this.let(`hi${base}`, `select(0i, min(${i32(count)}, ${last}), ${start} < ${i32(limit)})`);
    return { lo, hi };
  }
}

/** The lowest and highest first input position of a window on axis d (o·stride - pad over o < out). */
export function windowStarts(d: number, out: number, a: WindowAttrs): [number, number] {
  return [-a.before[d]!, (out - 1) * a.strides[d]! - a.before[d]!];
}

/**
 * For each input position q (padded coordinates, i32) on an axis, the output positions whose
 * windows can read it: o·stride <= q and q - o·stride <= dilation·(k - 1), with o < out.
 */
export function readersOf(wr: WgslWriter, d: number, q: string, a: WindowAttrs, k: number, out: number): { lo: string; hi: string } {
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
export function tapOf(wr: WgslWriter, d: number, q: string, o: string, a: WindowAttrs): string {
  const r = wr.let(`r${d}`, `${q} - ${affine(o, a.strides[d]!, 0)}`);
  const dil = a.dilations[d]!;
  if (dil === 1) return r;
  wr.line(`if (${r} % ${i32(dil)} != 0i) { continue; }`);
  return wr.let(`k${d}`, `${r} / ${i32(dil)}`);
}
