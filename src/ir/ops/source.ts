import type { Attrs } from "../graph.js";
import { formatShape, stridesOf, type TensorType } from "../types.js";
import { axisOf, isInt, shapeAttr, strictCtx } from "./shape.js";
import type { InferCtx, OpFamily, WindowWgsl } from "./types.js";
import { WgslWriter } from "./window.js";

/**
 * Ops that read no tensor of values: constants, sizes of bound dims, iota (the coordinate along
 * an axis) and rand (counter-based uniform numbers, from a seed).
 */

function iotaInfer(_ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const shape = shapeAttr(attrs, ctx);
  const axis = shape && axisOf(attrs, shape.length, ctx);
  return axis === undefined ? undefined : { dtype: "f32", shape: [...shape!] };
}

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

/** The source entries of OPS. */
export const SOURCE_OPS = {
  const: {
    kind: "source",
    arity: 0,
    infer: () => ({ dtype: "f32", shape: [] }),
  },
  /** The product of some (possibly symbolic) dims as an f32 scalar, known once dims are bound. */
  size: {
    kind: "source",
    arity: 0,
    infer: () => ({ dtype: "f32", shape: [] }),
  },
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
  },
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
  },

} satisfies OpFamily;
