import { Consumers, copyArgInfo, copyAttrs, Graph, ValueSet, ValueTable, type Attrs, type Node, type Value } from "../graph.js";
import { opDef } from "../ops/registry.js";
import type { ElementwiseOp } from "../ops/types.js";
import { sameShape, type TensorType } from "../types.js";
import type { PassContext } from "./pass.js";

/**
 * simplify: cheap rewrites that shrink the step.
 * 1. Algebraic identities whose result has the operand's shape: x·1, 1·x, x+0, 0+x, x-0, -(-x),
 *    stop_gradient(x) (autodiff has run);
 *    a scalar constant reshaped to all-ones dims, when only broadcasting ops use it.
 * 1b. Scalar arithmetic is done on scalars: an elementwise op of constants is a constant (`neg 1`
 *    is -1); a broadcast of a scalar moves past an elementwise op whose other operand is a scalar,
 *    a reshape and another broadcast (`reshape(broadcast(-1, [B]) / B, [B, 1])` is
 *    `broadcast(-1 / B, [B, 1])`), so the gradient of a mean is one scalar, not a kernel over B
 *    values, and what reads it fuses with it.
 * 2. Common subexpressions: a node with the same op, inputs and attributes as an earlier one
 *    is replaced by it (constants included, so one `const 0` serves the whole graph).
 * 3. Dead code: nodes no root (output, loss, grad, update) depends on are dropped.
 */
export function simplify(src: Graph, _ctx: PassContext): Graph {
  // NOTE: the input is only read (every node, type and attribute is copied), so it needs no clone.
  const out = new Graph(src.name);
  out.typed = src.typed;
  const live = liveNodes(src);
  const users = new Consumers(src);
  const map = new ValueTable<Value>(src.idCount);
  for (const a of src.args) {
    // NOTE: types are never changed in place (passes give a value a new one), so they are shared.
    const v = out.addArg(copyArgInfo(a.arg!), a.type, a.span);
    map.set(a, v);
  }
  const cse = new CommonSubexpressions(live.size);
  const get = (v: Value) => map.get(v)!;
  const onlyBroadcastingUsers = (n: Node) => {
    for (let k = users.start(n.out); k < users.end(n.out); k++) if (!BROADCASTING.has(users.at(k).op)) return false;
    return true;
  };
  /** A node of `out` computing `op` of `ins`: folded, or found by CSE, or added. */
  const emit = (n: Node, op: string, ins: Value[], attrs: Attrs, type: TensorType): Value => {
    const folded = fold(op, ins, attrs, type, (op2, ins2, attrs2, type2) => emit(n, op2, ins2, attrs2, type2));
    if (folded) return folded;
    const prior = cse.find(op, ins, attrs);
    if (prior) return prior;
    const v = out.addNode(op, ins, attrs, type, n.span, n.origin);
    cse.add(v.producer!);
    return v;
  };
  for (const n of src.nodes) {
    if (!live.has(n)) continue;
    const ins = n.inputs.map(get);
    const same = identity(n, ins, onlyBroadcastingUsers);
    map.set(n.out, same ?? emit(n, n.op, ins, copyAttrs(n.attrs), n.out.type));
  }
  out.outputs = src.outputs.map((o) => ({ ...o, value: get(o.value) }));
  out.loss = src.loss && get(src.loss);
  out.grads = src.grads.map((x) => ({ param: get(x.param), grad: get(x.grad) }));
  out.updates = src.updates.map((u) => ({ param: get(u.param), value: get(u.value) }));
  // A second sweep drops nodes that identities or CSE left without users.
  return out.nodes.length < live.size ? dropDead(out) : out;
}

/**
 * The nodes kept so far, found by what they compute: op, (already simplified) inputs and
 * attributes. An open-addressing table of node numbers, probed from a hash of the op and the
 * input ids, so a lookup compares the rare nodes that share a slot's run, not strings built for
 * every node, and a node costs no list or map entry of its own; nodes without inputs (constants)
 * are keyed by op and attributes.
 */
class CommonSubexpressions {
  private readonly nodes: Node[] = [];
  /** Slots of node numbers plus one (0: empty), a power of two at least twice the nodes. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly sources = new Map<string, Value>();
  private readonly opHashes = new Map<string, number>();

  /** `capacity`: the most nodes that will be added. */
  constructor(capacity: number) {
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  find(op: string, ins: Value[], attrs: Attrs): Value | undefined {
    if (ins.length === 0) return this.sources.get(op + JSON.stringify(attrs));
    let key: string | undefined;
    for (let i = this.hash(op, ins) & this.mask; ; i = (i + 1) & this.mask) {
      const slot = this.slots[i]!;
      if (slot === 0) return undefined;
      const c = this.nodes[slot - 1]!;
      if (c.op !== op || !sameValues(c.inputs, ins)) continue;
      key ??= JSON.stringify(attrs);
      if (JSON.stringify(c.attrs) === key) return c.out;
    }
  }

  add(n: Node): void {
    if (n.inputs.length === 0) {
      this.sources.set(n.op + JSON.stringify(n.attrs), n.out);
      return;
    }
    if (2 * (this.nodes.length + 1) > this.slots.length) throw new Error("internal: simplify's table of nodes is full");
    this.nodes.push(n);
    let i = this.hash(n.op, n.inputs) & this.mask;
    while (this.slots[i] !== 0) i = (i + 1) & this.mask;
    this.slots[i] = this.nodes.length;
  }

  private hash(op: string, ins: Value[]): number {
    let h = this.opHashes.get(op);
    if (h === undefined) {
      h = 0;
      for (let i = 0; i < op.length; i++) h = (Math.imul(h, 31) + op.charCodeAt(i)) | 0;
      this.opHashes.set(op, h);
    }
    for (const v of ins) h = (Math.imul(h ^ v.id, 0x9e3779b1) + 0x7f4a7c15) | 0;
    // NOTE: the multiply leaves the low bits weakest; fold the high ones in before masking.
    return (h ^ (h >>> 16)) >>> 0;
  }
}

function sameValues(a: Value[], b: Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type Emit = (op: string, ins: Value[], attrs: Attrs, type: TensorType) => Value;

/** The scalar `v` broadcasts, when it is a scalar or a broadcast of one. */
function scalarOf(v: Value): Value | undefined {
  if (v.type.shape.length === 0) return v;
  const p = v.producer;
  return p?.op === "broadcast" && p.inputs[0]!.type.shape.length === 0 ? p.inputs[0] : undefined;
}

/** Step 1b: `op` of `ins` as scalar arithmetic (see the pass's comment), or undefined to keep it. */
function fold(op: string, ins: Value[], attrs: Attrs, type: TensorType, emit: Emit): Value | undefined {
  const def = opDef(op);
  if (def.kind === "elementwise") {
    const e = def as ElementwiseOp;
    if (type.shape.length === 0 && ins.length > 0 && ins.every((v) => constValue(v) !== undefined)) {
      // NOTE: a non-finite result stays computed: a literal cannot spell it the same in WGSL.
      const value = e.eval(...ins.map((v) => constValue(v)!));
      if (Number.isFinite(value)) return emit("const", [], { value }, type);
    }
    if (e.arity > 2) return undefined;
    const scalars = ins.map(scalarOf);
    if (type.shape.length === 0 || scalars.some((x) => !x) || ins.every((v) => v.type.shape.length === 0)) return undefined;
    const inner = emit(op, scalars as Value[], attrs, { dtype: type.dtype, shape: [] });
    return emit("broadcast", [inner], { shape: type.shape }, type);
  }
  if ((op === "broadcast" || op === "reshape") && ins[0]!.type.shape.length > 0) {
    const s = scalarOf(ins[0]!);
    return s ? emit("broadcast", [s], { shape: type.shape }, type) : undefined;
  }
  return undefined;
}

/** Ops whose result does not change when a [1, 1] operand is replaced by a scalar. */
const BROADCASTING = new Set(["broadcast", "add", "sub", "mul", "div", "pow", "max", "min", "lt", "le", "eq", "select"]);

function constValue(v: Value): number | undefined {
  const p = v.producer;
  return p?.op === "const" ? (p.attrs["value"] as number) : undefined;
}

function identity(n: Node, ins: Value[], onlyBroadcastingUsers: (n: Node) => boolean): Value | undefined {
  // NOTE: indexed, not a destructured parameter: unoptimised code iterates the array for that, on every node.
  const a = ins[0];
  const b = ins[1];
  const keeps = (x: Value | undefined) => x && sameShape(x.type.shape, n.out.type.shape) && x.type.dtype === n.out.type.dtype;
  switch (n.op) {
    case "mul":
      if (constValue(b!) === 1 && keeps(a)) return a;
      if (constValue(a!) === 1 && keeps(b)) return b;
      return undefined;
    case "add":
      if (constValue(b!) === 0 && keeps(a)) return a;
      if (constValue(a!) === 0 && keeps(b)) return b;
      return undefined;
    case "sub":
      return constValue(b!) === 0 && keeps(a) ? a : undefined;
    case "neg":
      return a!.producer?.op === "neg" ? a!.producer.inputs[0] : undefined;
    case "stop_gradient":
      // NOTE: simplify runs after autodiff, which was the only pass it meant anything to.
      return a;
    case "reshape":
      // A scalar constant reshaped to [1, 1, ...] broadcasts the same as the scalar itself, and
      // stays inlinable (a reshape would need a buffer to alias).
      return a!.producer?.op === "const" && n.out.type.shape.every((d) => d === 1) && onlyBroadcastingUsers(n) ? a : undefined;
    default:
      return undefined;
  }
}

/** The nodes some root depends on: a worklist walk back from the roots (no recursion, any depth). */
function liveNodes(g: Graph): { has(n: Node): boolean; size: number } {
  const live = new ValueSet(g.idCount);
  let size = 0;
  const stack = g.roots();
  while (stack.length) {
    const v = stack.pop()!;
    if (!v.producer || live.has(v)) continue;
    live.add(v);
    size++;
    const ins = v.producer.inputs;
    for (let k = 0; k < ins.length; k++) if (ins[k]!.producer && !live.has(ins[k]!)) stack.push(ins[k]!);
  }
  return { has: (n) => live.has(n.out), size };
}

function dropDead(g: Graph): Graph {
  const live = liveNodes(g);
  g.nodes = g.nodes.filter((n) => live.has(n));
  return g;
}
