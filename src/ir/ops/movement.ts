import type { Attrs } from "../graph.js";
import { formatShape, type Dim, type TensorType } from "../types.js";
import { broadcastShapes, ints, strictCtx } from "./shape.js";
import type { InferCtx, OpFamily, ViewPart } from "./types.js";

/**
 * Movement ops: the same values at other positions. reshape and broadcast are free (an alias, a
 * stride of 0); the others describe how they read their inputs as a `view` (data, on concrete
 * shapes), which the CPU reference and codegen both interpret, so fusion can inline them.
 */

/** `[0, 0, before, after, 0, 0]`: pads for one axis of a rank-`rank` tensor. */
function padsOn(rank: number, axis: number, before: number, after: number): number[] {
  const pads = new Array<number>(2 * rank).fill(0);
  pads[2 * axis] = before;
  pads[2 * axis + 1] = after;
  return pads;
}

/**
 * reshape's target: `-1` is inferred from the element count (at most one), `0` copies the input's
 * dim at that position (ONNX). Symbols that appear on both sides cancel; the rest must be numbers
 * whose products agree, or a single leftover input symbol fills the `-1` ([B, 3, 4] -> [-1, 12]).
 */
function reshapeInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const from = ins[0]!.shape;
  const raw = (attrs["shape"] as Dim[] | undefined) ?? [];
  const target = raw.map((d, i) => (d === 0 ? from[i] : d));
  const fail = () => {
    ctx.error("NC3006", { a: formatShape(from), b: formatShape(target.map((d, i) => d ?? raw[i]!)) });
    return undefined;
  };
  if (target.some((d) => d === undefined || (typeof d === "number" && (!Number.isInteger(d) || d < -1))))
    return fail();
  const shape = target as Dim[];
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1) return fail();
  const inSyms = from.filter((d): d is string => typeof d === "string");
  const outSyms: string[] = [];
  for (const d of shape) {
    if (typeof d !== "string") continue;
    const k = inSyms.indexOf(d);
    if (k >= 0) inSyms.splice(k, 1);
    else outSyms.push(d);
  }
  const product = (ds: readonly Dim[]) => ds.reduce<number>((a, d) => (typeof d === "number" && d !== -1 ? a * d : a), 1);
  const inNum = product(from);
  const outNum = product(shape);
  if (outSyms.length) return fail();
  if (holes) {
    let fill: Dim;
    if (!inSyms.length && outNum > 0 && inNum % outNum === 0) fill = inNum / outNum;
    else if (inSyms.length === 1 && inNum === outNum) fill = inSyms[0]!;
    else return fail();
    return { dtype: ins[0]!.dtype, shape: shape.map((d) => (d === -1 ? fill : d)) };
  }
  if (inSyms.length || inNum !== outNum) return fail();
  return { dtype: ins[0]!.dtype, shape };
}

/** transpose's permutation, normalised; absent means reversing the axes. */
function permOf(attrs: Attrs, rank: number, ctx: InferCtx): number[] | undefined {
  const raw = attrs["perm"];
  if (raw === undefined) return [...Array(rank).keys()].reverse();
  const perm = ints(raw)?.map((a) => (a < 0 ? a + rank : a));
  const ok = perm && perm.length === rank && perm.every((a, i) => a >= 0 && a < rank && perm.indexOf(a) === i);
  if (!ok) {
    ctx.error("NC3012", { last: rank - 1, perm: Array.isArray(raw) ? `[${raw.join(", ")}]` : String(raw) });
    return undefined;
  }
  return perm;
}

/** One slice per axis, normalised: 0 <= start < end <= size, step >= 1. */
export interface SliceAxis {
  axis: number;
  start: number;
  end: number;
  step: number;
}

/**
 * slice's attributes, checked: `starts` and `ends` (negative counts from the end), `axes`
 * (default: the leading ones) and `steps` (default 1). Sliced axes need known sizes.
 */
export function sliceAxes(shape: readonly Dim[], attrs: Attrs, ctx: InferCtx): SliceAxis[] | undefined {
  const rank = shape.length;
  const starts = ints(attrs["starts"]) ?? [];
  const n = starts.length;
  const list = (key: string, dflt: number[]): number[] | undefined => {
    const v = attrs[key] === undefined ? dflt : ints(attrs[key]);
    if (v && v.length === n) return v;
    ctx.error("NC3003", { op: "slice", expected: `as many ${key} as starts (${n})`, got: formatShape((attrs[key] as Dim[]) ?? []) });
    return undefined;
  };
  const ends = list("ends", []);
  const axes = list("axes", [...Array(n).keys()]);
  const steps = list("steps", new Array<number>(n).fill(1));
  if (!ends || !axes || !steps) return undefined;
  const out: SliceAxis[] = [];
  for (let k = 0; k < n; k++) {
    const axis = axes[k]! < 0 ? axes[k]! + rank : axes[k]!;
    if (axis < 0 || axis >= rank) {
      ctx.error("NC3005", { axis: axes[k]!, rank });
      return undefined;
    }
    if (out.some((s) => s.axis === axis)) {
      ctx.error("NC3003", { op: "slice", expected: "each axis at most once", got: `axes = ${formatShape(axes)}` });
      return undefined;
    }
    const size = shape[axis]!;
    if (typeof size !== "number") {
      ctx.error("NC3013", { op: "slice", axis, dim: size });
      return undefined;
    }
    if (steps[k]! < 1) {
      ctx.error("NC3003", { op: "slice", expected: "steps of 1 or more", got: `steps = ${formatShape(steps)}` });
      return undefined;
    }
    const start = starts[k]! < 0 ? starts[k]! + size : starts[k]!;
    const end = ends[k]! < 0 ? ends[k]! + size : ends[k]!;
    if (!(start >= 0 && start < end && end <= size)) {
      ctx.error("NC3014", { start: starts[k]!, end: ends[k]!, axis, size });
      return undefined;
    }
    out.push({ axis, start, end, step: steps[k]! });
  }
  return out;
}

/**
 * pad's attributes as [before, after] per axis: `pads` lists pairs for the trailing axes
 * (`[b0, a0, b1, a1, ...]`, all of them or the last few). Padded axes need known sizes.
 */
export function padPairs(shape: readonly Dim[], attrs: Attrs, ctx: InferCtx): [number, number][] | undefined {
  const rank = shape.length;
  const pads = ints(attrs["pads"]);
  if (!pads || pads.length % 2 !== 0 || pads.length > 2 * rank || pads.some((p) => p < 0)) {
    const got = Array.isArray(attrs["pads"]) ? `pads = ${formatShape(attrs["pads"] as Dim[])}` : "no pads";
    ctx.error("NC3003", { op: "pad", expected: `non-negative (before, after) pairs for at most ${rank} axes`, got });
    return undefined;
  }
  const skip = rank - pads.length / 2;
  const pairs = shape.map((_, d): [number, number] => (d < skip ? [0, 0] : [pads[2 * (d - skip)]!, pads[2 * (d - skip) + 1]!]));
  for (let d = 0; d < rank; d++) {
    const size = shape[d]!;
    if (typeof size !== "number" && pairs[d]![0] + pairs[d]![1] > 0) {
      ctx.error("NC3013", { op: "pad", axis: d, dim: size });
      return undefined;
    }
  }
  return pairs;
}

/** concat's axis, normalised against the inputs' rank. */
function concatAxis(attrs: Attrs, rank: number): number {
  const a = (attrs["axis"] as number | undefined) ?? 0;
  return a < 0 ? a + rank : a;
}

function concatInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const first = ins[0]!;
  const rank = first.shape.length;
  const axis = concatAxis(attrs, rank);
  if (axis < 0 || axis >= rank) {
    ctx.error("NC3005", { axis: (attrs["axis"] as number | undefined) ?? 0, rank });
    return undefined;
  }
  const shape = [...first.shape];
  let total = 0;
  for (const t of ins) {
    const fail = (reason: string) => {
      ctx.error("NC3015", { a: formatShape(first.shape), b: formatShape(t.shape), axis, reason });
      return undefined;
    };
    if (t.shape.length !== rank) return fail(`ranks differ (${rank} vs ${t.shape.length})`);
    for (let d = 0; d < rank; d++) {
      if (d === axis) continue;
      const u = ctx.unify(shape[d]!, t.shape[d]!);
      if (u === undefined) return fail(`dim ${d} differs (${shape[d]} vs ${t.shape[d]})`);
      shape[d] = u;
    }
    const n = t.shape[axis]!;
    if (typeof n !== "number") {
      ctx.error("NC3013", { op: "concat", axis, dim: n });
      return undefined;
    }
    total += n;
  }
  shape[axis] = total;
  return { dtype: first.dtype, shape };
}

/** The movement entries of OPS. */
export const MOVEMENT_OPS = {
  /** Same data in a new shape (`-1` inferred, `0` copies the input dim); free: it aliases its input. */
  reshape: {
    kind: "movement",
    arity: 1,
    infer: reshapeInfer,
    grad: (b, g, [x]) => [b.op("reshape", [g], { shape: x!.type.shape })],
  },
  broadcast: {
    kind: "movement",
    arity: 1,
    infer: (ins, attrs, ctx) => {
      const target = attrs["shape"] as Dim[];
      const shape = broadcastShapes("broadcast", [ins[0]!.shape, target], ctx);
      return shape && { dtype: ins[0]!.dtype, shape };
    },
    // The driver's un-broadcast sums g back to the input's shape.
    grad: (_b, g) => [g],
  },
  /** Permutes axes: `out.shape[i] = in.shape[perm[i]]`; no perm reverses them. */
  transpose: {
    kind: "movement",
    arity: 1,
    infer: (ins, attrs, ctx) => {
      const t = ins[0]!;
      const perm = permOf(attrs, t.shape.length, ctx);
      return perm && { dtype: t.dtype, shape: perm.map((p) => t.shape[p]!) };
    },
    view: ([x], _out, attrs) => {
      const perm = permOf(attrs, x!.length, strictCtx("transpose"))!;
      return { parts: [{ input: 0, axes: x!.map((_, d) => ({ from: perm.indexOf(d), offset: 0, step: 1 })) }] };
    },
    grad: (b, g, [x], _o, attrs) => {
      const perm = permOf(attrs, x!.type.shape.length, strictCtx("transpose"))!;
      const inverse = perm.map((_, d) => perm.indexOf(d));
      return [b.op("transpose", [g], { perm: inverse })];
    },
  },
  /** A static strided window: `starts`/`ends` (negative from the end) on `axes`, with `steps`. */
  slice: {
    kind: "movement",
    arity: 1,
    infer: (ins, attrs, ctx) => {
      const t = ins[0]!;
      const axes = sliceAxes(t.shape, attrs, ctx);
      if (!axes) return undefined;
      const shape = [...t.shape];
      for (const s of axes) shape[s.axis] = Math.ceil((s.end - s.start) / s.step);
      return { dtype: t.dtype, shape };
    },
    view: ([x], _out, attrs) => {
      const axes = sliceAxes(x!, attrs, strictCtx("slice"))!;
      return {
        parts: [
          {
            input: 0,
            axes: x!.map((_, d) => {
              const s = axes.find((a) => a.axis === d);
              return { from: d, offset: s?.start ?? 0, step: s?.step ?? 1 };
            }),
          },
        ],
      };
    },
    // g lands back at start, start + step, ...: zeros interleaved for steps > 1, then zero padding.
    grad: (b, g, [x], _o, attrs) => {
      const shape = x!.type.shape;
      const rank = shape.length;
      let acc = g;
      const pads = new Array<number>(2 * rank).fill(0);
      for (const s of sliceAxes(shape, attrs, strictCtx("slice"))!) {
        const size = shape[s.axis] as number;
        let len = acc.type.shape[s.axis] as number;
        if (s.step > 1) {
          // [.., n, ..] -> [.., n, 1, ..] -> pad to [.., n, step, ..] -> [.., n * step, ..]
          const split = [...acc.type.shape.slice(0, s.axis + 1), 1, ...acc.type.shape.slice(s.axis + 1)];
          let t = b.op("reshape", [acc], { shape: split });
          t = b.op("pad", [t], { pads: padsOn(rank + 1, s.axis + 1, 0, s.step - 1), value: 0 });
          t = b.op("reshape", [t], { shape: acc.type.shape.map((d, i) => (i === s.axis ? len * s.step : d)) });
          len *= s.step;
          const keep = Math.min(len, size - s.start);
          if (keep < len) t = b.op("slice", [t], { starts: [0], ends: [keep], axes: [s.axis] });
          acc = t;
          len = keep;
        }
        pads[2 * s.axis] = s.start;
        pads[2 * s.axis + 1] = size - s.start - len;
      }
      return [pads.some((p) => p > 0) ? b.op("pad", [acc], { pads, value: 0 }) : acc];
    },
  },
  /** Constant padding: `pads` = (before, after) pairs for the trailing axes, filled with `value`. */
  pad: {
    kind: "movement",
    arity: 1,
    infer: (ins, attrs, ctx) => {
      const t = ins[0]!;
      const pairs = padPairs(t.shape, attrs, ctx);
      return pairs && { dtype: t.dtype, shape: t.shape.map((d, i) => (typeof d === "number" ? d + pairs[i]![0] + pairs[i]![1] : d)) };
    },
    view: ([x], _out, attrs) => {
      const pairs = padPairs(x!, attrs, strictCtx("pad"))!;
      const region = x!.flatMap((n, d) => (pairs[d]![0] + pairs[d]![1] > 0 ? [{ axis: d, lo: pairs[d]![0], hi: pairs[d]![0] + n }] : []));
      return {
        parts: [{ input: 0, axes: x!.map((_, d) => ({ from: d, offset: -pairs[d]![0], step: 1 })), region }],
        fill: (attrs["value"] as number | undefined) ?? 0,
      };
    },
    grad: (b, g, [x], _o, attrs) => {
      const pairs = padPairs(x!.type.shape, attrs, strictCtx("pad"))!;
      const axes = pairs.flatMap(([lo, hi], d) => (lo + hi > 0 ? [d] : []));
      if (!axes.length) return [g];
      const starts = axes.map((d) => pairs[d]![0]);
      const ends = axes.map((d) => pairs[d]![0] + (x!.type.shape[d] as number));
      return [b.op("slice", [g], { starts, ends, axes })];
    },
  },
  /** Joins one or more tensors along `axis`; the other dims must agree. */
  concat: {
    kind: "movement",
    arity: -1,
    infer: concatInfer,
    view: (ins, _out, attrs) => {
      const axis = concatAxis(attrs, ins[0]!.length);
      let lo = 0;
      return {
        parts: ins.map((shape, k) => {
          const hi = lo + shape[axis]!;
          const part: ViewPart = {
            input: k,
            axes: shape.map((_, d) => ({ from: d, offset: d === axis ? -lo : 0, step: 1 })),
            region: [{ axis, lo, hi }],
          };
          lo = hi;
          return part;
        }),
      };
    },
    grad: (b, g, ins, _o, attrs) => {
      const axis = concatAxis(attrs, g.type.shape.length);
      let lo = 0;
      return ins.map((x) => {
        const hi = lo + (x.type.shape[axis] as number);
        const gx = ins.length === 1 ? g : b.op("slice", [g], { starts: [lo], ends: [hi], axes: [axis] });
        lo = hi;
        return gx;
      });
    },
  },
} satisfies OpFamily;
