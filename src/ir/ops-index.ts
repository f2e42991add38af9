import type { Attrs } from "./graph.js";
import type { CpuTensor, InferCtx, OtherOp, WindowOp, WindowWgsl } from "./ops.js";
import { plus, strictCtx, times, WgslWriter } from "./ops-window.js";
import { formatShape, numel, stridesOf, type Dim, type TensorType } from "./types.js";

/**
 * Ops that compute indices: gather (numpy take / ONNX Gather) and its gradient, iota (the
 * coordinate along an axis) and rand (counter-based uniform numbers). Every buffer holds f32, so
 * integer indices and seeds are f32 holding integers.
 */

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x);

/** An axis attribute (default 0, negative from the end) normalised against `rank`, or an NC3005 error. */
function axisOf(attrs: Attrs, rank: number, ctx: InferCtx): number | undefined {
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
function shapeAttr(attrs: Attrs, ctx: InferCtx): Dim[] | undefined {
  const raw = attrs["shape"];
  if (Array.isArray(raw) && raw.every((d) => (isInt(d) && d >= 0) || (typeof d === "string" && d.length > 0))) return raw as Dim[];
  ctx.error("NC3003", { op: ctx.op, expected: "shape as a list of sizes", got: raw === undefined ? "no shape" : `shape = ${String(raw)}` });
  return undefined;
}

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

// ---------------------------------------------------------------- gather

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

// ---------------------------------------------------------------- iota

function iotaInfer(_ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const shape = shapeAttr(attrs, ctx);
  const axis = shape && axisOf(attrs, shape.length, ctx);
  return axis === undefined ? undefined : { dtype: "f32", shape: [...shape!] };
}

// ---------------------------------------------------------------- rand

/** murmur3's 32-bit finaliser, on u32 values (Math.imul wraps like WGSL's u32 multiply). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed value as the u32 WGSL's u32(max(seed, 0.0)) gives: truncated, clamped to [0, 2^32 - 1]. */
function seedBits(seed: number): number {
  return Number.isNaN(seed) ? 0 : Math.min(Math.max(Math.trunc(seed), 0), 4294967295) >>> 0;
}

/** The salt's contribution to the key, a codegen-time constant. */
const saltTerm = (salt: number) => Math.imul((salt >>> 0) + 1, 0x632be5ab) >>> 0;
const COUNTER = 0x85157af5;

/**
 * rand's value at flat `index` for (seed, salt): key = mix(mix(seed ^ φ) ^ (salt + 1)·c1), then
 * h = mix(mix(key ^ (index + 1)·c2) + key) (the second round keeps different keys from being
 * permutations of one stream), and the top 24 bits of h over 2^24: uniform on [0, 1), exact in f32.
 */
export function randUniform(seed: number, salt: number, index: number): number {
  return randAt(randKey(seed, salt), index);
}

function randKey(seed: number, salt: number): number {
  return mix32(mix32(seedBits(seed) ^ 0x9e3779b9) ^ saltTerm(salt));
}

function randAt(key: number, index: number): number {
  const h = mix32((mix32(key ^ Math.imul((index + 1) >>> 0, COUNTER)) + key) >>> 0);
  return (h >>> 8) / 16777216;
}

/** mix32 in WGSL on the u32 `x`, as lets; returns the result's name. */
function wgslMix(wr: WgslWriter, value: string): string {
  const x = /^\w+$/.test(value) ? value : wr.let("h", value);
  const a = wr.let("h", `(${x} ^ (${x} >> 16u)) * 0x85ebca6bu`);
  const b = wr.let("h", `(${a} ^ (${a} >> 13u)) * 0xc2b2ae35u`);
  return wr.let("h", `${b} ^ (${b} >> 16u)`);
}

function randInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const seed = ins[0]!;
  if (!seed.shape.every((d) => d === 1)) {
    ctx.error("NC3003", { op: "rand", expected: "a scalar seed", got: `a seed of shape ${formatShape(seed.shape)}` });
    return undefined;
  }
  const salt = attrs["salt"] ?? 0;
  if (!isInt(salt)) {
    ctx.error("NC3003", { op: "rand", expected: "an integer salt", got: `salt = ${String(salt)}` });
    return undefined;
  }
  const shape = shapeAttr(attrs, ctx);
  return shape && { dtype: "f32", shape: [...shape] };
}

function randWgsl(w: WindowWgsl): string {
  const salt = (w.attrs["salt"] as number | undefined) ?? 0;
  const wr = new WgslWriter(w);
  // NOTE: the seed and the counter go through vars so no part of the hash is a const-expression:
  // a u32 multiply that wraps is an error when WGSL evaluates it at shader-creation time.
  const seed = wr.var("seed", `u32(max(${w.read(0, "0u")}, 0.0))`);
  const counter = wr.var("ctr", w.idx);
  const key = wgslMix(wr, `${wgslMix(wr, `(${seed} ^ 0x9e3779b9u)`)} ^ ${saltTerm(salt)}u`);
  const h1 = wgslMix(wr, `(${key} ^ ((${counter} + 1u) * ${COUNTER}u))`);
  const h = wgslMix(wr, `(${h1} + ${key})`);
  return `(f32(${h} >> 8u) * 5.9604644775390625e-8)`;
}

// ---------------------------------------------------------------- the registry entries

/** gather, gather_grad, iota and rand, merged into OPS. */
export const INDEX_OPS = {
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
  } satisfies WindowOp,
  /** gather_grad(g, idx) with `axis` (of x) and `size` (x.shape[axis]) -> x's shape: a scatter-add. */
  gather_grad: {
    kind: "window",
    arity: 2,
    infer: gatherGradInfer,
    cpu: gatherGradCpu,
    wgsl: gatherGradWgsl,
    // Linear in g, and gather is its transpose.
    grad: (b, gg, [, idx], _o, attrs) => [b.op("gather", [gg, idx!], { axis: attrs["axis"] ?? 0 }), undefined],
  } satisfies WindowOp,
  /**
   * iota() with `shape` and `axis`: each element's coordinate along `axis`, as f32. A source,
   * computed from the element index wherever it is read, so it never needs a buffer of its own.
   */
  iota: {
    kind: "source",
    arity: 0,
    infer: iotaInfer,
    generate: {
      cpu: (out, attrs) => {
        const axis = axisOf(attrs, out.shape.length, strictCtx("iota"))!;
        const st = stridesOf(out.shape)[axis]!;
        const n = out.shape[axis]!;
        for (let i = 0; i < out.data.length; i++) out.data[i] = Math.floor(i / st) % n;
      },
      wgsl: (idx, shape, attrs) => {
        const axis = axisOf(attrs, shape.length, strictCtx("iota"))!;
        const st = stridesOf(shape)[axis]!;
        if (shape[axis] === 1) return "0.0";
        const q = st === 1 ? idx : `(${idx} / ${st}u)`;
        return `f32(${axis === 0 ? q : `${q} % ${shape[axis]}u`})`;
      },
    },
  } satisfies OtherOp,
  /**
   * rand(seed) with `shape` and `salt`: uniform numbers in [0, 1) from a counter-based hash of
   * (seed, salt, flat element index), bit-identical on the CPU and in WGSL (see randUniform). The
   * seed is a scalar f32 holding a non-negative integer (a step counter). No gradient.
   */
  rand: {
    kind: "window",
    arity: 1,
    inline: true,
    infer: randInfer,
    cpu: ([seed], out, attrs) => {
      const salt = (attrs["salt"] as number | undefined) ?? 0;
      const key = randKey(seed!.data[0]!, salt);
      for (let i = 0; i < out.data.length; i++) out.data[i] = randAt(key, i);
    },
    wgsl: randWgsl,
  } satisfies WindowOp,
};
