import { Graph, type Attrs, type Init, type Value } from "../ir/graph.js";
import type { DataColumn, OptimizerSpec, ScheduleSpec, TrainSpec } from "../ir/training.js";
import { DTYPES, formatShape, type DType, type Dim, type TensorType } from "../ir/types.js";
import type { CallExpr, Expr, NetworkDecl, Program, TrainDecl, TypeExpr } from "./ast.js";
import { suggest, type Diagnostics } from "./diagnostics.js";
import { FUNCTIONS, type KwKind, type KwValue, type LayerCtx } from "./functions.js";
import type { Span } from "./source.js";

/** The type every node has until infer-shapes runs. */
const UNTYPED: TensorType = { dtype: "f32", shape: [] };

/** What lowering produces: the forward graph (with the loss, when there is a training section). */
export interface Lowered {
  graph: Graph;
  train?: TrainSpec;
}

const INITS: Record<Init["kind"], string[]> = {
  zeros: [],
  ones: [],
  normal: ["mean", "std"],
  uniform: ["low", "high"],
  xavier: ["gain"],
  he: ["gain"],
};

const TRAIN_KEYS = ["loss", "optimizer", "epochs", "batch", "seed", "log_every", "schedule", "warmup", "l1", "l2"] as const;

/** Each optimizer's options with their defaults (Keras's and PyTorch's; `lr` is required for SGD). */
const OPTIMIZERS: Record<string, Record<string, { kind: KwKind; default?: number | boolean }>> = {
  sgd: { lr: { kind: "number" }, momentum: { kind: "number", default: 0 }, nesterov: { kind: "bool", default: false }, weight_decay: { kind: "number", default: 0 } },
  adam: {
    lr: { kind: "number", default: 0.001 },
    beta1: { kind: "number", default: 0.9 },
    beta2: { kind: "number", default: 0.999 },
    eps: { kind: "number", default: 1e-8 },
  },
  adamw: {
    lr: { kind: "number", default: 0.001 },
    beta1: { kind: "number", default: 0.9 },
    beta2: { kind: "number", default: 0.999 },
    eps: { kind: "number", default: 1e-8 },
    weight_decay: { kind: "number", default: 0.01 },
  },
};

/** Learning-rate schedules and their options. */
const SCHEDULES: Record<string, Record<string, KwKind>> = {
  constant: {},
  step: { every: "int", gamma: "number" },
  cosine: { steps: "int", min_lr: "number" },
};

/**
 * Lowers the AST to the IR: resolves names, turns calls into primitives (composites via the
 * function table), binds data columns to inputs and labels, and builds the loss. Reports user
 * errors into `d` and keeps going so independent mistakes are all reported.
 */
export function lowerProgram(p: Program, d: Diagnostics): Lowered | undefined {
  const net = p.networks[0];
  if (!net) {
    d.error("NC2009", p.span);
    return undefined;
  }
  for (const extra of p.networks.slice(1)) d.error("NC2012", extra.name.span, { name: extra.name.name });
  const l = new Lowerer(net.name.name, d);
  l.network(net);
  const train = p.trains[0] ? l.train(p.trains[0]) : undefined;
  return { graph: l.graph, train };
}

class Lowerer {
  readonly graph: Graph;
  private scope = new Map<string, { value: Value; span: Span }>();
  /** Names whose definition failed: using them reports nothing more (the first error says it). */
  private poisoned = new Set<string>();
  /** Layer instances by name, with where each was made. */
  private instances = new Map<string, Span>();

  constructor(
    name: string,
    private readonly d: Diagnostics,
  ) {
    this.graph = new Graph(name);
  }

  network(net: NetworkDecl): void {
    for (const s of net.body) {
      switch (s.kind) {
        case "input": {
          const type = this.type(s.type);
          if (type) this.define(s.name.name, s.name.span, this.graph.addArg({ role: "input", name: s.name.name }, type, s.span));
          else this.poisoned.add(s.name.name);
          break;
        }
        case "param": {
          const type = this.type(s.type);
          const init = s.init ? this.init(s.init) : { kind: "zeros" as const, options: {} };
          if (type && init)
            this.define(s.name.name, s.name.span, this.graph.addArg({ role: "param", name: s.name.name, init }, type, s.span));
          else this.poisoned.add(s.name.name);
          break;
        }
        case "let": {
          const v = this.expr(s.value);
          if (v) this.define(s.name.name, s.name.span, v);
          else this.poisoned.add(s.name.name);
          break;
        }
        case "output": {
          const declared = s.type ? this.type(s.type) : undefined;
          let v: Value | undefined;
          if (s.value) {
            v = this.expr(s.value);
            if (v) this.define(s.name.name, s.name.span, v);
            else this.poisoned.add(s.name.name);
          } else {
            v = this.lookup(s.name.name, s.name.span);
          }
          if (v) this.graph.outputs.push({ name: s.name.name, value: v, declared });
          break;
        }
      }
    }
  }

  train(t: TrainDecl): TrainSpec | undefined {
    const seen = new Map<string, Expr>();
    for (const s of t.settings) {
      if (!(TRAIN_KEYS as readonly string[]).includes(s.key.name)) {
        this.d.error("NC4002", s.key.span, { key: s.key.name, accepted: TRAIN_KEYS.join(", ") });
        continue;
      }
      if (seen.has(s.key.name)) this.d.error("NC2003", s.key.span, { name: s.key.name });
      seen.set(s.key.name, s.value);
    }
    const data = this.data(t);
    const lossExpr = seen.get("loss");
    if (!lossExpr) this.d.error("NC4001", t.span, { key: "loss" });
    else {
      const loss = this.expr(lossExpr);
      if (loss) this.graph.loss = loss;
    }
    this.regularise(seen);
    const optimizer = this.optimizer(seen.get("optimizer"), t.span);
    const schedule = this.schedule(seen.get("schedule"));
    const int = (key: string, fallback: number | undefined, min: number) => {
      const e = seen.get(key);
      if (!e) {
        if (fallback === undefined) this.d.error("NC4001", t.span, { key });
        return fallback ?? min;
      }
      const v = staticValue(e);
      if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
        this.d.error("NC4004", e.span, { key, expected: `an integer >= ${min}` });
        return min;
      }
      return v;
    };
    const rows = data[0]?.shape[0] ?? 1;
    const spec: TrainSpec | undefined = optimizer && schedule && {
      optimizer,
      schedule,
      warmup: int("warmup", 0, 0),
      epochs: int("epochs", undefined, 1),
      batch: int("batch", rows, 1),
      seed: int("seed", 0, 0),
      logEvery: int("log_every", 0, 0),
      data,
      span: t.span,
    };
    if (spec && spec.logEvery === 0) spec.logEvery = Math.max(1, Math.round(spec.epochs / 10));
    return spec;
  }

  private data(t: TrainDecl): DataColumn[] {
    const cols: DataColumn[] = [];
    for (const e of t.data) {
      const arr = this.literalArray(e.value);
      if (!arr) {
        this.poisoned.add(e.name.name);
        continue;
      }
      cols.push({ name: e.name.name, shape: arr.shape, values: Float32Array.from(arr.values), span: e.span });
    }
    for (const c of cols.slice(1)) {
      if (c.shape[0] !== cols[0]!.shape[0])
        this.d.error("NC4008", c.span, { name: c.name, got: c.shape[0]!, other: cols[0]!.name, expected: cols[0]!.shape[0]! });
    }
    const inputs = this.graph.args.filter((a) => a.arg!.role === "input");
    const batchDim: Dim = inputs[0]?.type.shape[0] ?? "B";
    for (const input of inputs) {
      const col = cols.find((c) => c.name === input.arg!.name);
      if (!col) {
        if (t.data.length && !this.poisoned.has(input.arg!.name)) this.d.error("NC4007", t.span, { name: input.arg!.name });
        continue;
      }
      const want = input.type.shape;
      const fits =
        col.shape.length === want.length && want.every((dim, i) => i === 0 || typeof dim !== "number" || dim === col.shape[i]);
      if (!fits)
        this.d.error("NC4005", col.span, {
          name: col.name,
          got: formatShape(col.shape),
          expected: formatShape(["rows", ...want.slice(1)]),
        });
    }
    for (const col of cols) {
      if (this.scope.has(col.name)) continue;
      const type: TensorType = { dtype: "f32", shape: [batchDim, ...col.shape.slice(1)] };
      this.define(col.name, col.span, this.graph.addArg({ role: "label", name: col.name }, type, col.span));
    }
    return cols;
  }

  private literalArray(e: Expr): { shape: number[]; values: number[] } | undefined {
    if (e.kind === "number") return { shape: [], values: [e.value] };
    if (e.kind === "unary" && e.operand.kind === "number") return { shape: [], values: [-e.operand.value] };
    if (e.kind !== "array") {
      this.d.error("NC4004", e.span, { key: "data", expected: "a numeric array literal" });
      return undefined;
    }
    const items = e.items.map((x) => this.literalArray(x));
    if (items.some((x) => !x)) return undefined;
    const first = items[0];
    const shape = [items.length, ...(first?.shape ?? [])];
    for (let i = 0; i < items.length; i++) {
      if (formatShape(items[i]!.shape) !== formatShape(first!.shape)) {
        this.d.error("NC4006", e.items[i]!.span, { row: i + 1, got: items[i]!.shape[0] ?? 1, expected: first!.shape[0] ?? 1 });
        return undefined;
      }
    }
    return { shape, values: items.flatMap((x) => x!.values) };
  }

  private optimizer(e: Expr | undefined, span: Span): OptimizerSpec | undefined {
    if (!e) {
      this.d.error("NC4001", span, { key: "optimizer" });
      return undefined;
    }
    const name = e.kind === "call" ? e.callee.name : e.kind === "name" ? e.name : "";
    const options = OPTIMIZERS[name];
    if (!options) {
      this.d.error("NC4003", e.kind === "call" ? e.callee.span : e.span, { name: name || "?", hint: suggest(name, Object.keys(OPTIMIZERS)) });
      return undefined;
    }
    const kinds = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, o.kind]));
    const given = e.kind === "call" ? this.kwargs(e, name, kinds) : {};
    if (!given) return undefined;
    const opt = (k: string) => (given[k] ?? options[k]!.default) as number;
    if (given["lr"] === undefined && options["lr"]!.default === undefined) {
      this.d.error("NC4004", e.span, { key: name, expected: `given a learning rate, e.g. ${name}(lr = 0.1)` });
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
      weightDecay: name === "adamw" ? opt("weight_decay") : 0,
      span: e.span,
    };
  }

  private schedule(e: Expr | undefined): ScheduleSpec | undefined {
    if (!e) return { kind: "constant" };
    const name = e.kind === "call" ? e.callee.name : e.kind === "name" ? e.name : "";
    const kinds = SCHEDULES[name];
    if (!kinds) {
      this.d.error("NC4011", e.kind === "call" ? e.callee.span : e.span, { name: name || "?", accepted: Object.keys(SCHEDULES).join(", ") });
      return undefined;
    }
    const kw = e.kind === "call" ? this.kwargs(e, name, kinds) : {};
    if (!kw) return undefined;
    const missing = Object.keys(kinds).filter((k) => !(k in kw) && k !== "min_lr");
    if (missing.length) {
      this.d.error("NC2014", e.span, { name, arg: missing[0]! });
      return undefined;
    }
    if (name === "step") return { kind: "step", every: Math.max(1, kw["every"] as number), gamma: kw["gamma"] as number };
    if (name === "cosine") return { kind: "cosine", steps: Math.max(1, kw["steps"] as number), minLr: (kw["min_lr"] as number | undefined) ?? 0 };
    return { kind: "constant" };
  }

  /** `l1 = a`, `l2 = b`: adds a·Σ|p| and b·Σp² over every param to the loss (so the logged loss includes them). */
  private regularise(seen: Map<string, Expr>): void {
    for (const key of ["l1", "l2"] as const) {
      const e = seen.get(key);
      if (!e) continue;
      const v = staticValue(e);
      if (typeof v !== "number" || v < 0) {
        this.d.error("NC4004", e.span, { key, expected: "a number >= 0" });
        continue;
      }
      if (!this.graph.loss || v === 0) continue;
      const emit = this.emitAt(e.span);
      for (const p of this.graph.params) {
        const mag = key === "l1" ? emit("abs", [p]) : emit("mul", [p, p]);
        const term = emit("mul", [emit("const", [], { value: v }), emit("sum", [mag], { keepdims: false })]);
        this.graph.loss = emit("add", [this.graph.loss, term]);
      }
    }
  }

  private type(t: TypeExpr): TensorType | undefined {
    if (!(DTYPES as readonly string[]).includes(t.dtype.name)) {
      this.d.error("NC2011", t.dtype.span, { name: t.dtype.name, accepted: DTYPES.join(", ") });
      return undefined;
    }
    return { dtype: t.dtype.name as DType, shape: t.dims.map((x) => x.value) };
  }

  private init(e: Expr): Init | undefined {
    const name = e.kind === "name" ? e.name : e.kind === "call" ? e.callee.name : "";
    const span = e.kind === "call" ? e.callee.span : e.span;
    if (!(name in INITS)) {
      this.d.error("NC2007", span, { name: name || "?", hint: suggest(name, Object.keys(INITS)) });
      return undefined;
    }
    const kind = name as Init["kind"];
    if (e.kind !== "call") return { kind, options: {} };
    const kinds = Object.fromEntries(INITS[kind].map((k) => [k, "number" as KwKind]));
    const kw = this.kwargs(e, name, kinds);
    return kw && { kind, options: kw as Record<string, number> };
  }

  private define(name: string, span: Span, value: Value): void {
    const prior = this.scope.get(name);
    if (prior) {
      this.d.error("NC2003", span, { name }).notes.push({ message: "first defined here", span: prior.span });
      return;
    }
    this.scope.set(name, { value, span });
  }

  private lookup(name: string, span: Span): Value | undefined {
    const v = this.scope.get(name);
    if (!v && !this.poisoned.has(name)) this.d.error("NC2001", span, { name, hint: suggest(name, this.scope.keys()) });
    return v?.value;
  }

  private emitAt(span: Span) {
    return (op: string, inputs: Value[], attrs = {}) => this.graph.addNode(op, inputs, attrs, UNTYPED, span, "forward");
  }

  private expr(e: Expr): Value | undefined {
    const emit = this.emitAt(e.span);
    switch (e.kind) {
      case "number":
        return emit("const", [], { value: e.value });
      case "name":
        return this.lookup(e.name, e.span);
      case "unary": {
        const x = this.expr(e.operand);
        return x && emit("neg", [x]);
      }
      case "binary": {
        const a = this.expr(e.left);
        const b = this.expr(e.right);
        if (!a || !b) return undefined;
        const op = { "+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul" }[e.op];
        return emit(op, [a, b]);
      }
      case "array":
        this.d.error("NC2006", e.span, { arg: "array literal", name: "expression", expected: "used only in a data block" });
        return undefined;
      case "call":
        return this.call(e);
    }
  }

  private call(e: CallExpr): Value | undefined {
    const name = e.callee.name;
    const fn = FUNCTIONS[name];
    if (!fn) {
      this.d.error("NC2002", e.callee.span, { name, hint: suggest(name, Object.keys(FUNCTIONS)) });
      e.args.forEach((a) => this.expr(a));
      return undefined;
    }
    const statics = fn.statics ?? [];
    const nTensors = fn.params.length;
    const args = e.args.slice(0, nTensors).map((a) => this.expr(a));
    if (e.args.length < nTensors || e.args.length > nTensors + statics.length) {
      const names = [...fn.params, ...statics.map((s) => s.name)];
      const expected = statics.length ? `${nTensors} to ${names.length}` : `${nTensors}`;
      this.d.error("NC2004", e.span, { name, expected: `${expected} (${names.join(", ")})`, got: e.args.length });
      return undefined;
    }
    if (e.instance && !fn.layer) {
      this.d.error("NC2013", e.instance.span, { name });
      return undefined;
    }
    const kinds = { ...fn.kwargs, ...Object.fromEntries(statics.map((s) => [s.name, s.kind])) };
    const positional = e.args.slice(nTensors).map((value, i) => ({ name: { name: statics[i]!.name, span: value.span }, value, span: value.span }));
    const kw = this.kwargs({ ...e, kwargs: [...positional, ...e.kwargs] }, name, kinds);
    if (!kw || args.some((a) => !a)) return undefined;
    const missing = statics.filter((s) => !(s.name in kw));
    if (missing.length) {
      this.d.error("NC2014", e.span, { name, arg: missing[0]!.name });
      return undefined;
    }
    let instance = "";
    if (fn.layer) {
      instance = e.instance?.name ?? this.numberedInstance(name);
      const prior = this.instances.get(instance);
      if (prior) {
        this.d.error("NC2003", e.instance?.span ?? e.span, { name: instance }).notes.push({ message: "first defined here", span: prior });
        return undefined;
      }
      this.instances.set(instance, e.instance?.span ?? e.span);
    }
    const emit = this.emitAt(e.span);
    return fn.lower(emit, args as Value[], kw, e.span, this.layerCtx(instance, e.span, emit));
  }

  /** `dense1`, `dense2`, ...: the first number no instance has taken yet. */
  private numberedInstance(layer: string): string {
    let n = 1;
    while (this.instances.has(`${layer}${n}`)) n++;
    return `${layer}${n}`;
  }

  /** What a layer's lowering may do: declare `instance.param` params and apply functions by name. */
  private layerCtx(instance: string, span: Span, emit: (op: string, ins: Value[], attrs?: Attrs) => Value): LayerCtx {
    return {
      instance,
      param: (name, shape, init) => this.graph.addArg({ role: "param", name: `${instance}.${name}`, init }, { dtype: "f32", shape }, span),
      apply: (fnName, x) => FUNCTIONS[fnName]!.lower(emit, [x], {}, span, this.layerCtx(instance, span, emit)),
    };
  }

  private kwargs(e: CallExpr, name: string, kinds: Record<string, KwKind>): Record<string, KwValue> | undefined {
    const out: Record<string, KwValue> = {};
    let ok = true;
    for (const k of e.kwargs) {
      const kind = kinds[k.name.name];
      if (!kind) {
        const accepted = Object.keys(kinds);
        this.d.error("NC2005", k.name.span, { name, arg: k.name.name, accepted: accepted.length ? accepted.join(", ") : "no keyword arguments" });
        ok = false;
        continue;
      }
      if (k.name.name in out) {
        this.d.error("NC2010", k.name.span, { arg: k.name.name });
        ok = false;
        continue;
      }
      const v = kind === "function" && k.value.kind === "name" ? k.value.name : staticValue(k.value);
      if (kind === "function") {
        const f = typeof v === "string" ? FUNCTIONS[v] : undefined;
        if (!f || f.params.length !== 1 || f.layer || (f.statics ?? []).length) {
          const unary = Object.entries(FUNCTIONS).filter(([, d]) => d.params.length === 1 && !d.layer && !(d.statics ?? []).length);
          this.d.error("NC2006", k.value.span, {
            arg: k.name.name,
            name,
            expected: `a one-argument function${typeof v === "string" ? suggest(v, unary.map(([n]) => n)) : ""} (${unary.map(([n]) => n).join(", ")})`,
          });
          ok = false;
          continue;
        }
        out[k.name.name] = v!;
        continue;
      }
      const fits =
        (kind === "number" && typeof v === "number") ||
        (kind === "int" && typeof v === "number" && Number.isInteger(v)) ||
        (kind === "bool" && typeof v === "boolean") ||
        (kind === "ints" && (Number.isInteger(v) || (Array.isArray(v) && v.every(Number.isInteger))));
      if (!fits) {
        const expected = { number: "a number", int: "an integer", bool: "true or false", ints: "an integer or a list of integers" }[kind as Exclude<KwKind, "function">];
        this.d.error("NC2006", k.value.span, { arg: k.name.name, name, expected });
        ok = false;
        continue;
      }
      out[k.name.name] = v!;
    }
    return ok ? out : undefined;
  }
}

/** The value of a literal expression (numbers, -numbers, true/false, lists of numbers), if it is one. */
function staticValue(e: Expr): KwValue | undefined {
  switch (e.kind) {
    case "number":
      return e.value;
    case "unary": {
      const v = staticValue(e.operand);
      return typeof v === "number" ? -v : undefined;
    }
    case "name":
      return e.name === "true" ? true : e.name === "false" ? false : undefined;
    case "array": {
      const vs = e.items.map(staticValue);
      return vs.every((v) => typeof v === "number") ? (vs as number[]) : undefined;
    }
    default:
      return undefined;
  }
}
