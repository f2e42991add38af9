import { opDef } from "../ir/ops.js";
import { Graph, type Attrs, type Init, type Value } from "../ir/graph.js";
import type { TypeCheck } from "../ir/passes/pass.js";
import type { DataColumn, OptimizerSpec, ScheduleSpec, TrainSpec } from "../ir/training.js";
import { DTYPES, formatShape, type DType, type Dim, type TensorType } from "../ir/types.js";
import type { BlockDecl, CallExpr, Expr, Ident, LetStmt, NameRef, NetworkDecl, OutputDecl, ParamDecl, Program, TrainDecl, TypeExpr } from "./ast.js";
import { blockSignature, instantiateBody, PLACEHOLDERS, type BlockSignature } from "./blocks.js";
import { suggest, type Diagnostic, type Diagnostics } from "./diagnostics.js";
import { FUNCTIONS, type KwKind, type KwValue, type LayerCtx } from "./functions.js";
import { linkProgram, type BlockDef, type BlockScope, type Linked } from "./modules.js";
import type { Span } from "./source.js";

/** The type every node has until infer-shapes runs. */
const UNTYPED: TensorType = { dtype: "f32", shape: [] };

/** What lowering produces: the forward graph (with the loss, when there is a training section). */
export interface Lowered {
  graph: Graph;
  train?: TrainSpec;
  /** Types block calls expect of their inputs (and declare for their outputs), checked by infer-shapes. */
  checks: TypeCheck[];
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
 * function table, blocks by instantiating their bodies), binds data columns to inputs and labels,
 * and builds the loss. Reports user errors into `d` and keeps going so independent mistakes are
 * all reported. `linked` is the block scope with imports loaded (see `linkProgram`); without it
 * no file can be read, so every import is reported missing.
 */
export function lowerProgram(p: Program, d: Diagnostics, linked: Linked = linkProgram(p, d)): Lowered | undefined {
  const net = p.networks[0];
  if (!net) {
    d.error("NC2009", p.span);
    return undefined;
  }
  for (const extra of p.networks.slice(1)) d.error("NC2012", extra.name.span, { name: extra.name.name });
  const first = d.items.length;
  const l = new Lowerer(net.name.name, d, linked.scope);
  l.network(net);
  const train = p.trains[0] ? l.train(p.trains[0]) : undefined;
  l.checkUnusedBlocks(linked.blocks);
  dropRepeats(d, first);
  return { graph: l.graph, train, checks: l.checks };
}

/**
 * Drops diagnostics reported since `first` that repeat an earlier one exactly: a mistake inside a
 * block is found again in every instance (`repeat(3, ...)` lowers its body three times).
 */
function dropRepeats(d: Diagnostics, first: number): void {
  const key = (i: Diagnostic) => `${i.code} ${i.span?.file.path}:${i.span?.start}:${i.span?.end} ${i.message}`;
  const seen = new Set(d.items.slice(0, first).map(key));
  const kept: Diagnostic[] = [];
  for (const item of d.items.slice(first)) {
    if (seen.has(key(item))) continue;
    seen.add(key(item));
    kept.push(item);
  }
  d.items.splice(first, d.items.length - first, ...kept);
}

class Lowerer {
  readonly graph: Graph;
  private scope = new Map<string, { value: Value; span: Span }>();
  /** Names whose definition failed: using them reports nothing more (the first error says it). */
  private poisoned = new Set<string>();
  /** Layer and block instances by full name, with where each was made. */
  private instances = new Map<string, Span>();
  /** Prepended to param and instance names: "" in the network, `r1.` in the body of block instance `r1`. */
  private prefix = "";
  /** Values of synthetic argument expressions (the chained value in a `repeat`). */
  private readonly preset = new Map<Expr, Value>();
  /** Blocks being instantiated, outermost first: a block that reaches itself would never end. */
  private active: BlockDecl[] = [];
  /** Each block's checked signature (`undefined`: its declaration has errors), shared with probes. */
  private signatures = new Map<BlockDecl, BlockSignature | undefined>();
  /** Blocks instantiated at least once; the others are checked by `checkUnusedBlocks`. */
  private used = new Set<BlockDecl>();
  /** Types the frontend expects of values, for infer-shapes. */
  readonly checks: TypeCheck[] = [];

  constructor(
    name: string,
    private readonly d: Diagnostics,
    /** The blocks callable here: the main file's, or inside a block the scope of the file declaring it. */
    private blocks: BlockScope = new Map(),
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
        case "param":
          this.param(s);
          break;
        case "let":
          this.let(s);
          break;
        case "output": {
          const declared = s.type ? this.type(s.type) : undefined;
          const v = this.output(s);
          if (v) this.graph.outputs.push({ name: s.name.name, value: v, declared });
          break;
        }
      }
    }
  }

  /** `param w: ...`: a trained graph argument, named `r1.w` inside block instance `r1`. */
  private param(s: ParamDecl): void {
    const type = this.type(s.type);
    const init = s.init ? this.init(s.init) : { kind: "zeros" as const, options: {} };
    if (type && init)
      this.define(s.name.name, s.name.span, this.graph.addArg({ role: "param", name: this.prefix + s.name.name, init }, type, s.span));
    else this.poisoned.add(s.name.name);
  }

  /** `h = ...`, or `a, b = Block(...)`, which binds the block's outputs in order. */
  private let(s: LetStmt): void {
    const values = s.names.length === 1 ? [this.expr(s.value)] : this.unpack(s.value, s.names.length);
    s.names.forEach((n, i) => {
      const v = values?.[i];
      if (v) this.define(n.name, n.span, v);
      else this.poisoned.add(n.name);
    });
  }

  /** The values of `a, b = e`: only a call of a block with that many outputs gives several. */
  private unpack(e: Expr, count: number): Value[] | undefined {
    const block = e.kind === "call" ? this.blocks.get(e.callee.name) : undefined;
    if (block && e.kind === "call") return this.callBlock(block, e, count);
    const v = this.expr(e);
    if (v) this.d.error("NC2019", e.span, { name: e.kind === "call" ? e.callee.name : sourceText(e.span), got: 1, expected: count });
    return undefined;
  }

  /** The value of `output y = e` (defining `y`) or of `output y` (looking `y` up). */
  private output(s: OutputDecl): Value | undefined {
    if (!s.value) return this.lookup(s.name.name, s.name.span);
    const v = this.expr(s.value);
    if (v) this.define(s.name.name, s.name.span, v);
    else this.poisoned.add(s.name.name);
    return v;
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
        return this.preset.get(e) ?? this.lookup(e.name, e.span);
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
    if (name === "repeat") return this.repeat(e);
    const block = this.blocks.get(name);
    if (block) return this.callBlock(block, e, 1)?.[0];
    const fn = FUNCTIONS[name];
    if (!fn) {
      this.unknownCallee(e.callee);
      e.args.forEach((a) => this.expr(a));
      return undefined;
    }
    const statics = fn.statics ?? [];
    const nTensors = fn.variadic ? Math.max(e.args.length, fn.params.length) : fn.params.length;
    const args = e.args.slice(0, nTensors).map((a) => this.expr(a));
    if (e.args.length < nTensors || e.args.length > nTensors + statics.length) {
      const names = [...fn.params, ...statics.map((s) => s.name)];
      const expected = fn.variadic ? `${nTensors} or more` : statics.length ? `${nTensors} to ${names.length}` : `${nTensors}`;
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
      instance = e.instance ? this.prefix + e.instance.name : this.numberedInstance(name);
      const prior = this.instances.get(instance);
      if (prior) {
        this.d.error("NC2003", e.instance?.span ?? e.span, { name: e.instance?.name ?? instance }).notes.push({ message: "first defined here", span: prior });
        return undefined;
      }
      this.instances.set(instance, e.instance?.span ?? e.span);
    }
    const emit = this.emitAt(e.span);
    return fn.lower(emit, args as Value[], kw, e.span, this.layerCtx(instance, e.span, emit));
  }

  /** `dense1`, `dense2`, ... (`r1.dense1` inside block instance `r1`): the first number no instance has taken yet. */
  private numberedInstance(layer: string): string {
    let n = 1;
    while (this.instances.has(`${this.prefix}${layer}${n}`)) n++;
    return `${this.prefix}${layer}${n}`;
  }

  /** NC2002 (NC2015 where blocks are in scope) for a callee that is neither a function nor a block. */
  private unknownCallee(callee: Ident): void {
    const blocks = [...this.blocks.keys()];
    const hint = suggest(callee.name, [...Object.keys(FUNCTIONS), "repeat", ...blocks]);
    this.d.error(blocks.length ? "NC2015" : "NC2002", callee.span, { name: callee.name, hint });
  }

  /** A block's signature, checked (and its declaration errors reported) the first time it is needed. */
  private signature(decl: BlockDecl): BlockSignature | undefined {
    if (!this.signatures.has(decl))
      this.signatures.set(decl, blockSignature(decl, this.d, (defaults, kinds) => this.kwargs(defaults, decl.name.name, kinds)));
    return this.signatures.get(decl);
  }

  /**
   * A call of a block: tensor arguments bind its inputs in order, then static ones its parameters
   * (positionally after the tensors or by keyword; defaults fill the rest), and its body is
   * lowered as the instance `name` (given, numbered `Residual1`, or `r.0` from a repeat). `count`
   * is how many outputs the caller takes: 1 in an expression, more when a let unpacks them.
   */
  private callBlock(def: BlockDef, e: CallExpr, count: number, instanceName?: string): Value[] | undefined {
    const name = def.decl.name.name;
    const sig = this.signature(def.decl);
    this.used.add(def.decl);
    if (!sig) {
      e.args.forEach((a) => this.expr(a));
      return undefined;
    }
    const { inputs, statics, outputs } = sig;
    const tensors = e.args.slice(0, inputs.length).map((a) => this.expr(a));
    if (e.args.length < inputs.length || e.args.length > inputs.length + statics.length) {
      const names = [...inputs.map((i) => i.name.name), ...statics.map((s) => s.name)];
      const expected = statics.length ? `${inputs.length} to ${names.length}` : `${inputs.length}`;
      this.d.error("NC2004", e.span, { name, expected: `${expected} (${names.join(", ")})`, got: e.args.length });
      return undefined;
    }
    if (outputs.length !== count) {
      const names = outputs.map((o) => o.name.name).join(", ");
      if (count === 1) this.d.error("NC2018", e.span, { name, count: outputs.length, names });
      else this.d.error("NC2019", e.span, { name, got: outputs.length, expected: count });
      return undefined;
    }
    const kinds = Object.fromEntries(statics.map((s) => [s.name, s.kind]));
    const positional = e.args
      .slice(inputs.length)
      .map((value, i) => ({ name: { name: statics[i]!.name, span: value.span }, value, span: value.span }));
    const given = this.kwargs({ ...e, kwargs: [...positional, ...e.kwargs] }, name, kinds);
    if (!given || tensors.some((t) => !t)) return undefined;
    const missing = statics.find((s) => !(s.name in given) && s.default === undefined);
    if (missing) {
      this.d.error("NC2014", e.span, { name, arg: missing.name });
      return undefined;
    }
    const open = this.active.indexOf(def.decl);
    if (open >= 0) {
      const cycle = [...this.active.slice(open), def.decl].map((b) => b.name.name).join(" -> ");
      this.d.error("NC2023", e.callee.span, { name, cycle });
      return undefined;
    }
    const instance = instanceName ?? (e.instance ? this.prefix + e.instance.name : this.numberedInstance(name));
    const prior = this.instances.get(instance);
    if (prior) {
      this.d.error("NC2003", e.instance?.span ?? e.span, { name: e.instance?.name ?? instance }).notes.push({ message: "first defined here", span: prior });
      return undefined;
    }
    this.instances.set(instance, e.instance?.span ?? e.span);
    const values = Object.fromEntries(statics.map((s) => [s.name, given[s.name] ?? s.default!]));
    return this.instantiate(def, sig, tensors as Value[], values, instance, e.callee.span);
  }

  /**
   * Lowers one instance of a block body in a scope of its own, with names prefixed by the instance
   * (`r1.w`, `r1.dense1.weight`), and returns its outputs in order. Each input's declared type is
   * left for infer-shapes to check against the argument at `at` before it types the body.
   */
  private instantiate(def: BlockDef, sig: BlockSignature, tensors: Value[], statics: Record<string, KwValue>, instance: string, at: Span): Value[] | undefined {
    const block = def.decl.name.name;
    const body = instantiateBody(def.decl.body, statics, `${instance}.`, this.d, block);
    const outer = { scope: this.scope, poisoned: this.poisoned, prefix: this.prefix, blocks: this.blocks };
    this.scope = new Map();
    this.poisoned = new Set();
    this.prefix = `${instance}.`;
    this.blocks = def.scope;
    this.active.push(def.decl);
    const start = this.graph.nodes.length;
    const checks: TypeCheck[] = [];
    const outputs: (Value | undefined)[] = [];
    let next = 0;
    for (const s of body) {
      switch (s.kind) {
        case "input": {
          const value = tensors[next++]!;
          const declared = this.type(s.type);
          this.define(s.name.name, s.name.span, value);
          if (declared) checks.push({ value, declared, before: start, end: start, span: at, what: { kind: "input", name: s.name.name, block } });
          break;
        }
        case "param":
          this.param(s);
          break;
        case "let":
          this.let(s);
          break;
        case "output": {
          const declared = s.type ? this.type(s.type) : undefined;
          const value = this.output(s);
          const here = this.graph.nodes.length;
          if (value && declared)
            checks.push({ value, declared, before: here, end: here, span: s.value?.span ?? s.name.span, what: { kind: "output", name: s.name.name } });
          outputs.push(value);
          break;
        }
      }
    }
    this.active.pop();
    this.scope = outer.scope;
    this.poisoned = outer.poisoned;
    this.prefix = outer.prefix;
    this.blocks = outer.blocks;
    // NOTE: when an input's type does not fit, infer-shapes skips the whole body (up to `end`): its
    // errors would only be consequences of the one at the call.
    const end = this.graph.nodes.length;
    for (const c of checks) this.checks.push(c.what.kind === "input" ? { ...c, end } : c);
    return outputs.every((v) => v !== undefined) ? (outputs as Value[]) : undefined;
  }

  /**
   * `x |> repeat(N, Template(args))`: N instances of a block or layer, or N applications of a
   * function, each applied to the previous one's output. Instance i of the repeat `r` is `r.i`
   * (`r.0.w`, `r.1.w`, ...); an unnamed repeat is numbered `repeat1`, `repeat2`, ...
   */
  private repeat(e: CallExpr): Value | undefined {
    const [input, countExpr, template, ...extra] = e.args;
    const x0 = input && this.expr(input);
    if (!countExpr || !template || (template.kind !== "call" && template.kind !== "name") || extra.length || e.kwargs.length) {
      this.d.error("NC2021", e.span);
      return undefined;
    }
    const call: CallExpr =
      template.kind === "call" ? template : { kind: "call", callee: { name: template.name, span: template.span }, args: [], kwargs: [], span: template.span };
    const count = staticValue(countExpr);
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
      this.d.error("NC2020", countExpr.span, { got: typeof count === "number" ? String(count) : `\`${sourceText(countExpr.span)}\`` });
      return undefined;
    }
    if (call.instance) {
      this.d.error("NC2028", call.instance.span, { name: call.instance.name });
      return undefined;
    }
    const name = call.callee.name;
    const block = this.blocks.get(name);
    const fn = block ? undefined : FUNCTIONS[name];
    if (!block && !fn) {
      if (name === "repeat") this.d.error("NC2021", call.span);
      else this.unknownCallee(call.callee);
      return undefined;
    }
    if (block) {
      const sig = this.signature(block.decl);
      this.used.add(block.decl);
      if (!sig) return undefined;
      if (sig.inputs.length !== 1 || sig.outputs.length !== 1) {
        const detail = `it takes ${sig.inputs.length} input(s) and gives ${sig.outputs.length} output(s)`;
        this.d.error("NC2022", call.callee.span, { name, detail });
        return undefined;
      }
    } else if (fn!.params.length !== 1 || fn!.variadic) {
      this.d.error("NC2022", call.callee.span, { name, detail: `it takes ${fn!.variadic ? "any number of" : fn!.params.length} tensor arguments` });
      return undefined;
    }
    if (!x0) return undefined;
    const local = e.instance?.name ?? this.numberedInstance("repeat").slice(this.prefix.length);
    const full = this.prefix + local;
    const prior = this.instances.get(full);
    if (prior) {
      this.d.error("NC2003", e.instance?.span ?? e.span, { name: local }).notes.push({ message: "first defined here", span: prior });
      return undefined;
    }
    this.instances.set(full, e.instance?.span ?? e.span);
    let x = x0;
    for (let i = 0; i < count; i++) {
      // NOTE: the chained value enters the call as a synthetic argument whose value is preset.
      const chained: NameRef = { kind: "name", name: `${local}.${i}`, span: call.span };
      this.preset.set(chained, x);
      const step: CallExpr = { ...call, args: [chained, ...call.args] };
      const out = block
        ? this.callBlock(block, step, 1, `${full}.${i}`)?.[0]
        : this.call({ ...step, instance: fn!.layer ? { name: `${local}.${i}`, span: call.span } : undefined });
      this.preset.delete(chained);
      if (!out) return undefined;
      x = out;
    }
    return x;
  }

  /** Lowers every block that no call reached, in a throwaway graph, so mistakes in its body are reported too. */
  checkUnusedBlocks(defs: BlockDef[]): void {
    for (const def of defs) {
      if (this.used.has(def.decl)) continue;
      this.used.add(def.decl);
      const sig = this.signature(def.decl);
      if (!sig) continue;
      const probe = new Lowerer(def.decl.name.name, this.d, def.scope);
      probe.signatures = this.signatures;
      probe.used = this.used;
      // NOTE: static parameters without a default get a placeholder of their kind; name errors do not depend on it.
      const statics = Object.fromEntries(sig.statics.map((s) => [s.name, s.default ?? PLACEHOLDERS[s.kind]!]));
      const tensors = sig.inputs.map((i) => probe.graph.addArg({ role: "input", name: i.name.name }, UNTYPED, i.span));
      probe.instantiate(def, sig, tensors, statics, def.decl.name.name, def.decl.name.span);
    }
  }

  /** What a layer's lowering may do: declare `instance.param` params and apply functions by name. */
  private layerCtx(instance: string, span: Span, emit: (op: string, ins: Value[], attrs?: Attrs) => Value): LayerCtx {
    return {
      instance,
      param: (name, shape, init) => this.graph.addArg({ role: "param", name: `${instance}.${name}`, init }, { dtype: "f32", shape }, span),
      apply: (fnName, x) => FUNCTIONS[fnName]!.lower(emit, [x], {}, span, this.layerCtx(instance, span, emit)),
      shape: (v) => this.typeOf(v)?.shape,
      error: (code, args) => void this.d.error(code, span, args),
    };
  }

  /** Types computed during lowering, for layers that need a shape now (null: could not be typed). */
  private eagerTypes = new Map<Value, TensorType | null>();
  private eagerDims = new Map<string, Dim>();

  /**
   * The type of a value from the nodes emitted so far, by the registry's shape rules with a
   * local unifier. Errors are left to infer-shapes, which types the whole graph again.
   */
  private typeOf(v: Value): TensorType | undefined {
    const find = (d: Dim): Dim => {
      while (typeof d === "string" && this.eagerDims.has(d)) d = this.eagerDims.get(d)!;
      return d;
    };
    const resolve = (t: TensorType): TensorType => ({ dtype: t.dtype, shape: t.shape.map(find) });
    if (v.arg) return resolve(v.type);
    if (!this.eagerTypes.has(v)) {
      for (const n of this.graph.nodes) {
        if (this.eagerTypes.has(n.out)) continue;
        const ins = n.inputs.map((i) => (i.arg ? resolve(i.type) : this.eagerTypes.get(i)));
        let t: TensorType | undefined;
        if (ins.every((x): x is TensorType => !!x)) {
          let ok = true;
          t = opDef(n.op).infer(ins, n.attrs, {
            op: n.op,
            error: () => void (ok = false),
            unify: (a, b) => {
              const x = find(a);
              const y = find(b);
              if (x === y) return x;
              if (typeof x === "string") return this.eagerDims.set(x, y), y;
              if (typeof y === "string") return this.eagerDims.set(y, x), x;
              return undefined;
            },
          });
          if (!ok) t = undefined;
        }
        this.eagerTypes.set(n.out, t ?? null);
        if (n.out === v) break;
      }
    }
    const t = this.eagerTypes.get(v);
    return t ? resolve(t) : undefined;
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
        if (!f || f.params.length !== 1 || f.variadic || f.layer || (f.statics ?? []).length) {
          const unary = Object.entries(FUNCTIONS).filter(([, d]) => d.params.length === 1 && !d.variadic && !d.layer && !(d.statics ?? []).length);
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

/** The source text a span covers. */
function sourceText(span: Span): string {
  return span.file.text.slice(span.start, span.end);
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
