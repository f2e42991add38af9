import type { Attrs, Value } from "../ir/graph.js";
import type { Dim } from "../ir/types.js";
import { CONV_LAYERS } from "./conv-layers.js";
import { MODE_LAYERS } from "./mode-layers.js";
import { RECURRENT } from "./recurrent.js";
import { opDef } from "../ir/ops/registry.js";
import { OP_NAMES } from "../ir/ops/types.js";
import type { Emit, FunctionDef, KwValue, LayerCtx } from "./function-def.js";

const constant = (emit: Emit, value: number) => emit("const", [], { value });

/** An `ints` argument as a list (`axis = 1` is `[1]`). */
const list = (v: KwValue | undefined): number[] | undefined => (v === undefined ? undefined : typeof v === "number" ? [v] : (v as number[]));


/** log_softmax along one axis: z - log(sum(exp(z))) with z = x - max(x), stable for large logits. */
function logSoftmax(emit: Emit, x: Value, axis: number): Value {
  const z = emit("sub", [x, shiftOf(emit, x, axis)]);
  return emit("sub", [z, emit("log", [emit("sum", [emit("exp", [z])], { axes: [axis], keepdims: true })])]);
}

/**
 * The max along `axis` that softmax and log_softmax subtract so exp never overflows: their value
 * does not depend on it, so neither does their gradient (stop_gradient spares autodiff the terms).
 */
function shiftOf(emit: Emit, x: Value, axis: number): Value {
  return emit("stop_gradient", [emit("max_reduce", [x], { axes: [axis], keepdims: true })]);
}

/** `zeros(shape)`, `ones(shape)`, `full(shape, value)`: a constant tensor (dims may be symbolic: `[B, 16]`). */
const constructor = (fill?: number): FunctionDef => ({
  params: [],
  statics: [{ name: "shape", kind: "shape" }, ...(fill === undefined ? [{ name: "value", kind: "number" as const }] : [])],
  kwargs: {},
  lower: (emit, _args, kw, _span, layer) => {
    const shape = (kw["shape"] as Dim[]).map((d) => (typeof d === "string" ? layer.symbol(d) : d));
    return emit("broadcast", [constant(emit, fill ?? (kw["value"] as number))], { shape });
  },
});

/**
 * The targets of a classification over the last axis of `logits` as one-hot rows: given as such
 * (the logits' shape), or as class ids with one axis less (PyTorch's form: i32, or f32 holding
 * whole numbers, as a label data column of one value per row does), turned into rows by comparing
 * with each class index. An id outside 0..C-1 gives a row of zeros. Any other shape is NC3021.
 */
export function classTargets(emit: Emit, logits: Value, target: Value, layer: Pick<LayerCtx, "shape" | "error">): Value | undefined {
  const ls = layer.shape(logits);
  const ts = layer.shape(target);
  if (!ls || !ts) return target; // infer-shapes reports why a shape is unknown
  const classes = ls.at(-1);
  const width = ts.at(-1);
  // NOTE: one-hot rows whose width is not the logits' would be a broadcast error in `mul`; say what was meant.
  const oneHot = ts.length === ls.length && !(typeof width === "number" && typeof classes === "number" && width !== classes);
  if (oneHot) return target;
  if (ts.length !== ls.length - 1 || typeof classes !== "number") {
    const ids = ls.slice(0, -1).join(", ");
    layer.error("NC3021", {
      op: "cross_entropy",
      expected: `one-hot rows [${ls.join(", ")}] or class ids [${ids}]${typeof classes === "number" ? "" : " (with a known number of classes)"}`,
      operand: "its target",
      got: `[${ts.join(", ")}]`,
    });
    return undefined;
  }
  const column = emit("reshape", [target], { shape: [...ts, 1] });
  const index = emit("iota", [], { shape: [classes], axis: 0 });
  return emit("select", [emit("eq", [column, index]), constant(emit, 1), constant(emit, 0)]);
}

/** The primitives a `.net` file calls by name (`exp(x)`, `maximum(a, b)`), as their registry entries name them. */
const REGISTRY_CALLS: Record<string, FunctionDef> = Object.fromEntries(
  OP_NAMES.map((op) => [op, opDef(op).call] as const).flatMap(([op, call]) => (call ? [[call.name, { params: call.params, kwargs: {}, lower: (emit, args) => emit(op, args) } satisfies FunctionDef]] : [])),
);

const reduction = (op: string): FunctionDef => ({
  params: ["x"],
  kwargs: { axis: "ints", keepdims: "bool" },
  lower: (emit, [x], kw) => {
    const attrs: Attrs = { keepdims: kw["keepdims"] === true };
    const axis = kw["axis"];
    if (axis !== undefined) attrs["axes"] = typeof axis === "number" ? [axis] : (axis as number[]);
    return emit(op, [x!], attrs);
  },
});

/**
 * Every callable name. Composites lower to primitives here, so autodiff and fusion only ever
 * see primitives.
 */
export const FUNCTIONS: Record<string, FunctionDef> = {
  ...RECURRENT,
  ...CONV_LAYERS,
  ...MODE_LAYERS,
  zeros: constructor(0),
  ones: constructor(1),
  full: constructor(),
  ...REGISTRY_CALLS,
  sum: reduction("sum"),
  mean: reduction("mean"),
  max: reduction("max_reduce"),
  relu: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => emit("max", [x!, emit("const", [], { value: 0 })]),
  },
  square: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => emit("mul", [x!, x!]),
  },
  softmax: {
    params: ["x"],
    kwargs: { axis: "int" },
    // NOTE: shifted by the max along the axis, so exp never overflows.
    lower: (emit, [x], kw) => {
      const axes = [(kw["axis"] as number | undefined) ?? -1];
      const e = emit("exp", [emit("sub", [x!, shiftOf(emit, x!, axes[0]!)])]);
      return emit("div", [e, emit("sum", [e], { axes, keepdims: true })]);
    },
  },
  log_softmax: {
    params: ["x"],
    kwargs: { axis: "int" },
    lower: (emit, [x], kw) => logSoftmax(emit, x!, (kw["axis"] as number | undefined) ?? -1),
  },
  leaky_relu: {
    params: ["x"],
    kwargs: { alpha: "number" },
    lower: (emit, [x], kw) => emit("max", [x!, emit("mul", [x!, constant(emit, (kw["alpha"] as number | undefined) ?? 0.01)])]),
  },
  elu: {
    params: ["x"],
    kwargs: { alpha: "number" },
    // alpha·(exp(min(x, 0)) - 1) for x <= 0: the min keeps exp from overflowing on the unused branch.
    lower: (emit, [x], kw) => {
      const zero = constant(emit, 0);
      const neg = emit("mul", [
        constant(emit, (kw["alpha"] as number | undefined) ?? 1),
        emit("sub", [emit("exp", [emit("min", [x!, zero])]), constant(emit, 1)]),
      ]);
      return emit("select", [emit("lt", [zero, x!]), x!, neg]);
    },
  },
  /** GELU, exact form: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
  gelu: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => {
      const phi = emit("add", [constant(emit, 1), emit("erf", [emit("mul", [x!, constant(emit, Math.SQRT1_2)])])]);
      return emit("mul", [emit("mul", [constant(emit, 0.5), x!]), phi]);
    },
  },
  /** Cross-entropy of logits against target probabilities (one-hot rows), averaged over rows. */
  cross_entropy: {
    params: ["logits", "target"],
    kwargs: {},
    lower: (emit, [logits, target], _kw, _span, layer) => {
      const rows = classTargets(emit, logits!, target!, layer);
      if (!rows) return undefined;
      const perRow = emit("sum", [emit("mul", [rows, logSoftmax(emit, logits!, -1)])], { axes: [-1], keepdims: false });
      return emit("neg", [emit("mean", [perRow], { keepdims: false })]);
    },
  },
  /** Binary cross-entropy of probabilities against 0/1 targets; logs are clamped at 1e-7. */
  binary_cross_entropy: {
    params: ["prediction", "target"],
    kwargs: {},
    lower: (emit, [p, t]) => {
      const eps = constant(emit, 1e-7);
      const one = constant(emit, 1);
      const logP = emit("log", [emit("max", [p!, eps])]);
      const log1mP = emit("log", [emit("max", [emit("sub", [one, p!]), eps])]);
      const ll = emit("add", [emit("mul", [t!, logP]), emit("mul", [emit("sub", [one, t!]), log1mP])]);
      return emit("neg", [emit("mean", [ll], { keepdims: false })]);
    },
  },
  /**
   * A fully connected layer: x @ weight + bias, then an optional activation. The weight is
   * [in, units] with `in` taken from x by infer-shapes; Glorot-uniform weight, zero bias (Keras's defaults).
   */
  dense: {
    params: ["x"],
    statics: [{ name: "units", kind: "size" }],
    kwargs: { activation: "function", use_bias: "bool" },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const n = kw["units"] as number;
      let y = emit("matmul", [x!, layer.param("weight", [`${layer.instance}.in`, n], { kind: "xavier", options: {} })]);
      if (kw["use_bias"] !== false) y = emit("add", [y, layer.param("bias", [n], { kind: "zeros", options: {} })]);
      const act = kw["activation"];
      return typeof act === "string" ? layer.apply(act, y) : y;
    },
  },
  /**
   * Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) · gamma + beta, with
   * gamma = 1 and beta = 0 at start, sized by infer-shapes from x's last dim.
   */
  layernorm: {
    params: ["x"],
    kwargs: { eps: "number" },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const axes = [-1];
      const centred = emit("sub", [x!, emit("mean", [x!], { axes, keepdims: true })]);
      const variance = emit("mean", [emit("mul", [centred, centred])], { axes, keepdims: true });
      const eps = constant(emit, (kw["eps"] as number | undefined) ?? 1e-5);
      const normed = emit("div", [centred, emit("sqrt", [emit("add", [variance, eps])])]);
      const features = `${layer.instance}.features`;
      const gamma = layer.param("gamma", [features], { kind: "ones", options: {} });
      const beta = layer.param("beta", [features], { kind: "zeros", options: {} });
      return emit("add", [emit("mul", [normed, gamma]), beta]);
    },
  },
  /** Permutes axes (`perm = [1, 0]`); without `perm`, reverses them. */
  transpose: {
    params: ["x"],
    kwargs: { perm: "ints" },
    lower: (emit, [x], kw) => emit("transpose", [x!], kw["perm"] === undefined ? {} : { perm: list(kw["perm"])! }),
  },
  /** `x[start:end:step]` on `axis` (default: the leading axes); negative indices count from the end. */
  slice: {
    params: ["x"],
    statics: [
      { name: "start", kind: "ints" },
      { name: "end", kind: "ints" },
    ],
    kwargs: { axis: "ints", step: "ints" },
    lower: (emit, [x], kw) => {
      const attrs: Attrs = { starts: list(kw["start"])!, ends: list(kw["end"])! };
      if (kw["axis"] !== undefined) attrs["axes"] = list(kw["axis"])!;
      if (kw["step"] !== undefined) attrs["steps"] = list(kw["step"])!;
      return emit("slice", [x!], attrs);
    },
  },
  /** Constant padding: `pads = [before, after, ...]` pairs for the trailing axes, filled with `value`. */
  pad: {
    params: ["x"],
    statics: [{ name: "pads", kind: "ints" }],
    kwargs: { value: "number" },
    lower: (emit, [x], kw) => emit("pad", [x!], { pads: list(kw["pads"])!, value: (kw["value"] as number | undefined) ?? 0 }),
  },
  /** Joins tensors along `axis` (default: the last). */
  concat: {
    params: ["x"],
    variadic: true,
    kwargs: { axis: "int" },
    lower: (emit, xs, kw) => emit("concat", xs, { axis: (kw["axis"] as number | undefined) ?? -1 }),
  },
  /** Keeps the leading axis and flattens the rest into one (their sizes must be known). */
  flatten: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => emit("reshape", [x!], { shape: [0, -1] }),
  },
  /** The same elements in a new shape; one entry may be -1 (inferred), a 0 keeps the input's dim there. */
  reshape: {
    params: ["x"],
    statics: [{ name: "shape", kind: "ints" }],
    kwargs: {},
    lower: (emit, [x], kw) => emit("reshape", [x!], { shape: list(kw["shape"])! }),
  },
  /**
   * A lookup table: integer ids [...] give rows of weight [vocab, dim] as [..., dim]. Its
   * gradient adds each row's gradients into the rows used (a scatter-add).
   */
  embedding: {
    params: ["ids"],
    statics: [
      { name: "vocab", kind: "size" },
      { name: "dim", kind: "size" },
    ],
    kwargs: {},
    layer: true,
    lower: (emit, [ids], kw, _span, layer) => {
      const dtype = layer.dtype(ids!);
      if (dtype !== undefined && dtype !== "i32") {
        layer.error("NC3021", { op: "embedding", expected: "integer ids (i32)", operand: "its input", got: dtype });
        return undefined;
      }
      const weight = layer.param("weight", [kw["vocab"] as number, kw["dim"] as number], { kind: "uniform", options: {} });
      return emit("gather", [weight, ids!], { axis: 0 });
    },
  },
  /**
   * Multi-head self-attention over [batch, time, features]: per head softmax(q·kᵀ/√d)·v, heads
   * merged and projected (q, k, v, out weights [features, features] with biases). With
   * `causal = true` step t attends only to steps up to t (a language model's mask).
   */
  attention: {
    params: ["x"],
    statics: [{ name: "heads", kind: "size" }],
    kwargs: { causal: "bool" },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const shape = layer.shape(x!);
      if (!shape) return undefined;
      const heads = kw["heads"] as number;
      const features = shape[2];
      if (shape.length !== 3) {
        layer.error("NC3004", { op: "attention", expected: "3 ([batch, time, features])", got: shape.length });
        return undefined;
      }
      if (typeof features !== "number" || heads < 1 || features % heads !== 0) {
        layer.error("NC2030", { name: layer.instance, features: String(features), heads });
        return undefined;
      }
      const dh = features / heads;
      const project = (name: string, v: Value) => {
        const w = layer.param(`${name}_weight`, [features, features], { kind: "xavier", options: {} });
        return emit("add", [emit("matmul", [v, w]), layer.param(`${name}_bias`, [features], { kind: "zeros", options: {} })]);
      };
      // [B, T, D] -> [B, H, T, D/H]
      const split = (v: Value) => emit("transpose", [emit("reshape", [v], { shape: [0, 0, heads, dh] })], { perm: [0, 2, 1, 3] });
      const q = split(project("query", x!));
      const k = split(project("key", x!));
      const v = split(project("value", x!));
      let scores = emit("mul", [emit("matmul", [q, k], { tb: true }), constant(emit, 1 / Math.sqrt(dh))]);
      if (kw["causal"] === true) {
        // NOTE: a large finite negative, not -inf: exp underflows to 0 and no inf - inf makes a NaN.
        const steps = shape[1]!;
        const key = emit("iota", [], { shape: [steps, steps], axis: 1 });
        const query = emit("iota", [], { shape: [steps, steps], axis: 0 });
        scores = emit("select", [emit("le", [key, query]), scores, constant(emit, -1e9)]);
      }
      const weights = FUNCTIONS["softmax"]!.lower(emit, [scores], { axis: -1 }, _span, layer)!;
      const merged = emit("reshape", [emit("transpose", [emit("matmul", [weights, v])], { perm: [0, 2, 1, 3] })], { shape: [0, 0, features] });
      return project("out", merged);
    },
  },
  /** Mean squared error over every element. */
  mse: {
    params: ["prediction", "target"],
    kwargs: {},
    lower: (emit, [p, t]) => {
      const diff = emit("sub", [p!, t!]);
      return emit("mean", [emit("mul", [diff, diff])], { keepdims: false });
    },
  },
};
