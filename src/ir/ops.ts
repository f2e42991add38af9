import type { DiagnosticCode } from "../frontend/diagnostics.js";
import type { Span } from "../frontend/source.js";
import { Graph, type Attrs, type Origin, type Value } from "./graph.js";
import { formatShape, type Dim, type DType, type TensorType } from "./types.js";

/**
 * The op registry: every primitive is declared once, here, with its shape rule, gradient rule,
 * CPU reference semantics and WGSL lowering side by side. Passes, the CPU interpreter and codegen
 * look ops up by name; adding an op means one entry here plus a row in test/ops.test.ts.
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

  /** Appends `op(inputs){attrs}`; a shape error here is a compiler bug. */
  op(name: string, inputs: Value[], attrs: Attrs = {}): Value {
    const def = opDef(name);
    const errors: string[] = [];
    const ctx: InferCtx = {
      op: name,
      error: (code, args) => errors.push(`${code} ${JSON.stringify(args)}`),
      unify: (a, b) => (a === b ? a : undefined),
    };
    const type = def.infer(inputs.map((v) => v.type), attrs, ctx);
    if (!type || errors.length) throw new Error(`internal: ${name} built with bad types: ${errors.join("; ")}`);
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
}

/** One registry entry. */
export type OpDef = ElementwiseOp | ReduceOp | OtherOp;

// ---------------------------------------------------------------- shape rules

function broadcastShapes(op: string, shapes: Dim[][], ctx: InferCtx): Dim[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length), 0);
  const out: Dim[] = [];
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
    out.push(dim);
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

  reshape: {
    kind: "movement",
    arity: 1,
    infer: (ins, attrs) => ({ dtype: ins[0]!.dtype, shape: [...(attrs["shape"] as Dim[])] }),
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
} satisfies Record<string, OpDef>;

/** Names of every registered op. */
export type OpName = keyof typeof OPS;

/** The registry entry for an op; throws for unknown names (a compiler bug: users never name IR ops). */
export function opDef(name: string): OpDef {
  const def = (OPS as Record<string, OpDef>)[name];
  if (!def) throw new Error(`internal: unknown op ${name}`);
  return def;
}
