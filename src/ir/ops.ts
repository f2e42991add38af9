import type { DiagnosticCode } from "../base/diagnostics.js";
import type { Span } from "../base/source.js";
import { Graph, NO_ATTRS, type Attrs, type Origin, type Value } from "./graph.js";
import { CONV_OPS } from "./ops-conv.js";
import { INDEX_OPS } from "./ops-index.js";
import { formatShape, type Dim, type DType, type TensorType } from "./types.js";

/**
 * The op registry: every primitive is declared once, here, with its shape rule, gradient rule,
 * CPU reference semantics and WGSL lowering side by side. Passes, the CPU interpreter and codegen
 * look ops up by name; adding an op means one entry here plus a row in test/ops.test.ts.
 * Window ops (conv, pool, gather, ...) and iota are declared in ops-conv.ts and ops-index.ts,
 * with the same parts, and merged into OPS below.
 */

/** What a shape rule may do besides computing: report a user error, unify two dims. */
export interface InferCtx {
  /** The op being typed, for messages. */
  op: string;
  error(code: DiagnosticCode, args: Record<string, string | number>): void;
  /** Makes two dims equal (binding symbols) or returns undefined if they cannot be. */
  unify(a: Dim, b: Dim): Dim | undefined;
}

/** Builds gradient (or other generated) nodes with types inferred eagerly. */
export class Builder {
  constructor(
    readonly graph: Graph,
    public span: Span,
    public origin: Origin,
  ) {}

  /** Shape errors of the op being built; any is a compiler bug. */
  private readonly errors: string[] = [];
  // NOTE: one context for every op built: autodiff and the optimizer build hundreds of thousands.
  private readonly ctx: InferCtx = {
    op: "",
    error: (code, args) => void this.errors.push(`${code} ${JSON.stringify(args)}`),
    unify: (a, b) => (a === b ? a : undefined),
  };

  /** Appends `op(inputs){attrs}`; a shape error here is a compiler bug. */
  op(name: string, inputs: Value[], attrs: Attrs = NO_ATTRS): Value {
    const def = opDef(name);
    this.ctx.op = name;
    const types = new Array<TensorType>(inputs.length);
    for (let i = 0; i < inputs.length; i++) types[i] = inputs[i]!.type;
    const type = def.infer(types, attrs, this.ctx);
    if (!type || this.errors.length) throw new Error(`internal: ${name} built with bad types: ${this.errors.splice(0).join("; ")}`);
    return this.graph.addNode(name, inputs, attrs, type, this.span, this.origin);
  }

  /** A scalar f32 constant. */
  const(value: number): Value {
    return this.op("const", [], { value });
  }
  add(a: Value, b: Value): Value {
    return this.op("add", [a, b]);
  }
  sub(a: Value, b: Value): Value {
    return this.op("sub", [a, b]);
  }
  mul(a: Value, b: Value): Value {
    return this.op("mul", [a, b]);
  }
  div(a: Value, b: Value): Value {
    return this.op("div", [a, b]);
  }
  neg(a: Value): Value {
    return this.op("neg", [a]);
  }
}

/** Gradient rule: input gradients shaped like the output (the autodiff driver un-broadcasts). */
export type GradRule = (b: Builder, g: Value, ins: Value[], out: Value, attrs: Attrs) => (Value | undefined)[];

interface OpBase {
  /** Number of inputs; -1 for a variadic op taking one or more (concat). */
  arity: number;
  infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined;
  /** Absent for ops with no gradient (comparisons, constants). */
  grad?: GradRule;
}

/** An elementwise op: scalar semantics on CPU and as a WGSL expression. */
export interface ElementwiseOp extends OpBase {
  kind: "elementwise";
  eval: (...xs: number[]) => number;
  wgsl: (...xs: string[]) => string;
}

/** A reduction over `axes` (with `keepdims`): init, combine and finish as CPU and WGSL. */
export interface ReduceOp extends OpBase {
  kind: "reduce";
  init: number;
  combine: (acc: number, x: number) => number;
  finish: (acc: number, count: number) => number;
  wgslInit: string;
  wgslCombine: (acc: string, x: string) => string;
  wgslFinish: (acc: string, count: string) => string;
}

/** Ops whose kernels are whole templates (matmul) or pure index maps (reshape, broadcast). */
export interface OtherOp extends OpBase {
  kind: "contraction" | "movement" | "source";
  /**
   * A movement op that reads its inputs at remapped coordinates (transpose, slice, pad, concat):
   * the map as data, on concrete shapes. The CPU reference and codegen both interpret it.
   */
  view?: (ins: number[][], out: number[], attrs: Attrs) => View;
  /**
   * A source whose value varies over its elements (iota): fills a whole tensor on the CPU, and
   * gives the WGSL expression of the element at flat index `idx` of `shape`. Without it a source
   * is one scalar (`const`, `size`).
   */
  generate?: {
    cpu(out: CpuTensor, attrs: Attrs): void;
    wgsl(idx: string, shape: number[], attrs: Attrs): string;
  };
}

/** A concrete tensor as the CPU reference holds it (row-major; f32 or f64 by the run's precision). */
export interface CpuTensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * An op whose every output element is computed by its own loop that reads the inputs at computed
 * flat indices (conv, pooling, gather and their gradients, rand): neither a view nor a reduction
 * over whole axes. Shapes are concrete by the time `cpu` or `wgsl` runs.
 */
export interface WindowOp extends OpBase {
  kind: "window";
  /** CPU reference on whole tensors: fills `out`, already allocated in the run's precision. */
  cpu(ins: CpuTensor[], out: CpuTensor, attrs: Attrs): void;
  /** WGSL computing output element `w.idx`: emits statements through `w`, returns the f32 value. */
  wgsl(w: WindowWgsl): string;
  /**
   * Straight-line WGSL (no loops) cheap enough to recompute: the op fuses into elementwise kernels
   * like an elementwise op (its operands still come from buffers). Otherwise it heads a window
   * kernel, one thread per output element, with an elementwise epilogue.
   */
  inline?: boolean;
  /**
   * The op as an implicit matrix product over concrete shapes (conv and its gradients), when its
   * attributes allow one; codegen may then emit a register-blocked kernel instead of `wgsl`.
   */
  gemm?(ins: number[][], out: number[], attrs: Attrs): GemmView | undefined;
}

/**
 * A window op seen as out[row, col] = sum over k of A[row, k] · B[k, col] with no matrix in
 * memory (implicit GEMM): rows, columns and k are each a box of integer coordinates, and every
 * address is affine in them, split into a part of the row (or column) and a part of k so a
 * thread computes its row and column parts once and adds the k part in the loop.
 */
export interface GemmView {
  /** Extents of the row, column and k coordinates (row-major within each). */
  rows: number[];
  cols: number[];
  ks: number[];
  /** A's coordinates are (rows, ks); B's are (cols, ks). */
  a: GemmOperand;
  b: GemmOperand;
  /** The output's flat index: rows·out.rows + cols·out.cols. */
  out: { rows: number[]; cols: number[] };
}

/** One operand of a GemmView: which input it is, its flat offset, and when it is padding (zero). */
export interface GemmOperand {
  input: number;
  offset: GemmAffine;
  /** The element is real iff 0 <= the affine value < size, for every bound; otherwise it reads as 0. */
  bounds: (GemmAffine & { size: number })[];
}

/** constant + outer·(row or column coordinates) + inner·(k coordinates). */
export interface GemmAffine {
  outer: number[];
  inner: number[];
  constant: number;
}

/** What a window op's WGSL generator is given, and how it writes. */
export interface WindowWgsl {
  /** The u32 flat index of the output element to compute. */
  idx: string;
  /** Concrete output and input shapes. */
  out: number[];
  ins: number[][];
  attrs: Attrs;
  /** An f32 expression of input `input` at the u32 flat index `index` (a buffer read, or an inlined source). */
  read(input: number, index: string): string;
  /** Appends one statement (nested lines carry their own indentation). */
  emit(line: string): void;
  /** A fresh local name built from `base`, unique in the kernel. */
  name(base: string): string;
}

/**
 * How a movement op reads its inputs, as data (tinygrad's views). Each output element comes from
 * the first part whose region holds it, or is `fill` when none does.
 */
export interface View {
  parts: ViewPart[];
  /** The value outside every part's region (pad's constant); absent when the parts cover the output. */
  fill?: number;
}

/** One input's share of a movement op's output. */
export interface ViewPart {
  /** Which input the part reads. */
  input: number;
  /** Per input axis d: `in[d] = offset + step * out[from]`. */
  axes: { from: number; offset: number; step: number }[];
  /** Half-open ranges of output coordinates on some axes that this part covers (absent: everything). */
  region?: { axis: number; lo: number; hi: number }[];
}

/** One registry entry. */
export type OpDef = ElementwiseOp | ReduceOp | OtherOp | WindowOp;

// ---------------------------------------------------------------- shape rules

function broadcastShapes(op: string, shapes: Dim[][], ctx: InferCtx): Dim[] | undefined {
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  // NOTE: sized up front: a pushed-to array keeps room for 17 dims, and every type holds one.
  const out = new Array<Dim>(rank);
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    let from = -1;
    for (let k = 0; k < shapes.length; k++) {
      const s = shapes[k]!;
      const d = s[s.length - rank + i];
      if (d === undefined || d === 1) continue;
      if (dim === 1) {
        dim = d;
        from = k;
        continue;
      }
      const u = ctx.unify(dim, d);
      if (u === undefined) {
        ctx.error("NC3001", {
          op,
          a: formatShape(shapes[from]!),
          b: formatShape(s),
          dim: i - rank,
          da: String(dim),
          db: String(d),
        });
        return undefined;
      }
      dim = u;
    }
    out[i] = dim;
  }
  return out;
}

function elementwiseInfer(dtype?: DType) {
  return (ins: TensorType[], _a: Attrs, ctx: InferCtx): TensorType | undefined => {
    const shape = broadcastShapes(ctx.op, ins.map((t) => t.shape), ctx);
    if (!shape) return undefined;
    return { dtype: dtype ?? ins.find((t) => t.dtype !== "bool")?.dtype ?? "f32", shape };
  };
}

function normAxes(attrs: Attrs, rank: number, ctx: InferCtx): number[] | undefined {
  const raw = attrs["axes"];
  const axes = Array.isArray(raw) ? (raw as number[]) : [...Array(rank).keys()];
  const out: number[] = [];
  for (const a of axes) {
    const ax = a < 0 ? a + rank : a;
    if (ax < 0 || ax >= rank) {
      ctx.error("NC3005", { axis: a, rank });
      return undefined;
    }
    if (!out.includes(ax)) out.push(ax);
  }
  return out.sort((x, y) => x - y);
}

/** The axes a reduce node reduces over, normalised and sorted. */
export function reduceAxes(attrs: Attrs, rank: number): number[] {
  const axes = normAxes(attrs, rank, { op: "reduce", error: () => undefined, unify: () => undefined });
  if (!axes) throw new Error("internal: bad reduce axes");
  return axes;
}

function reduceInfer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined {
  const t = ins[0]!;
  const axes = normAxes(attrs, t.shape.length, ctx);
  if (!axes) return undefined;
  const keep = attrs["keepdims"] === true;
  const shape = t.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  return { dtype: t.dtype, shape };
}

/** Gradient of a reduction: broadcast g (made keepdims-shaped) back to the input shape. */
function expandReduced(b: Builder, g: Value, x: Value, attrs: Attrs): Value {
  const axes = reduceAxes(attrs, x.type.shape.length);
  const kept = x.type.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g1 = attrs["keepdims"] === true ? g : b.op("reshape", [g], { shape: kept });
  return b.op("broadcast", [g1], { shape: x.type.shape });
}

// ---------------------------------------------------------------- helpers for rules

function unary(eval_: (x: number) => number, wgsl: (x: string) => string, grad?: GradRule): ElementwiseOp {
  return { kind: "elementwise", arity: 1, infer: elementwiseInfer(), eval: eval_, wgsl, grad };
}

function binary(eval_: (a: number, b: number) => number, wgsl: (a: string, b: string) => string, grad?: GradRule): ElementwiseOp {
  return { kind: "elementwise", arity: 2, infer: elementwiseInfer(), eval: eval_, wgsl, grad };
}

function compare(eval_: (a: number, b: number) => boolean, wgslOp: string): ElementwiseOp {
  return {
    kind: "elementwise",
    arity: 2,
    infer: elementwiseInfer("bool"),
    eval: (a, b) => (eval_(a, b) ? 1 : 0),
    // NOTE: bools are stored as f32 0/1 so every buffer is array<f32>.
    wgsl: (a, b) => `select(0.0, 1.0, ${a} ${wgslOp} ${b})`,
  };
}

const zero = (b: Builder) => b.const(0);

/** f32 literal in WGSL (always with a decimal point or exponent). */
export function wgslFloat(v: number): string {
  if (Number.isNaN(v)) return "(0.0 / 0.0)";
  if (!Number.isFinite(v)) return v > 0 ? "3.4028234663852886e38" : "-3.4028234663852886e38";
  const s = String(Math.fround(v) === v ? v : Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** erf to f64 precision: Taylor series near 0, a continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a²)/sqrt(pi) · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated bottom-up.
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** erf in WGSL (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: below f32 resolution near 1). */
function wgslErf(x: string): string {
  return (
    `(sign(${x}) * (1.0 - (((((1.061405429 * (1.0 / (1.0 + 0.3275911 * abs(${x}))) - 1.453152027) * ` +
    `(1.0 / (1.0 + 0.3275911 * abs(${x}))) + 1.421413741) * (1.0 / (1.0 + 0.3275911 * abs(${x}))) - 0.284496736) * ` +
    `(1.0 / (1.0 + 0.3275911 * abs(${x}))) + 0.254829592) * (1.0 / (1.0 + 0.3275911 * abs(${x})))) * exp(-(${x}) * (${x}))))`
  );
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

// ---------------------------------------------------------------- movement rules

/** An InferCtx for rules re-run by gradient rules on already-typed values: any error is a bug. */
const strict = (op: string): InferCtx => ({
  op,
  error: (code, args) => {
    throw new Error(`internal: ${op}: ${code} ${JSON.stringify(args)}`);
  },
  unify: (a, b) => (a === b ? a : undefined),
});

const ints = (v: unknown): number[] | undefined =>
  Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? (v as number[]) : undefined;

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

// ---------------------------------------------------------------- the registry

/** Every primitive op, by name. */
export const OPS = {
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

  neg: unary((x) => -x, (x) => `(-${x})`, (b, g) => [b.neg(g)]),
  abs: unary(Math.abs, (x) => `abs(${x})`, (b, g, [x]) => [b.op("select", [b.op("lt", [x!, zero(b)]), b.neg(g), g])]),
  exp: unary(Math.exp, (x) => `exp(${x})`, (b, g, _x, out) => [b.mul(g, out)]),
  log: unary(Math.log, (x) => `log(${x})`, (b, g, [x]) => [b.div(g, x!)]),
  sqrt: unary(Math.sqrt, (x) => `sqrt(${x})`, (b, g, _x, out) => [b.div(g, b.mul(b.const(2), out))]),
  tanh: unary(
    Math.tanh,
    // NOTE: written via exp of a clamped argument: some drivers' tanh returns NaN for large |x|.
    (x) => `tanh(clamp(${x}, -15.0, 15.0))`,
    (b, g, _x, out) => [b.mul(g, b.sub(b.const(1), b.mul(out, out)))],
  ),
  sigmoid: unary(
    sigmoid,
    (x) => `(1.0 / (1.0 + exp(-(${x}))))`,
    (b, g, _x, out) => [b.mul(g, b.mul(out, b.sub(b.const(1), out)))],
  ),

  erf: unary(erf, wgslErf, (b, g, [x]) => [
    b.mul(g, b.mul(b.const(2 / Math.sqrt(Math.PI)), b.op("exp", [b.neg(b.mul(x!, x!))]))),
  ]),

  add: binary((a, b) => a + b, (a, b) => `(${a} + ${b})`, (_b, g) => [g, g]),
  sub: binary((a, b) => a - b, (a, b) => `(${a} - ${b})`, (b, g) => [g, b.neg(g)]),
  mul: binary((a, b) => a * b, (a, b) => `(${a} * ${b})`, (b, g, [x, y]) => [b.mul(g, y!), b.mul(g, x!)]),
  div: binary(
    (a, b) => a / b,
    (a, b) => `(${a} / ${b})`,
    (b, g, [x, y], out) => [b.div(g, y!), b.neg(b.div(b.mul(g, out), y!))],
  ),
  pow: binary(
    Math.pow,
    (a, b) => `pow(${a}, ${b})`,
    (b, g, [x, y], out) => [
      b.mul(g, b.mul(y!, b.op("pow", [x!, b.sub(y!, b.const(1))]))),
      b.mul(g, b.mul(out, b.op("log", [x!]))),
    ],
  ),
  // NOTE: ties send the gradient to the first operand, so relu = max(x, 0) has gradient 1 at 0... of x
  // only when x >= 0; the constant gets none. This is the convention the autodiff tests pin down.
  max: binary(Math.max, (a, b) => `max(${a}, ${b})`, (b, g, [x, y]) => {
    const yWins = b.op("lt", [x!, y!]);
    return [b.op("select", [yWins, zero(b), g]), b.op("select", [yWins, g, zero(b)])];
  }),
  min: binary(Math.min, (a, b) => `min(${a}, ${b})`, (b, g, [x, y]) => {
    const yWins = b.op("lt", [y!, x!]);
    return [b.op("select", [yWins, zero(b), g]), b.op("select", [yWins, g, zero(b)])];
  }),

  lt: compare((a, b) => a < b, "<"),
  le: compare((a, b) => a <= b, "<="),
  eq: compare((a, b) => a === b, "=="),

  select: {
    kind: "elementwise",
    arity: 3,
    infer: (ins, attrs, ctx) => {
      const shape = broadcastShapes("select", ins.map((t) => t.shape), ctx);
      return shape && { dtype: ins[1]!.dtype, shape };
    },
    eval: (c, a, b) => (c !== 0 ? a : b),
    wgsl: (c, a, b) => `select(${b}, ${a}, ${c} != 0.0)`,
    grad: (b, g, [c]) => [undefined, b.op("select", [c!, g, zero(b)]), b.op("select", [c!, zero(b), g])],
  },

  sum: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: 0,
    combine: (acc, x) => acc + x,
    finish: (acc) => acc,
    wgslInit: "0.0",
    wgslCombine: (acc, x) => `${acc} + ${x}`,
    wgslFinish: (acc) => acc,
    grad: (b, g, [x], _o, attrs) => [expandReduced(b, g, x!, attrs)],
  },
  // NOTE: mean is a primitive, not sum·(1/n): with symbolic dims n is only known once shapes are
  // bound, and keeping it whole lets codegen scale in the same kernel.
  mean: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: 0,
    combine: (acc, x) => acc + x,
    finish: (acc, n) => acc / n,
    wgslInit: "0.0",
    wgslCombine: (acc, x) => `${acc} + ${x}`,
    wgslFinish: (acc, n) => `${acc} / ${n}`,
    grad: (b, g, [x], _o, attrs) => {
      const axes = reduceAxes(attrs, x!.type.shape.length);
      const count = b.op("size", [], { dims: axes.map((a) => x!.type.shape[a]!) });
      return [b.div(expandReduced(b, g, x!, attrs), count)];
    },
  },
  max_reduce: {
    kind: "reduce",
    arity: 1,
    infer: reduceInfer,
    init: -Infinity,
    combine: Math.max,
    finish: (acc) => acc,
    wgslInit: "-3.4028234663852886e38",
    wgslCombine: (acc, x) => `max(${acc}, ${x})`,
    wgslFinish: (acc) => acc,
    grad: (b, g, [x], out, attrs) => {
      const full = expandReduced(b, out, x!, attrs);
      const mask = b.op("eq", [x!, full]);
      return [b.op("select", [mask, expandReduced(b, g, x!, attrs), zero(b)])];
    },
  },

  /**
   * Matrix product over the last two axes, with transposes, batched over leading axes (numpy's
   * matmul): both sides carry the same batch dims, or one side has none and is shared by the batch.
   */
  matmul: {
    kind: "contraction",
    arity: 2,
    infer: (ins, attrs, ctx) => {
      const [a, b] = ins as [TensorType, TensorType];
      if (a.shape.length < 2 || b.shape.length < 2) {
        ctx.error("NC3004", { op: "matmul", expected: "2 or more", got: Math.min(a.shape.length, b.shape.length) });
        return undefined;
      }
      for (const [t, side] of [[a, "the left operand"], [b, "the right operand"]] as const) {
        if (t.dtype === "f32" || t.dtype === "f16") continue;
        ctx.error("NC3021", { op: "matmul", expected: "floating-point values (f32 or f16)", operand: side, got: t.dtype });
        return undefined;
      }
      const ra = a.shape.length;
      const rb = b.shape.length;
      const [m, ka] = attrs["ta"] === true ? [a.shape[ra - 1]!, a.shape[ra - 2]!] : [a.shape[ra - 2]!, a.shape[ra - 1]!];
      const [kb, n] = attrs["tb"] === true ? [b.shape[rb - 1]!, b.shape[rb - 2]!] : [b.shape[rb - 2]!, b.shape[rb - 1]!];
      if (ctx.unify(ka, kb) === undefined) {
        ctx.error("NC3002", { a: formatShape(a.shape), b: formatShape(b.shape), da: String(ka), db: String(kb) });
        return undefined;
      }
      const batchA = a.shape.slice(0, -2);
      const batchB = b.shape.slice(0, -2);
      let batch = batchA.length ? batchA : batchB;
      if (batchA.length && batchB.length) {
        const same = batchA.length === batchB.length && batchA.every((d, i) => ctx.unify(d, batchB[i]!) !== undefined);
        if (!same) {
          ctx.error("NC3011", { a: formatShape(a.shape), b: formatShape(b.shape) });
          return undefined;
        }
      }
      return { dtype: a.dtype, shape: [...batch, m, n] };
    },
    grad: (b, g, [x, y], _o, attrs) => {
      const ta = attrs["ta"] === true;
      const tb = attrs["tb"] === true;
      // C = op(A) op(B): dA = g op(B)ᵀ (transposed back if A was), dB likewise. A side without
      // batch dims gets a batched gradient here, which the driver sums over the batch.
      const da = ta ? b.op("matmul", [y!, g], { ta: tb, tb: true }) : b.op("matmul", [g, y!], { ta: false, tb: !tb });
      const db = tb ? b.op("matmul", [g, x!], { ta: true, tb: ta }) : b.op("matmul", [x!, g], { ta: !ta, tb: false });
      return [da, db];
    },
  },

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
      const perm = permOf(attrs, x!.length, strict("transpose"))!;
      return { parts: [{ input: 0, axes: x!.map((_, d) => ({ from: perm.indexOf(d), offset: 0, step: 1 })) }] };
    },
    grad: (b, g, [x], _o, attrs) => {
      const perm = permOf(attrs, x!.type.shape.length, strict("transpose"))!;
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
      const axes = sliceAxes(x!, attrs, strict("slice"))!;
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
      for (const s of sliceAxes(shape, attrs, strict("slice"))!) {
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
      const pairs = padPairs(x!, attrs, strict("pad"))!;
      const region = x!.flatMap((n, d) => (pairs[d]![0] + pairs[d]![1] > 0 ? [{ axis: d, lo: pairs[d]![0], hi: pairs[d]![0] + n }] : []));
      return {
        parts: [{ input: 0, axes: x!.map((_, d) => ({ from: d, offset: -pairs[d]![0], step: 1 })), region }],
        fill: (attrs["value"] as number | undefined) ?? 0,
      };
    },
    grad: (b, g, [x], _o, attrs) => {
      const pairs = padPairs(x!.type.shape, attrs, strict("pad"))!;
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

  // Convolution and pooling (with their gradients), gather, iota and rand live in their own modules.
  ...CONV_OPS,
  ...INDEX_OPS,
} satisfies Record<string, OpDef>;

/** Names of every registered op. */
export type OpName = keyof typeof OPS;

// NOTE: a Map, not a property lookup on OPS: passes ask for ops millions of times on large graphs.
const OP_TABLE: ReadonlyMap<string, OpDef> = new Map(Object.entries(OPS as Record<string, OpDef>));

/** The registry entry for an op; throws for unknown names (a compiler bug: users never name IR ops). */
export function opDef(name: string): OpDef {
  const def = OP_TABLE.get(name);
  if (!def) throw new Error(`internal: unknown op ${name}`);
  return def;
}
