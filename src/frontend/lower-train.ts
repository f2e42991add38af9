import type { Graph, Value } from "../ir/graph.js";
import type { DataColumn, DatasetRef, OptimizerSpec, ScheduleSpec, TrainSpec } from "../ir/training.js";
import { formatShape, type Dim, type TensorType } from "../ir/types.js";
import type { Expr, TrainDecl } from "./ast.js";
import { DATASET_SHAPES } from "./dataset-shapes.js";
import { suggest, type Diagnostics } from "../base/diagnostics.js";
import type { Emit, KwKind } from "./function-def.js";
import { classTargets } from "./functions.js";
import type { Span } from "../base/source.js";
import { checkKwargs, staticValue } from "./statics.js";

/**
 * Lowers the `train { ... }` section into a TrainSpec and the graph's loss, in this order:
 *   1. settings: an unknown key is NC4002, a repeated one NC2003 (the last one counts);
 *   2. data columns: each must be a rectangular numeric literal with as many rows as the first;
 *      a column named like an input is checked against its shape, every other column becomes a
 *      `label` arg of the network's scope;
 *   3. the loss, lowered in the network's scope, so it can use the labels bound in step 2;
 *   4. `l1` / `l2` terms, added to the loss;
 *   5. the optimizer, the schedule, and the integer settings (warmup, epochs, batch, seed,
 *      log_every) with their defaults.
 * Errors go to the network's diagnostics; the spec is `undefined` when the optimizer or the
 * schedule cannot be built.
 */

const TRAIN_KEYS = [
  "loss",
  "optimizer",
  "data",
  "epochs",
  "batch",
  "seed",
  "log_every",
  "schedule",
  "warmup",
  "l1",
  "l2",
  "clip",
  "validation",
  "metrics",
] as const;

/** Metrics a training section may ask for (`metrics = [accuracy]`). */
const METRICS = ["accuracy"] as const;

/** Each optimizer's options with their defaults (Keras's and PyTorch's; `lr` is required for SGD). */
const OPTIMIZERS: Record<string, Record<string, { kind: KwKind; default?: number | boolean }>> = {
  sgd: { lr: { kind: "number" }, momentum: { kind: "number", default: 0 }, nesterov: { kind: "bool", default: false }, weight_decay: { kind: "number", default: 0 } },
  // NOTE: adam's weight_decay is PyTorch's coupled L2 (added to the gradient, so the moments see
  // it); adamw's is decoupled (subtracted from the weights beside the Adam step).
  adam: {
    lr: { kind: "number", default: 0.001 },
    beta1: { kind: "number", default: 0.9 },
    beta2: { kind: "number", default: 0.999 },
    eps: { kind: "number", default: 1e-8 },
    weight_decay: { kind: "number", default: 0 },
  },
  adamw: {
    lr: { kind: "number", default: 0.001 },
    beta1: { kind: "number", default: 0.9 },
    beta2: { kind: "number", default: 0.999 },
    eps: { kind: "number", default: 1e-8 },
    weight_decay: { kind: "number", default: 0.01 },
  },
};

/**
 * The ranges of the optimizers' rates, checked where the user wrote them: `lr = 0` trains nothing and
 * `lr = -1` climbs the loss, a momentum or beta of 1 never forgets, and eps = 0 divides by zero.
 */
const OPTION_RANGES: Record<string, { ok: (v: number) => boolean; expected: string }> = {
  lr: { ok: (v) => v > 0, expected: "a number > 0" },
  momentum: { ok: (v) => v >= 0 && v < 1, expected: "a number in [0, 1)" },
  beta1: { ok: (v) => v >= 0 && v < 1, expected: "a number in [0, 1)" },
  beta2: { ok: (v) => v >= 0 && v < 1, expected: "a number in [0, 1)" },
  eps: { ok: (v) => v > 0, expected: "a number > 0" },
  weight_decay: { ok: (v) => v >= 0, expected: "a number >= 0" },
};

/** Learning-rate schedules and their options. */
const SCHEDULES: Record<string, Record<string, KwKind>> = {
  constant: {},
  step: { every: "int", gamma: "number" },
  cosine: { steps: "int", min_lr: "number" },
};

/** What lowering the training section needs of the network it trains. */
export interface NetworkScope {
  readonly graph: Graph;
  readonly d: Diagnostics;
  /** Lowers an expression in the network's scope (the loss). */
  expr(e: Expr): Value | undefined;
  /** Whether a name is bound in the network's scope. */
  has(name: string): boolean;
  /** The value a name is bound to in the network's scope. */
  valueOf(name: string): Value | undefined;
  /** Binds a name in the network's scope (NC2003 when it is taken). */
  define(name: string, span: Span, value: Value): void;
  /** Whether a name's definition failed (using it reports nothing more). */
  isPoisoned(name: string): boolean;
  /** Marks a name whose definition failed. */
  poison(name: string): void;
  /** Emits forward nodes located at `span`. */
  emitAt(span: Span): Emit;
  /** A value's shape as far as it is known during lowering. */
  shapeOf(v: Value): Dim[] | undefined;
}

/** Lowers `train { ... }`: binds the data columns, sets `net.graph.loss` and builds the TrainSpec. */
export function lowerTrain(t: TrainDecl, net: NetworkScope): TrainSpec | undefined {
  const { d } = net;
  const seen = new Map<string, Expr>();
  for (const s of t.settings) {
    if (!(TRAIN_KEYS as readonly string[]).includes(s.key.name)) {
      d.error("NC4002", s.key.span, { key: s.key.name, accepted: TRAIN_KEYS.join(", ") });
      continue;
    }
    if (seen.has(s.key.name)) d.error("NC2003", s.key.span, { name: s.key.name });
    seen.set(s.key.name, s.value);
  }
  const datasetExpr = seen.get("data");
  if (datasetExpr && t.data.length) d.error("NC4012", datasetExpr.span);
  const dataset = datasetExpr ? bindDataset(datasetExpr, net) : undefined;
  // The dataset would have bound `labels`; the loss using it reports nothing more.
  if (datasetExpr && !dataset && !net.has("labels")) net.poison("labels");
  const data = datasetExpr ? [] : dataColumns(t, net);
  const lossExpr = seen.get("loss");
  if (!lossExpr) d.error("NC4001", t.span, { key: "loss" });
  else {
    const loss = net.expr(lossExpr);
    if (loss) net.graph.loss = loss;
  }
  regularise(seen, net);
  const metrics = lossExpr ? lowerMetrics(seen.get("metrics"), lossExpr, net) : [];
  const optimizer = lowerOptimizer(seen.get("optimizer"), t.span, d);
  const schedule = lowerSchedule(seen.get("schedule"), d);
  const int = (key: string, fallback: number | undefined, min: number) => {
    const e = seen.get(key);
    if (!e) {
      if (fallback === undefined) d.error("NC4001", t.span, { key });
      return fallback ?? min;
    }
    const v = staticValue(e);
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      d.error("NC4004", e.span, { key, expected: `an integer >= ${min}` });
      return min;
    }
    return v;
  };
  const rows = data[0]?.shape[0] ?? 1;
  const fraction = (key: string, max: number, maxText: string) => {
    const e = seen.get(key);
    if (!e) return 0;
    const v = staticValue(e);
    if (typeof v !== "number" || v < 0 || v >= max) {
      d.error("NC4004", e.span, { key, expected: `a number in [0, ${maxText})` });
      return 0;
    }
    return v;
  };
  const spec: TrainSpec | undefined = optimizer && schedule && {
    optimizer,
    schedule,
    warmup: int("warmup", 0, 0),
    epochs: int("epochs", undefined, 1),
    batch: int("batch", dataset ? 32 : rows, 1),
    seed: int("seed", 0, 0),
    logEvery: int("log_every", 0, 0),
    data,
    dataset,
    validation: fraction("validation", 1, "1"),
    clip: fraction("clip", Infinity, "∞"),
    metrics,
    span: t.span,
  };
  if (spec && spec.logEvery === 0) spec.logEvery = Math.max(1, Math.round(spec.epochs / 10));
  return spec;
}

/**
 * `data = fashion_mnist` (or `fashion_mnist(limit = 6000)`): the dataset's rows feed the
 * network's one input, and its targets become the label `labels`, one-hot over the classes
 * ([batch, classes]; for text, next-character ids one-hot over the network's output width).
 */
function bindDataset(e: Expr, net: NetworkScope): DatasetRef | undefined {
  const { d, graph } = net;
  const name = e.kind === "call" ? e.callee.name : e.kind === "name" ? e.name : "";
  const nameSpan = e.kind === "call" ? e.callee.span : e.span;
  const shape = DATASET_SHAPES[name];
  if (!shape) {
    d.error("NC4013", nameSpan, { name: name || "?", hint: suggest(name, Object.keys(DATASET_SHAPES)), accepted: Object.keys(DATASET_SHAPES).join(", ") });
    return undefined;
  }
  const kw = e.kind === "call" ? checkKwargs(e, name, { limit: "int" }, d) : {};
  if (!kw) return undefined;
  if (kw["limit"] !== undefined && (kw["limit"] as number) < 1) {
    d.error("NC4004", e.span, { key: "limit", expected: "an integer >= 1" });
    return undefined;
  }
  const inputs = graph.args.filter((a) => a.arg!.role === "input");
  if (inputs.length !== 1) {
    d.error("NC4014", e.span, { name, count: inputs.length });
    return undefined;
  }
  const input = inputs[0]!;
  const rowShape = input.type.shape.slice(1);
  const batchDim: Dim = input.type.shape[0] ?? "B";
  let labels: TensorType;
  if (shape.kind === "text") {
    const steps = rowShape[0];
    if (rowShape.length !== 1 || typeof steps !== "number") {
      d.error("NC4005", input.span, { name: input.arg!.name, got: formatShape(input.type.shape), expected: `[batch, steps] of character ids for ${name}` });
      return undefined;
    }
    labels = { dtype: "f32", shape: [batchDim, steps, "labels.classes"] };
  } else {
    const want = shape.sample.reduce((a, b) => a * b, 1);
    const got = rowShape.reduce<number | undefined>((a, b) => (a !== undefined && typeof b === "number" ? a * b : undefined), 1);
    if (got !== want) {
      d.error("NC4005", input.span, { name: input.arg!.name, got: formatShape(input.type.shape), expected: `${want} values per row (${name} rows are ${formatShape(shape.sample)})` });
      return undefined;
    }
    labels = { dtype: "f32", shape: [batchDim, shape.classes!] };
  }
  if (!net.has("labels")) net.define("labels", e.span, graph.addArg({ role: "label", name: "labels" }, labels, e.span));
  else if (net.valueOf("labels")?.arg?.role !== "label") {
    // NOTE: the runtime feeds the dataset's targets to the label arg `labels`; a network value of
    // that name (`output labels = ...`) would leave the targets nowhere to go.
    const v = net.valueOf("labels");
    d.error("NC4018", e.span, { name, what: v?.arg ? `the network's ${v.arg.role} of that name` : "a value of the network (an output or a let)" });
    return undefined;
  }
  return { name, limit: kw["limit"] as number | undefined, input: input.arg!.name, span: e.span };
}

/**
 * `metrics = [accuracy]`: extra outputs the runtime reads on the steps it reports. Accuracy is
 * the share of rows (or time steps) whose largest prediction is the target's class, `metric.accuracy`;
 * with binary cross-entropy, predictions above 0.5 against 0/1 targets.
 */
function lowerMetrics(e: Expr | undefined, lossExpr: Expr, net: NetworkScope): string[] {
  const { d, graph } = net;
  if (!e) return [];
  const items = e.kind === "array" ? e.items : [e];
  const names: string[] = [];
  for (const item of items) {
    const name = item.kind === "name" ? item.name : "";
    if (!(METRICS as readonly string[]).includes(name)) {
      d.error("NC4015", item.span, { name: name || "?", accepted: METRICS.join(", ") });
      continue;
    }
    names.push(name);
  }
  if (!names.includes("accuracy")) return names;
  const loss = lossExpr.kind === "call" ? lossExpr.callee.name : "";
  const args = lossExpr.kind === "call" ? lossExpr.args : [];
  const [pred, target] = args.map((a) => (a.kind === "name" ? net.valueOf(a.name) : undefined));
  if ((loss !== "cross_entropy" && loss !== "binary_cross_entropy") || !pred || !target) {
    d.error("NC4016", lossExpr.span, { loss: loss || "this loss" });
    return names.filter((n) => n !== "accuracy");
  }
  const emit = net.emitAt(e.span);
  const c = (value: number) => emit("const", [], { value });
  let hits: Value;
  if (loss === "cross_entropy") {
    // NOTE: class ids become one-hot rows as in the loss (whose errors were reported there).
    const rows = classTargets(emit, pred, target, { shape: (v) => net.shapeOf(v), error: () => undefined });
    if (!rows) return names.filter((n) => n !== "accuracy");
    const top = emit("eq", [pred, emit("max_reduce", [pred], { axes: [-1], keepdims: true })]);
    // NOTE: a row whose largest logit is tied counts as right when the target is among the ties.
    hits = emit("sum", [emit("select", [top, rows, c(0)])], { axes: [-1], keepdims: false });
  } else {
    hits = emit("eq", [emit("lt", [c(0.5), pred]), emit("lt", [c(0.5), target])]);
  }
  graph.outputs.push({ name: "metric.accuracy", value: emit("mean", [hits], { keepdims: false }) });
  return names;
}

/** The data columns, checked against each other and the inputs; columns that are not inputs become labels. */
function dataColumns(t: TrainDecl, net: NetworkScope): DataColumn[] {
  const { d, graph } = net;
  const cols: DataColumn[] = [];
  for (const e of t.data) {
    if (e.value.kind === "numbers") {
      // NOTE: the lexer read the values as f32 already: a number beyond its range is ±Inf here.
      const bad = e.value.values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        d.error("NC4017", e.value.span, { what: `a data value of \`${e.name.name}\` (number ${bad + 1} in reading order)`, value: "" });
        net.poison(e.name.name);
        continue;
      }
      cols.push({ name: e.name.name, shape: e.value.shape, values: e.value.values, span: e.span });
      continue;
    }
    const arr = literalArray(e.value, d);
    if (!arr) {
      net.poison(e.name.name);
      continue;
    }
    cols.push({ name: e.name.name, shape: arr.shape, values: Float32Array.from(arr.values), span: e.span });
  }
  for (const c of cols.slice(1)) {
    if (c.shape[0] !== cols[0]!.shape[0])
      d.error("NC4008", c.span, { name: c.name, got: c.shape[0]!, other: cols[0]!.name, expected: cols[0]!.shape[0]! });
  }
  const inputs = graph.args.filter((a) => a.arg!.role === "input");
  const batchDim: Dim = inputs[0]?.type.shape[0] ?? "B";
  for (const input of inputs) {
    const col = cols.find((c) => c.name === input.arg!.name);
    if (!col) {
      if (t.data.length && !net.isPoisoned(input.arg!.name)) d.error("NC4007", t.span, { name: input.arg!.name });
      continue;
    }
    const want = input.type.shape;
    const fits =
      col.shape.length === want.length && want.every((dim, i) => i === 0 || typeof dim !== "number" || dim === col.shape[i]);
    if (!fits)
      d.error("NC4005", col.span, {
        name: col.name,
        got: formatShape(col.shape),
        expected: formatShape(["rows", ...want.slice(1)]),
      });
  }
  for (const col of cols) {
    if (net.has(col.name)) continue;
    const type: TensorType = { dtype: "f32", shape: [batchDim, ...col.shape.slice(1)] };
    net.define(col.name, col.span, graph.addArg({ role: "label", name: col.name }, type, col.span));
  }
  return cols;
}

/** A nested numeric array literal as a shape and row-major values; ragged rows are NC4006. */
function literalArray(e: Expr, d: Diagnostics): { shape: number[]; values: number[] } | undefined {
  const leaf = e.kind === "number" ? e.value : e.kind === "unary" && e.operand.kind === "number" ? -e.operand.value : undefined;
  if (leaf !== undefined) {
    // NOTE: data is f32; 1e39 there was +Inf, which trained to infinite weights under a finite
    // loss (sigmoid of Inf is 1) and saved them (found by the fuzzer).
    if (!f32Finite(leaf)) {
      d.error("NC4017", e.span, { what: "a data value", value: ` ${sourceNumber(e, leaf)}` });
      return undefined;
    }
    return { shape: [], values: [leaf] };
  }
  if (e.kind !== "array") {
    d.error("NC4004", e.span, { key: "data", expected: "a numeric array literal" });
    return undefined;
  }
  const items = e.items.map((x) => literalArray(x, d));
  if (items.some((x) => !x)) return undefined;
  const first = items[0];
  const shape = [items.length, ...(first?.shape ?? [])];
  for (let i = 0; i < items.length; i++) {
    if (formatShape(items[i]!.shape) !== formatShape(first!.shape)) {
      d.error("NC4006", e.items[i]!.span, { row: i + 1, got: items[i]!.shape[0] ?? 1, expected: first!.shape[0] ?? 1 });
      return undefined;
    }
  }
  return { shape, values: items.flatMap((x) => x!.values) };
}

/** `optimizer = adam(lr = 0.01)`, its options checked and the rest filled with defaults. */
function lowerOptimizer(e: Expr | undefined, span: Span, d: Diagnostics): OptimizerSpec | undefined {
  if (!e) {
    d.error("NC4001", span, { key: "optimizer" });
    return undefined;
  }
  const name = e.kind === "call" ? e.callee.name : e.kind === "name" ? e.name : "";
  const options = OPTIMIZERS[name];
  if (!options) {
    d.error("NC4003", e.kind === "call" ? e.callee.span : e.span, { name: name || "?", hint: suggest(name, Object.keys(OPTIMIZERS)) });
    return undefined;
  }
  const kinds = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, o.kind]));
  const given = e.kind === "call" ? checkKwargs(e, name, kinds, d) : {};
  if (!given) return undefined;
  const opt = (k: string) => (given[k] ?? options[k]!.default) as number;
  // NOTE: the rates are f32 on the device: lr = 1e39 was +Inf there (found by the fuzzer).
  if (e.kind === "call")
    for (const kw of e.kwargs) {
      const v = given[kw.name.name];
      if (typeof v === "number" && !f32Finite(v)) {
        d.error("NC4017", kw.value.span, { what: `\`${kw.name.name}\``, value: ` ${String(v)}` });
        return undefined;
      }
    }
  if (given["lr"] === undefined && options["lr"]!.default === undefined) {
    d.error("NC4004", e.span, { key: name, expected: `given a learning rate, e.g. ${name}(lr = 0.1)` });
    return undefined;
  }
  for (const [key, range] of Object.entries(OPTION_RANGES)) {
    if (given[key] === undefined || range.ok(opt(key))) continue;
    const at = e.kind === "call" ? e.kwargs.find((k) => k.name.name === key)?.value.span : undefined;
    d.error("NC4004", at ?? e.span, { key, expected: range.expected });
    return undefined;
  }
  if (name === "sgd")
    return { kind: "sgd", lr: opt("lr"), momentum: opt("momentum"), nesterov: given["nesterov"] === true, weightDecay: opt("weight_decay"), span: e.span };
  return {
    kind: name as "adam" | "adamw",
    lr: opt("lr"),
    beta1: opt("beta1"),
    beta2: opt("beta2"),
    eps: opt("eps"),
    weightDecay: opt("weight_decay"),
    span: e.span,
  };
}

/** `schedule = cosine(steps = 1000)`; no schedule is a constant rate. */
function lowerSchedule(e: Expr | undefined, d: Diagnostics): ScheduleSpec | undefined {
  if (!e) return { kind: "constant" };
  const name = e.kind === "call" ? e.callee.name : e.kind === "name" ? e.name : "";
  const kinds = SCHEDULES[name];
  if (!kinds) {
    d.error("NC4011", e.kind === "call" ? e.callee.span : e.span, { name: name || "?", accepted: Object.keys(SCHEDULES).join(", ") });
    return undefined;
  }
  const kw = e.kind === "call" ? checkKwargs(e, name, kinds, d) : {};
  if (!kw) return undefined;
  const missing = Object.keys(kinds).filter((k) => !(k in kw) && k !== "min_lr");
  if (missing.length) {
    d.error("NC2014", e.span, { name, arg: missing[0]! });
    return undefined;
  }
  if (name === "step") return { kind: "step", every: Math.max(1, kw["every"] as number), gamma: kw["gamma"] as number };
  if (name === "cosine") return { kind: "cosine", steps: Math.max(1, kw["steps"] as number), minLr: (kw["min_lr"] as number | undefined) ?? 0 };
  return { kind: "constant" };
}

/**
 * `l1 = a`, `l2 = b`: adds a·Σ|p| and b·Σp² over every param to the loss (so the logged loss
 * includes them). A param whose layer set its own (`dense(10, l2 = 1e-4)`) gets that instead.
 */
function regularise(seen: Map<string, Expr>, net: NetworkScope): void {
  const { d, graph } = net;
  const global = { l1: 0, l2: 0 };
  for (const key of ["l1", "l2"] as const) {
    const e = seen.get(key);
    if (!e) continue;
    const v = staticValue(e);
    if (typeof v !== "number" || v < 0) {
      d.error("NC4004", e.span, { key, expected: "a number >= 0" });
      continue;
    }
    global[key] = v;
  }
  if (!graph.loss) return;
  for (const p of graph.params) {
    const own = p.arg!.penalty;
    for (const key of ["l1", "l2"] as const) {
      const weight = own ? own[key] : global[key];
      if (!weight) continue;
      const emit = net.emitAt(own ? p.span : seen.get(key)!.span);
      const mag = key === "l1" ? emit("abs", [p]) : emit("mul", [p, p]);
      const term = emit("mul", [emit("const", [], { value: weight }), emit("sum", [mag], { keepdims: false })]);
      graph.loss = emit("add", [graph.loss, term]);
    }
  }
}

/** Whether a number survives the trip to f32 (±3.4e38) as a finite value. */
function f32Finite(x: number): boolean {
  return Number.isFinite(Math.fround(x));
}

/** A number as the user wrote it (with its sign), for messages. */
function sourceNumber(e: Expr, value: number): string {
  return e.kind === "unary" ? `-${String(-value)}` : String(value);
}
