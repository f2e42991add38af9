import type { Span } from "../base/source.js";
import type { Dim, TensorType } from "./types.js";

/** An attribute value on a node. */
export type AttrValue = number | boolean | string | Dim[];

/** Named attributes of a node (`{axes=[1]}`). */
export type Attrs = Record<string, AttrValue>;

/**
 * The attributes of every node that has none, shared (frozen: attributes are never changed in
 * place, only keys a node has are rewritten), so a million-node graph holds one empty object.
 */
export const NO_ATTRS: Attrs = Object.freeze({}) as Attrs;

/** A node's own copy of `attrs` (none for no attributes). */
export function copyAttrs(attrs: Attrs): Attrs {
  return attrs === NO_ATTRS ? NO_ATTRS : { ...attrs };
}

/** Which part of a training step a node belongs to; printed in dumps and used for spans of generated code. */
export type Origin = "forward" | "grad" | "update";

/**
 * How a graph argument gets its value: inputs and labels from the batch, params trained,
 * optimizer state kept across steps like params, hyper scalars (learning rate) set each step.
 */
export type ArgRole = "input" | "label" | "param" | "state" | "hyper";

/** A parameter initialiser: `xavier`, `normal(std = 0.1)`, ... */
export interface Init {
  kind: "zeros" | "ones" | "normal" | "uniform" | "xavier" | "he";
  /** Numeric options: std, mean, low, high, gain, value. */
  options: Record<string, number>;
}

/** What a graph argument is: a batch input, a training label, or a trained parameter. */
export interface ArgInfo {
  role: ArgRole;
  name: string;
  init?: Init;
  /** A param's own L1/L2 penalty (`dense(10, l2 = 1e-4)`), in place of the training section's. */
  penalty?: { l1: number; l2: number };
}

/** An SSA value: the result of one node, or a graph argument. */
export class Value {
  producer?: Node;
  arg?: ArgInfo;
  constructor(
    readonly id: number,
    public type: TensorType,
    public span: Span,
  ) {}
}

/** One primitive operation with its inputs, attributes and single result. */
export class Node {
  constructor(
    readonly op: string,
    readonly inputs: Value[],
    readonly attrs: Attrs,
    readonly out: Value,
    readonly span: Span,
    readonly origin: Origin,
  ) {}
}

/** A group of nodes that runs as one kernel, produced by the fuse pass. */
export interface Kernel {
  name: string;
  /**
   * How codegen runs it. Besides one elementwise DAG, reduction, contraction, window op or view:
   * "row", reductions over the same rows and what is computed from them, one thread a row; and
   * "multi", independent elementwise and reduce kernels as segments of one grid (fuse-merge.ts).
   */
  kind: "elementwise" | "reduce" | "contraction" | "window" | "movement" | "row" | "multi";
  /** Nodes in topological order; the last one produces the kernel's result. */
  nodes: Node[];
  /** Values read from outside the kernel, in binding order. */
  inputs: Value[];
  output: Value;
  /**
   * Members a kernel writes besides its output, bound after it: materialised values (an
   * optimizer's moments) whose readers are all in an elementwise kernel, and the results of a
   * row or multi kernel read by other kernels.
   */
  extraOutputs?: Value[];
}

/** A named result of the network; `declared` is the type the user wrote, checked by infer-shapes. */
export interface GraphOutput {
  name: string;
  value: Value;
  declared?: TensorType;
}

/** A state write at the end of a training step: `param := value`. */
export interface Update {
  param: Value;
  value: Value;
}

/** A whole program: arguments, nodes in topological order, named outputs, and the training parts. */
export class Graph {
  args: Value[] = [];
  nodes: Node[] = [];
  outputs: GraphOutput[] = [];
  loss?: Value;
  grads: { param: Value; grad: Value }[] = [];
  updates: Update[] = [];
  kernels?: Kernel[];
  /** False until infer-shapes has given every value its type. */
  typed = false;
  private nextId = 0;
  /**
   * The result types of nodes added so far, by dtype and dims: values of one type share one
   * object (types are never changed in place; a pass gives a value a new one). A training step
   * is mostly a few types repeated (every Adam update of a [16, 16] weight is 14 of them), and a
   * million values each holding a copy were a fifth of the compiler's memory.
   */
  private types = new Map<string, TensorType>();

  constructor(readonly name: string) {}

  /** A fresh value id. */
  freshId(): number {
    return this.nextId++;
  }

  /** Adds a graph argument. */
  addArg(info: ArgInfo, type: TensorType, span: Span): Value {
    const v = new Value(this.freshId(), type, span);
    v.arg = info;
    this.args.push(v);
    return v;
  }

  /** Appends a node; its result has the given type (or a placeholder until infer-shapes). */
  addNode(op: string, inputs: Value[], attrs: Attrs, type: TensorType, span: Span, origin: Origin): Value {
    const out = new Value(this.freshId(), this.shared(type), span);
    const node = new Node(op, inputs, attrs, out, span, origin);
    out.producer = node;
    this.nodes.push(node);
    return out;
  }

  /** The type equal to `type` that this graph's values hold, `type` itself if it is the first. */
  private shared(type: TensorType): TensorType {
    let key: string = type.dtype;
    for (const d of type.shape) key += typeof d === "number" ? `,${d}` : `,'${d}`;
    const known = this.types.get(key);
    if (known) return known;
    this.types.set(key, type);
    return type;
  }

  /** Params in declaration order. */
  get params(): Value[] {
    return this.args.filter((a) => a.arg!.role === "param");
  }

  /** Args that persist across steps: params and optimizer state. */
  get persistent(): Value[] {
    return this.args.filter((a) => a.arg!.role === "param" || a.arg!.role === "state");
  }

  /** Args set for every step: batch inputs, labels and hyper scalars. */
  get perStep(): Value[] {
    return this.args.filter((a) => a.arg!.role === "input" || a.arg!.role === "label" || a.arg!.role === "hyper");
  }

  /** An argument by name. */
  argNamed(name: string): Value | undefined {
    return this.args.find((a) => a.arg!.name === name);
  }

  /** Every value the step must keep past its kernels: outputs, loss, grads, updates. */
  roots(): Value[] {
    // NOTE: plain loops, not spreads: this runs after every pass on graphs of 100,000 updates.
    // NOTE: indexed loops: for-of allocates an iterator result per step until the code is optimised.
    const out: Value[] = [];
    for (let i = 0; i < this.outputs.length; i++) out.push(this.outputs[i]!.value);
    if (this.loss) out.push(this.loss);
    for (let i = 0; i < this.grads.length; i++) out.push(this.grads[i]!.grad);
    for (let i = 0; i < this.updates.length; i++) out.push(this.updates[i]!.value);
    return out;
  }

  /**
   * Values a step must write to memory: outputs, the loss and the updates. Gradients are kept in
   * memory only when nothing consumes them (a graph without an optimizer), so with an optimizer
   * they fuse into the update kernels.
   */
  materialized(): Value[] {
    const keep: Value[] = [];
    for (let i = 0; i < this.outputs.length; i++) keep.push(this.outputs[i]!.value);
    if (this.loss) keep.push(this.loss);
    for (let i = 0; i < this.updates.length; i++) keep.push(this.updates[i]!.value);
    if (!this.updates.length) for (let i = 0; i < this.grads.length; i++) keep.push(this.grads[i]!.grad);
    return keep;
  }

  /** One more than the largest id {@link freshId} has handed out: a size for tables indexed by id. */
  get idCount(): number {
    return this.nextId;
  }

  /**
   * A copy that shares this graph's nodes and values, for a pass that only adds nodes and args
   * (autodiff, the optimizer): this graph stays as it was, and a large graph is not copied value
   * by value (most of the compile time of a 30,000-layer program went into such copies and their
   * garbage). A pass that changes a node or a value uses {@link clone}.
   */
  derive(): Graph {
    const g = new Graph(this.name);
    g.typed = this.typed;
    g.nextId = this.nextId;
    g.types = this.types;
    g.args = this.args.slice();
    g.nodes = this.nodes.slice();
    g.outputs = this.outputs.map((o) => ({ ...o }));
    g.loss = this.loss;
    g.grads = this.grads.map((x) => ({ ...x }));
    g.updates = this.updates.map((u) => ({ ...u }));
    g.kernels = this.kernels?.map((k) => ({ ...k, nodes: k.nodes.slice(), inputs: k.inputs.slice() }));
    return g;
  }

  /** A deep copy: passes transform a copy so every stage's graph stays printable. */
  clone(): Graph {
    const g = new Graph(this.name);
    g.typed = this.typed;
    g.nextId = this.nextId;
    // NOTE: a table indexed by value id, not a Map keyed by values: this runs once per pass over
    // graphs of a million values, where hashing objects was a large part of the compile time.
    const map = new ValueTable<Value>(this.nextId);
    const copy = (v: Value): Value => {
      const c = map.get(v);
      if (!c) throw new Error(`internal: value %${v.id} used before definition`);
      return c;
    };
    for (const a of this.args) {
      const v = new Value(a.id, copyType(a.type), a.span);
      v.arg = copyArgInfo(a.arg!);
      map.set(a, v);
      g.args.push(v);
    }
    const nodes = new Array<Node>(this.nodes.length);
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i]!;
      const out = new Value(n.out.id, copyType(n.out.type), n.out.span);
      const inputs = new Array<Value>(n.inputs.length);
      for (let k = 0; k < inputs.length; k++) inputs[k] = copy(n.inputs[k]!);
      const node = new Node(n.op, inputs, copyAttrs(n.attrs), out, n.span, n.origin);
      out.producer = node;
      map.set(n.out, out);
      nodes[i] = node;
    }
    g.nodes = nodes;
    g.outputs = this.outputs.map((o) => ({ ...o, value: copy(o.value) }));
    g.loss = this.loss && copy(this.loss);
    g.grads = this.grads.map((x) => ({ param: copy(x.param), grad: copy(x.grad) }));
    g.updates = this.updates.map((u) => ({ param: copy(u.param), value: copy(u.value) }));
    g.kernels = this.kernels?.map((k) => ({
      ...k,
      nodes: k.nodes.map((n) => copy(n.out).producer!),
      inputs: k.inputs.map(copy),
      output: copy(k.output),
    }));
    return g;
  }
}

/** A copy of a type that shares nothing with it. */
export function copyType(t: TensorType): TensorType {
  return { dtype: t.dtype, shape: t.shape.slice() };
}

/** A copy of an argument's description that shares nothing with it. */
export function copyArgInfo(a: ArgInfo): ArgInfo {
  const c: ArgInfo = { role: a.role, name: a.name };
  if (a.init) c.init = { kind: a.init.kind, options: { ...a.init.options } };
  if (a.penalty) c.penalty = { l1: a.penalty.l1, l2: a.penalty.l2 };
  return c;
}

/**
 * A map from the values of one graph to T, indexed by value id (ids are small dense integers, one
 * per value of a graph). Passes use it where a Map keyed by values would hash a million objects.
 * A value of another graph with the same id is a different key.
 */
export class ValueTable<T> {
  private readonly keys: (Value | undefined)[];
  private readonly items: (T | undefined)[];

  /** `size`: the expected ids, 0 to size - 1 (more still fit). */
  constructor(size = 0) {
    this.keys = new Array<Value | undefined>(size).fill(undefined);
    this.items = new Array<T | undefined>(size).fill(undefined);
  }

  get(v: Value): T | undefined {
    return this.keys[v.id] === v ? this.items[v.id] : undefined;
  }

  has(v: Value): boolean {
    return this.keys[v.id] === v;
  }

  /** The value set under this id, if any. */
  valueNumbered(id: number): Value | undefined {
    return this.keys[id];
  }

  set(v: Value, item: T): void {
    this.keys[v.id] = v;
    this.items[v.id] = item;
  }
}

/**
 * A set of the values of one graph, indexed by value id: {@link ValueTable} without the items,
 * for the passes' marks (live, needs a gradient, defined).
 */
export class ValueSet {
  private readonly keys: (Value | undefined)[];

  /** `size`: the expected ids, 0 to size - 1 (more still fit). */
  constructor(size = 0) {
    this.keys = new Array<Value | undefined>(size).fill(undefined);
  }

  has(v: Value): boolean {
    return this.keys[v.id] === v;
  }

  /** The value added under this id, if any. */
  valueNumbered(id: number): Value | undefined {
    return this.keys[id];
  }

  add(v: Value): void {
    this.keys[v.id] = v;
  }
}

/**
 * Each value's consuming nodes (a node once per operand slot that reads the value), in graph
 * order, built in two sweeps into one array (consumers of value id i at `start(i)` to `end(i)`),
 * so a graph of a million values costs two typed arrays and one list, not a list per value.
 * Only the graph's own values (ids below its idCount when built) may be asked for.
 */
export class Consumers {
  private readonly first: Int32Array;
  private readonly nodes: Node[];

  constructor(g: Graph) {
    const n = g.idCount;
    const first = new Int32Array(n + 1);
    // NOTE: indexed loops: for-of over a million nodes allocated an iterator result per step here.
    const all = g.nodes;
    let total = 0;
    for (let i = 0; i < all.length; i++) {
      const ins = all[i]!.inputs;
      for (let k = 0; k < ins.length; k++) first[ins[k]!.id + 1]!++;
      total += ins.length;
    }
    for (let i = 0; i < n; i++) first[i + 1]! += first[i]!;
    const next = first.slice(0, n);
    const nodes = new Array<Node>(total);
    for (let i = 0; i < all.length; i++) {
      const ins = all[i]!.inputs;
      for (let k = 0; k < ins.length; k++) nodes[next[ins[k]!.id]!++] = all[i]!;
    }
    this.first = first;
    this.nodes = nodes;
  }

  /** How many operand slots read `v`. */
  count(v: Value): number {
    return this.first[v.id + 1]! - this.first[v.id]!;
  }

  /** Where `v`'s consumers start in {@link at}'s numbering. */
  start(v: Value): number {
    return this.first[v.id]!;
  }

  /** Where `v`'s consumers end (exclusive). */
  end(v: Value): number {
    return this.first[v.id + 1]!;
  }

  /** The consumer at position `i` (between some value's start and end). */
  at(i: number): Node {
    return this.nodes[i]!;
  }
}
