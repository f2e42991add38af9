import { broadcastShapes, elementwiseInfer } from "./shape.js";
import { erf, sigmoid, wgslErf } from "./numerics.js";
import type { ElementwiseOp, GradBuilder, GradRule, OpFamily } from "./types.js";

/**
 * Elementwise ops: scalar semantics on the CPU (`eval`) and as a WGSL expression (`wgsl`), with
 * numpy broadcasting of their inputs. Fusion inlines them into any kernel that reads them.
 */

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

const zero = (b: GradBuilder) => b.const(0);

/** An entry with its `.net` name (called with `params`) and its ONNX op. */
const named = (op: ElementwiseOp, onnx: string, call?: string, params = ["x"]): ElementwiseOp => ({ ...op, onnx, ...(call ? { call: { name: call, params } } : {}) });

/** The elementwise entries of OPS. */
export const ELEMENTWISE_OPS = {
  neg: named(unary((x) => -x, (x) => `(-${x})`, (b, g) => [b.neg(g)]), "Neg", "neg"),
  abs: named(unary(Math.abs, (x) => `abs(${x})`, (b, g, [x]) => [b.op("select", [b.op("lt", [x!, zero(b)]), b.neg(g), g])]), "Abs", "abs"),
  exp: named(unary(Math.exp, (x) => `exp(${x})`, (b, g, _x, out) => [b.mul(g, out)]), "Exp", "exp"),
  log: named(unary(Math.log, (x) => `log(${x})`, (b, g, [x]) => [b.div(g, x!)]), "Log", "log"),
  sqrt: named(unary(Math.sqrt, (x) => `sqrt(${x})`, (b, g, _x, out) => [b.div(g, b.mul(b.const(2), out))]), "Sqrt", "sqrt"),
  tanh: named(unary(
    Math.tanh,
    // NOTE: written via exp of a clamped argument: some drivers' tanh returns NaN for large |x|.
    (x) => `tanh(clamp(${x}, -15.0, 15.0))`,
    (b, g, _x, out) => [b.mul(g, b.sub(b.const(1), b.mul(out, out)))],
  ), "Tanh", "tanh"),
  sigmoid: named(unary(
    sigmoid,
    (x) => `(1.0 / (1.0 + exp(-(${x}))))`,
    (b, g, _x, out) => [b.mul(g, b.mul(out, b.sub(b.const(1), out)))],
  ), "Sigmoid", "sigmoid"),

  erf: named(unary(erf, wgslErf, (b, g, [x]) => [
    b.mul(g, b.mul(b.const(2 / Math.sqrt(Math.PI)), b.op("exp", [b.neg(b.mul(x!, x!))]))),
  ]), "Erf", "erf"),

  add: named(binary((a, b) => a + b, (a, b) => `(${a} + ${b})`, (_b, g) => [g, g]), "Add"),
  sub: named(binary((a, b) => a - b, (a, b) => `(${a} - ${b})`, (b, g) => [g, b.neg(g)]), "Sub"),
  mul: named(binary((a, b) => a * b, (a, b) => `(${a} * ${b})`, (b, g, [x, y]) => [b.mul(g, y!), b.mul(g, x!)]), "Mul"),
  div: named(binary(
    (a, b) => a / b,
    (a, b) => `(${a} / ${b})`,
    (b, g, [x, y], out) => [b.div(g, y!), b.neg(b.div(b.mul(g, out), y!))],
  ), "Div"),
  pow: named(binary(
    Math.pow,
    (a, b) => `pow(${a}, ${b})`,
    (b, g, [x, y], out) => [
      b.mul(g, b.mul(y!, b.op("pow", [x!, b.sub(y!, b.const(1))]))),
      b.mul(g, b.mul(out, b.op("log", [x!]))),
    ],
  ), "Pow", "pow", ["x", "y"]),
  // NOTE: the first operand gets the gradient where it is strictly the larger (y < out), the second
  // where it ties or wins, so relu = max(x, 0) has gradient 0 at 0 (PyTorch's convention). The mask
  // reads the result, not x: relu's input is then used only by relu, which fuses into the matmul
  // before it (the backward pass reads the relu's output, which the next layer reads anyway).
  max: named(binary(Math.max, (a, b) => `max(${a}, ${b})`, (b, g, [, y], out) => {
    const xWins = b.op("lt", [y!, out]);
    return [b.op("select", [xWins, g, zero(b)]), b.op("select", [xWins, zero(b), g])];
  }), "Max", "maximum", ["a", "b"]),
  min: named(binary(Math.min, (a, b) => `min(${a}, ${b})`, (b, g, [x, y]) => {
    const yWins = b.op("lt", [y!, x!]);
    return [b.op("select", [yWins, zero(b), g]), b.op("select", [yWins, g, zero(b)])];
  }), "Min", "minimum", ["a", "b"]),

  /**
   * The identity whose gradient is zero: softmax and log_softmax shift by a max that changes
   * nothing but the rounding, so no gradient flows through it (2 kernels of every classifier's
   * backward pass). simplify drops it once autodiff has run.
   */
  stop_gradient: named(unary((x) => x, (x) => x), "Identity", "stop_gradient"),

  lt: compare((a, b) => a < b, "<"),
  le: compare((a, b) => a <= b, "<="),
  eq: compare((a, b) => a === b, "=="),

  select: {
    kind: "elementwise",
    arity: 3,
    infer: (ins, _attrs, ctx) => {
      const shape = broadcastShapes("select", ins.map((t) => t.shape), ctx);
      return shape && { dtype: ins[1]!.dtype, shape };
    },
    eval: (c, a, b) => (c !== 0 ? a : b),
    wgsl: (c, a, b) => `select(${b}, ${a}, ${c} != 0.0)`,
    grad: (b, g, [c]) => [undefined, b.op("select", [c!, g, zero(b)]), b.op("select", [c!, zero(b), g])],
    call: { name: "where", params: ["cond", "a", "b"] },
  },
} satisfies OpFamily;
