import type { Value } from "../../ir/graph.js";
import type { Emit, LayerCtx } from "../../frontend/function-def.js";
import { FUNCTIONS } from "../../frontend/functions.js";
import { SourceFile, type Span } from "../../base/source.js";
import { dimsOf, dtypeOfTerm, type Handler, type NodeCtx, type Term, unsupported } from "../node-context.js";
import { dtypeOf, isFloat, isInteger, sizeOf, type OnnxDType } from "../tensor.js";
import { hostBinary, normAxis, out, reshapeValue, staticOf } from "./common.js";

/**
 * Elementwise ONNX ops, activations and the softmax family. ONNX's numpy broadcasting is the
 * IR's own, so binary ops map one to one. Where the frontend already has a composite with ONNX's
 * semantics (softmax, log_softmax, relu, exact gelu) it is reused through its `Emit` callback.
 */

const NO_SPAN: Span = { file: new SourceFile("<onnx>", ""), start: 0, end: 0 };

// NOTE: the composites reused here (softmax, log_softmax, relu, gelu) never touch their layer
// context; a proxy makes any use of it a loud compiler bug instead of a silent wrong graph.
const NO_LAYER = new Proxy({} as LayerCtx, {
  get: (_t, key) => {
    throw new Error(`internal: an ONNX import used the layer context (${String(key)})`);
  },
});

/** Applies a frontend composite (FUNCTIONS[name]) to IR values. */
export function composite(n: NodeCtx, name: string, args: Value[], kw: Record<string, number | boolean | string | number[]> = {}): Value {
  const def = FUNCTIONS[name];
  if (!def) throw new Error(`internal: the frontend has no function ${name}`);
  const emit: Emit = (op, inputs, attrs) => n.emit(op, inputs, attrs ?? {});
  const v = def.lower(emit, args, kw, NO_SPAN, NO_LAYER);
  if (!v) throw new Error(`internal: ${name} did not lower`);
  return v;
}

/** A unary float op mapped to an IR primitive (or a function of the emitter). */
function unary(f: (n: NodeCtx, x: Value) => Value): Handler {
  return (n) => {
    const x = n.input(0);
    const dt = dtypeOfTerm(x);
    if (x.kind === "dynamic" && !isFloat(dt)) unsupported(`${n.where}: dtype ${dt} at run time (float32 runtime)`);
    return [out(f(n, n.value(x)), dt)];
  };
}

const prim = (op: string) => unary((n, x) => n.emit(op, [x]));

/** Binary arithmetic with broadcasting; integer division and powers need exact integer math. */
function arith(op: string): Handler {
  return (n) => {
    const a = n.input(0);
    const b = n.input(1);
    const dt = dtypeOfTerm(a);
    if (a.kind === "dynamic" || b.kind === "dynamic") {
      for (const x of [a, b])
        if (x.kind === "dynamic" && !isFloat(x.dtype) && x.dtype !== "bool")
          unsupported(`${n.where}: dtype ${x.dtype} at run time (float32 runtime)`);
      if (!isFloat(dt)) unsupported(`${n.where}: ${dt} result at run time (float32 runtime)`);
    }
    if (a.kind === "static" && b.kind === "static" && isInteger(dt) && op === "div") {
      // Integer division truncates toward zero (C semantics, as ONNX's reference does).
      return [hostBinary(n, a.t, b.t, dt, (x, y) => Math.trunc(x / y))];
    }
    return [out(n.emit(op, [n.value(a), n.value(b)]), dt)];
  };
}

/** A comparison giving bool. */
function compare(op: string, swap = false): Handler {
  return (n) => {
    const a = n.value(n.input(0));
    const b = n.value(n.input(1));
    return [out(n.emit(op, swap ? [b, a] : [a, b]), "bool")];
  };
}

/** A variadic op folded left (Sum, Max, Min, Mean). */
function variadic(op: string, mean = false): Handler {
  return (n) => {
    const xs = n.inputs.filter((x): x is Term => x !== undefined);
    const dt = dtypeOfTerm(xs[0]!);
    let acc = n.value(xs[0]!);
    for (const x of xs.slice(1)) acc = n.emit(op, [acc, n.value(x)]);
    if (mean && xs.length > 1) acc = n.emit("div", [acc, n.scalar(xs.length)]);
    return [out(acc, dt)];
  };
}

/** Cast to `to`: free between floats and from bool/int to float; to bool compares with 0. */
function castTo(n: NodeCtx, x: Term, to: OnnxDType): Term[] {
  const from = dtypeOfTerm(x);
  if (x.kind === "static") return [staticOf(to, x.t.dims, x.t.data)];
  if (from === to) return [x];
  if (to === "bool") {
    const isZero = n.emit("eq", [x.value, n.scalar(0)]);
    return [out(n.emit("select", [isZero, n.scalar(0), n.scalar(1)]), "bool")];
  }
  if (isFloat(to) && to !== "float32") unsupported(`${n.where}: cast to ${to} at run time (float32 runtime)`);
  if (isInteger(to) && !isInteger(from) && from !== "bool") unsupported(`${n.where}: cast from ${from} to ${to} at run time (no truncation primitive)`);
  return [out(x.value, to)];
}

/** Softmax or LogSoftmax: opset 13+ along `axis` (default -1); before, on [prod(:axis), prod(axis:)]. */
function softmaxLike(fn: "softmax" | "log_softmax"): Handler {
  return (n) => {
    const x = n.input(0);
    const dims = dimsOf(x);
    const rank = dims.length;
    if (n.opset >= 13) {
      const axis = normAxis(n, n.attr.int("axis", -1), Math.max(rank, 1));
      return [out(composite(n, fn, [n.value(x)], { axis }), dtypeOfTerm(x))];
    }
    const axis = normAxis(n, n.attr.int("axis", 1), Math.max(rank, 1));
    const flat = [sizeOf(dims.slice(0, axis)), sizeOf(dims.slice(axis))];
    const y = composite(n, fn, [reshapeValue(n, n.value(x), flat)], { axis: 1 });
    return [out(reshapeValue(n, y, dims), dtypeOfTerm(x))];
  };
}

/** Python's modulo (sign of the divisor) or C's fmod (sign of the dividend). */
function mod(n: NodeCtx): Term[] {
  const a = n.input(0);
  const b = n.input(1);
  const fmod = n.attr.int("fmod", 0) === 1;
  if (a.kind !== "static" || b.kind !== "static") unsupported(`${n.where}: Mod at run time (no truncation primitive)`);
  const f = fmod ? (x: number, y: number) => x % y : (x: number, y: number) => x - y * Math.floor(x / y);
  return [hostBinary(n, a.t, b.t, a.t.dtype, f)];
}

/** Elementwise handlers by ONNX op type. */
export const ELEMENTWISE: Record<string, Handler> = {
  Abs: prim("abs"),
  Neg: prim("neg"),
  Exp: prim("exp"),
  Log: prim("log"),
  Sqrt: prim("sqrt"),
  Tanh: prim("tanh"),
  Sigmoid: prim("sigmoid"),
  Erf: prim("erf"),
  Reciprocal: unary((n, x) => n.emit("div", [n.scalar(1), x])),
  Relu: unary((n, x) => composite(n, "relu", [x])),
  LeakyRelu: unary((n, x) => composite(n, "leaky_relu", [x], { alpha: n.attr.float("alpha", 0.01) })),
  Elu: unary((n, x) => composite(n, "elu", [x], { alpha: n.attr.float("alpha", 1) })),
  Softplus: unary((n, x) => {
    // log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), without overflow.
    const tail = n.emit("log", [n.emit("add", [n.scalar(1), n.emit("exp", [n.emit("neg", [n.emit("abs", [x])])])])]);
    return n.emit("add", [n.emit("max", [x, n.scalar(0)]), tail]);
  }),
  HardSigmoid: unary((n, x) => {
    const y = n.emit("add", [n.emit("mul", [x, n.scalar(n.attr.float("alpha", 0.2))]), n.scalar(n.attr.float("beta", 0.5))]);
    return n.emit("min", [n.emit("max", [y, n.scalar(0)]), n.scalar(1)]);
  }),
  Gelu: unary((n, x) => {
    const approximate = n.attr.string("approximate", "none");
    if (approximate === "none") return composite(n, "gelu", [x]);
    if (approximate !== "tanh") unsupported(`${n.where}: approximate = ${approximate}`);
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    const cube = n.emit("mul", [n.emit("mul", [x, x]), x]);
    const inner = n.emit("mul", [n.scalar(Math.sqrt(2 / Math.PI)), n.emit("add", [x, n.emit("mul", [n.scalar(0.044715), cube])])]);
    const phi = n.emit("add", [n.scalar(1), n.emit("tanh", [inner])]);
    return n.emit("mul", [n.emit("mul", [n.scalar(0.5), x]), phi]);
  }),
  Identity: (n) => [n.input(0)],
  Add: arith("add"),
  Sub: arith("sub"),
  Mul: arith("mul"),
  Div: arith("div"),
  Pow: (n) => {
    const x = n.input(0);
    if (!isFloat(dtypeOfTerm(x)) && (x.kind === "dynamic" || n.input(1).kind === "dynamic"))
      unsupported(`${n.where}: integer Pow at run time (float32 runtime)`);
    return [out(n.emit("pow", [n.value(x), n.value(n.input(1))]), dtypeOfTerm(x))];
  },
  Mod: mod,
  Max: variadic("max"),
  Min: variadic("min"),
  Sum: variadic("add"),
  Mean: variadic("add", true),
  Equal: compare("eq"),
  Less: compare("lt"),
  LessOrEqual: compare("le"),
  Greater: compare("lt", true),
  GreaterOrEqual: compare("le", true),
  Not: (n) => [out(n.emit("eq", [n.value(n.input(0)), n.scalar(0)]), "bool")],
  And: (n) => [out(n.emit("mul", [n.value(n.input(0)), n.value(n.input(1))]), "bool")],
  Or: (n) => [out(n.emit("max", [n.value(n.input(0)), n.value(n.input(1))]), "bool")],
  Xor: (n) => [out(n.emit("select", [n.emit("eq", [n.value(n.input(0)), n.value(n.input(1))]), n.scalar(0), n.scalar(1)]), "bool")],
  Where: (n) => {
    const dt = dtypeOfTerm(n.input(1));
    return [out(n.emit("select", [n.value(n.input(0)), n.value(n.input(1)), n.value(n.input(2))]), dt)];
  },
  Clip: (n) => {
    const x = n.input(0);
    let y = n.value(x);
    const lo = n.opset >= 11 ? n.optional(1) : undefined;
    const hi = n.opset >= 11 ? n.optional(2) : undefined;
    const min = lo ? n.value(lo) : n.attr.has("min") ? n.scalar(n.attr.float("min", 0)) : undefined;
    const max = hi ? n.value(hi) : n.attr.has("max") ? n.scalar(n.attr.float("max", 0)) : undefined;
    if (min) y = n.emit("max", [y, min]);
    if (max) y = n.emit("min", [y, max]);
    return [out(y, dtypeOfTerm(x))];
  },
  Cast: (n) => {
    const to = dtypeOf(n.attr.int("to", 1));
    if (to.startsWith("dtype ") || to === "string") unsupported(`${n.where}: cast to ${to}`);
    return castTo(n, n.input(0), to as OnnxDType);
  },
  CastLike: (n) => castTo(n, n.input(0), dtypeOfTerm(n.input(1))),
  Softmax: softmaxLike("softmax"),
  LogSoftmax: softmaxLike("log_softmax"),
};
