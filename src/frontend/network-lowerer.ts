import { Graph, NO_ATTRS, type Attrs, type Value } from "../ir/graph.js";
import type { TypeCheck } from "../ir/passes/pass.js";
import type { TrainSpec } from "../ir/training.js";
import type { TensorType } from "../ir/types.js";
import type { BlockDecl, CallExpr, Expr, Ident, InputDecl, LetStmt, NameRef, NetworkDecl, OutputDecl, ParamDecl, Stmt, TrainDecl } from "./ast.js";
import { blockSignature, instantiateBody, PLACEHOLDERS, type BlockSignature } from "./blocks.js";
import { suggest, type Diagnostics } from "../base/diagnostics.js";
import { EagerTypes } from "./eager-types.js";
import { unknownNameHint, type Feedable } from "./feed-hints.js";
import type { KwKind, KwValue, LayerCtx } from "./function-def.js";
import { FUNCTIONS } from "./functions.js";
import { lowerTrain } from "./lower-train.js";
import type { BlockDef, BlockScope } from "./modules.js";
import { sourceText, type Span } from "../base/source.js";
import { postOrder } from "./walk.js";
import { planRepeat, type RepeatScope } from "./repeat.js";
import { argCountFits, checkKwargs, resolveInit, resolveType, staticArgs, staticsGiven } from "./statics.js";

// The lowering of a network section and of every block instance it reaches (see src/frontend/lower.ts).

/** The type every node has until infer-shapes runs. */
const UNTYPED: TensorType = { dtype: "f32", shape: [] };

/** The per-step random seed's hyper arg (see `hyperValues`). */
const STEP_SEED = "step.seed";

export class Lowerer {
  readonly graph: Graph;
  private scope = new Map<string, { value: Value; span: Span }>();
  /** Names whose definition failed: using them reports nothing more (the first error says it). */
  private poisoned = new Set<string>();
  /** Layer and block instances by full name, with where each was made. */
  private instances = new Map<string, Span>();
  /** Per `prefix + layer`, the number numberedInstance gave last: numbers below it are all taken. */
  private lastNumbered = new Map<string, number>();
  /** Prepended to param and instance names: "" in the network, `r1.` in the body of block instance `r1`. */
  private prefix = "";
  /** Values of synthetic argument expressions (the chained value in a `repeat`). */
  private readonly preset = new Map<Expr, Value>();
  /** Operands lowered ahead of their parent by `expr`, waiting for it (see there). */
  private readonly early = new Map<Expr, Value | undefined>();
  /** Blocks being instantiated, outermost first: a block that reaches itself would never end. */
  private active: BlockDecl[] = [];
  /** Each block's checked signature (`undefined`: its declaration has errors), shared with probes. */
  private signatures = new Map<BlockDecl, BlockSignature | undefined>();
  /** Blocks instantiated at least once; the others are checked by `checkUnusedBlocks`. */
  private used = new Set<BlockDecl>();
  /** Types the frontend expects of values, for infer-shapes. */
  readonly checks: TypeCheck[] = [];
  /** Let values by full name (instance prefix included), readable through `compile`'s `read`. */
  readonly lets = new Map<string, Value>();
  /** What the training section feeds; set before lowering. */
  feedable: Feedable = { columns: new Map(), dataset: false };
  /** Lowering the training section (the loss and metrics), not the network. */
  private inTrain = false;
  /** Types of the values emitted so far, for layers that need a shape during lowering. */
  private readonly eager: EagerTypes;

  constructor(
    name: string,
    private readonly d: Diagnostics,
    /** The blocks callable here: the main file's, or inside a block the scope of the file declaring it. */
    private blocks: BlockScope = new Map(),
    /** Lowering a training step (see LowerMode). */
    private readonly training = true,
  ) {
    this.graph = new Graph(name);
    this.eager = new EagerTypes(this.graph);
  }

  network(net: NetworkDecl): void {
    this.statements(net.body, {
      input: (s) => {
        const type = resolveType(s.type, this.d);
        if (type) this.define(s.name.name, s.name.span, this.graph.addArg({ role: "input", name: s.name.name }, type, s.span));
        else this.poisoned.add(s.name.name);
      },
      output: (s, value, declared) => {
        if (value) this.graph.outputs.push({ name: s.name.name, value, declared });
      },
    });
  }

  /** Lowers a network's or a block body's statements; inputs and outputs differ between the two. */
  private statements(body: Stmt[], on: { input(s: InputDecl): void; output(s: OutputDecl, value: Value | undefined, declared: TensorType | undefined): void }): void {
    for (const s of body) {
      if (s.kind === "input") on.input(s);
      else if (s.kind === "param") this.param(s);
      else if (s.kind === "let") this.let(s);
      else on.output(s, this.output(s), s.type ? resolveType(s.type, this.d) : undefined);
    }
  }

  /** `param w: ...`: a trained graph argument, named `r1.w` inside block instance `r1`. */
  private param(s: ParamDecl): void {
    const type = resolveType(s.type, this.d);
    const init = s.init ? resolveInit(s.init, this.d) : { kind: "zeros" as const, options: {} };
    if (type && init)
      this.define(s.name.name, s.name.span, this.graph.addArg({ role: "param", name: this.prefix + s.name.name, init }, type, s.span));
    else this.poisoned.add(s.name.name);
  }

  /** `h = ...`, or `a, b = Block(...)`, which binds the block's outputs in order. */
  private let(s: LetStmt): void {
    const values = s.names.length === 1 ? [this.expr(s.value)] : this.unpack(s.value, s.names.length);
    s.names.forEach((n, i) => {
      const v = values?.[i];
      if (v) {
        this.define(n.name, n.span, v);
        this.lets.set(this.prefix + n.name, v);
      } else this.poisoned.add(n.name);
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

  /** Lowers the training section against this network's scope (see `lowerTrain`). */
  train(t: TrainDecl): TrainSpec | undefined {
    this.inTrain = true;
    return lowerTrain(t, {
      graph: this.graph,
      d: this.d,
      expr: (e) => this.expr(e),
      has: (name) => this.scope.has(name),
      valueOf: (name) => this.scope.get(name)?.value,
      define: (name, span, value) => this.define(name, span, value),
      isPoisoned: (name) => this.poisoned.has(name),
      poison: (name) => void this.poisoned.add(name),
      emitAt: (span) => this.emitAt(span),
      shapeOf: (v) => this.eager.typeOf(v)?.shape,
    });
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
    if (!v && !this.poisoned.has(name)) this.d.error("NC2001", span, { name, hint: this.unknownHint(name) });
    return v?.value;
  }

  /** The hint for an unknown name (see `unknownNameHint`). */
  private unknownHint(name: string): string {
    return unknownNameHint(name, { near: suggest(name, this.scope.keys()), inBlock: this.prefix !== "", inTrain: this.inTrain, feedable: this.feedable });
  }

  private emitAt(span: Span) {
    return (op: string, inputs: Value[], attrs: Attrs = NO_ATTRS) => this.graph.addNode(op, inputs, attrs, UNTYPED, span, "forward");
  }

  /**
   * Lowers an expression. The recursion below goes one level at a time: the operands it would
   * lower first (see `firstOperands`) are lowered beforehand, deepest first, by an iterative
   * walk, so a chain thousands of calls or terms long costs no stack. The results wait in
   * `early` until the recursion asks for them, in the order it would have made them.
   */
  private expr(e: Expr): Value | undefined {
    if (this.early.has(e)) {
      const v = this.early.get(e);
      this.early.delete(e);
      return v;
    }
    for (const sub of postOrder(e, (x) => this.firstOperands(x))) this.early.set(sub, this.exprOneLevel(sub));
    return this.exprOneLevel(e);
  }

  /**
   * The operands lowering `e` starts with, before any other effect, in that order: both sides of
   * a binary op, a unary op's operand, a function's or block's tensor arguments (every argument
   * of an unknown callee or of a block whose declaration has errors), the input of a `repeat`.
   */
  private firstOperands(e: Expr): readonly Expr[] {
    if (this.early.has(e)) return [];
    switch (e.kind) {
      case "unary":
        return [e.operand];
      case "binary":
        return [e.left, e.right];
      case "call": {
        const name = e.callee.name;
        if (name === "repeat") return e.args.slice(0, 1);
        const block = this.blocks.get(name);
        if (block) {
          const sig = this.signature(block.decl);
          return sig ? e.args.slice(0, sig.inputs.length) : e.args;
        }
        const fn = FUNCTIONS[name];
        if (!fn) return e.args;
        return e.args.slice(0, fn.variadic ? Math.max(e.args.length, fn.params.length) : fn.params.length);
      }
      default:
        return [];
    }
  }

  private exprOneLevel(e: Expr): Value | undefined {
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
    if (!argCountFits(e, name, nTensors, fn.params, statics, fn.variadic === true, this.d)) return undefined;
    if (e.instance && !fn.layer) {
      this.d.error("NC2013", e.instance.span, { name });
      return undefined;
    }
    // NOTE: every layer with params takes `l1`/`l2`: a penalty on its weights alone (Keras's kernel_regularizer).
    const penalties: Record<string, KwKind> = fn.layer ? { l1: "number", l2: "number" } : {};
    const kw = staticArgs(e, name, nTensors, statics, { ...fn.kwargs, ...penalties }, this.d);
    if (!kw || args.some((a) => !a) || !staticsGiven(e, name, statics, kw, this.d)) return undefined;
    let instance = "";
    if (fn.layer) {
      instance = e.instance ? this.prefix + e.instance.name : this.numberedInstance(name);
      if (!this.claimInstance(instance, e.instance?.name ?? instance, e)) return undefined;
    }
    const before = this.graph.args.length;
    // NOTE: a pipe stage's call spans from the chain's start (`x |> a |> b`); its nodes carry the
    // stage alone (`b`), so a profile or a shape error names the layer's own line.
    const emit = this.emitAt(stageSpan(e));
    const out = fn.lower(emit, args as Value[], kw, e.span, this.layerCtx(instance, e.span, emit));
    if (kw["l1"] !== undefined || kw["l2"] !== undefined) {
      const penalty = { l1: (kw["l1"] as number | undefined) ?? 0, l2: (kw["l2"] as number | undefined) ?? 0 };
      if (penalty.l1 < 0 || penalty.l2 < 0) this.d.error("NC2006", e.span, { arg: "l1/l2", name, expected: "a number >= 0" });
      // The layer's weights (rank 2 and up), not its biases or scales.
      for (const a of this.graph.args.slice(before)) if (a.arg!.role === "param" && a.type.shape.length >= 2) a.arg!.penalty = penalty;
    }
    return out;
  }

  /** `dense1`, `dense2`, ... (`r1.dense1` inside block instance `r1`): the first number no instance has taken yet. */
  private numberedInstance(layer: string): string {
    // NOTE: instances are never removed, so the search resumes where the last one ended (a
    // 5,000-layer chain of unnamed layers would otherwise try 12.5 million names).
    const base = `${this.prefix}${layer}`;
    let n = this.lastNumbered.get(base) ?? 1;
    while (this.instances.has(`${base}${n}`)) n++;
    this.lastNumbered.set(base, n);
    return `${this.prefix}${layer}${n}`;
  }

  /** Takes the instance name `full` for the call `e` (NC2003, naming it `shown`, when another instance has it). */
  private claimInstance(full: string, shown: string, e: CallExpr): boolean {
    const prior = this.instances.get(full);
    if (prior) {
      this.d.error("NC2003", e.instance?.span ?? e.span, { name: shown }).notes.push({ message: "first defined here", span: prior });
      return false;
    }
    this.instances.set(full, e.instance?.span ?? e.span);
    return true;
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
      this.signatures.set(decl, blockSignature(decl, this.d, (defaults, kinds) => checkKwargs(defaults, decl.name.name, kinds, this.d)));
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
    if (!argCountFits(e, name, inputs.length, inputs.map((i) => i.name.name), statics, false, this.d)) return undefined;
    if (outputs.length !== count) {
      const names = outputs.map((o) => o.name.name).join(", ");
      if (count === 1) this.d.error("NC2018", e.span, { name, count: outputs.length, names });
      else this.d.error("NC2019", e.span, { name, got: outputs.length, expected: count });
      return undefined;
    }
    const given = staticArgs(e, name, inputs.length, statics, {}, this.d);
    if (!given || tensors.some((t) => !t) || !staticsGiven(e, name, statics, given, this.d)) return undefined;
    const open = this.active.indexOf(def.decl);
    if (open >= 0) {
      const cycle = [...this.active.slice(open), def.decl].map((b) => b.name.name).join(" -> ");
      this.d.error("NC2023", e.callee.span, { name, cycle });
      return undefined;
    }
    const instance = instanceName ?? (e.instance ? this.prefix + e.instance.name : this.numberedInstance(name));
    if (!this.claimInstance(instance, e.instance?.name ?? instance, e)) return undefined;
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
    this.statements(body, {
      input: (s) => {
        const value = tensors[next++]!;
        const declared = resolveType(s.type, this.d);
        this.define(s.name.name, s.name.span, value);
        if (declared) checks.push({ value, declared, before: start, end: start, span: at, what: { kind: "input", name: s.name.name, block } });
      },
      output: (s, value, declared) => {
        const here = this.graph.nodes.length;
        if (value && declared) checks.push({ value, declared, before: here, end: here, span: s.value?.span ?? s.name.span, what: { kind: "output", name: s.name.name } });
        outputs.push(value);
      },
    });
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
    const x0 = e.args[0] && this.expr(e.args[0]);
    const scope: RepeatScope = {
      blocks: this.blocks,
      signature: (decl) => this.signature(decl),
      use: (decl) => void this.used.add(decl),
      unknownCallee: (callee) => this.unknownCallee(callee),
    };
    const plan = planRepeat(e, scope, this.d);
    if (!plan) return undefined;
    const { count, call, block, fn } = plan;
    if (!x0) return undefined;
    const local = e.instance?.name ?? this.numberedInstance("repeat").slice(this.prefix.length);
    const full = this.prefix + local;
    if (!this.claimInstance(full, local, e)) return undefined;
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
      const probe = new Lowerer(def.decl.name.name, this.d, def.scope, this.training);
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
      shape: (v) => this.eager.typeOf(v)?.shape,
      dtype: (v) => this.eager.typeOf(v)?.dtype,
      error: (code, args) => void this.d.error(code, span, args),
      training: this.training,
      state: (name, shape, init) => this.graph.addArg({ role: "state", name: `${instance}.${name}`, init }, { dtype: "f32", shape }, span),
      update: (state, value) => void this.graph.updates.push({ param: state, value }),
      seed: () => this.graph.argNamed(STEP_SEED) ?? this.graph.addArg({ role: "hyper", name: STEP_SEED }, { dtype: "f32", shape: [] }, span),
      symbol: (name) => this.prefix + name,
    };
  }
}

/** A call's own text: from its instance name or callee to its end (a pipe's call starts at the chain's start). */
function stageSpan(e: CallExpr): Span {
  const start = (e.instance?.span ?? e.callee.span).start;
  return start > e.span.start ? { file: e.span.file, start, end: e.span.end } : e.span;
}
