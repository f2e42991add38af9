import { Consumers, Node, Value, ValueSet, ValueTable, type Graph, type Kernel } from "../graph.js";
import { opDef } from "../ops/registry.js";
import type { InferCtx } from "../ops/types.js";
import { sameShape } from "../types.js";
import type { PassContext } from "./pass.js";
import { mergeKernels } from "./fuse-merge.js";
import { mayRecompute, recomputeCheapValues } from "./recompute.js";

/**
 * fuse: groups nodes into kernels (jax-js's rule: an elementwise DAG plus at most one reduction).
 * 0. Cheap elementwise values read by several elementwise or reduce nodes are recomputed by each
 *    (recompute.ts), so they fuse into each reader's kernel instead of being kernels of their own.
 * 1. Visit nodes from last to first. A reduce, matmul, window, elementwise or view node that is
 *    not yet in a group starts one, rooted at itself.
 * 2. An elementwise node joins its consumers' group when every consumer is in that one group,
 *    its value is not materialised (outputs, loss, updates; see Graph.materialized), the group is
 *    elementwise or a reduction (the node becomes part of its prologue), and the group would still
 *    bind at most MAX_KERNEL_BUFFERS storage buffers.
 *    2b. A materialised elementwise node (an optimizer's moment) joins the same way when its
 *    group is elementwise with no head and has its shape: the kernel writes it as an extra output.
 *    2c. Failing that, it joins a sibling: a recent elementwise group of its shape rooted at a
 *    materialised value, with no head, that runs before n's readers (Adam's two moments).
 * 3. A matmul or a (looping) window op (conv, pool, their gradients, gather_grad) joins its
 *    consumers' group the same way when that group is elementwise and has the op's shape: the
 *    group becomes one kernel headed by that op (kind "contraction" for a matmul, "window"
 *    otherwise) with an elementwise epilogue (bias, batch-norm scale, activation, the gradient
 *    mask of an activation). An elementwise node joins such a group only as part of the
 *    epilogue, never as an operand of the head: the head reads its operands from buffers.
 *    Inline window ops (rand, gather) fuse like elementwise nodes, but their operands, too, stay
 *    outside the group.
 * 4. Views (transpose, slice, pad, concat) fuse like elementwise nodes: codegen evaluates their
 *    inputs at remapped coordinates, so a view of an input is an index expression, not a copy.
 *    A node read through a view joins only if that is its one use (so each member is computed at
 *    one index per thread, never recomputed); a matmul or window op never heads a group with a view
 *    between it and the root (the accumulator exists at one index only), and a group rooted at a view
 *    is a "movement" kernel.
 *    A concat of more inputs than a kernel can bind is first split into a chain of concats.
 * 5. Sources (constants, size, iota) are inlined where they are read and reshapes alias their
 *    input, so neither gets a kernel.
 * 6. Nodes are reordered so each kernel's nodes are contiguous, at its root's position.
 * 7. Whole kernels merge (fuse-merge.ts): reductions over the same rows, with the elementwise
 *    kernels that read them, become one row kernel; small independent kernels, one multi kernel.
 * Steps 1-5 are `startGroup` and `join` (with `joinable` deciding), step 6 `emitKernels`.
 */
export function fuse(input: Graph, _ctx: PassContext): Graph {
  // NOTE: fusing reorders nodes but changes none, so it shares them, unless a concat must be split
  // or values recomputed (step 0, kept only when it gives fewer kernels).
  // NOTE: a derived graph has the input's nodes, so the input's consumers are its own.
  const wide = input.nodes.some(isWideConcat);
  const consumers = new Consumers(input);
  const plain = group(wide ? input.clone() : input.derive(), wide ? undefined : consumers);
  if (!mayRecompute(input, consumers)) return plain;
  const g = input.clone();
  recomputeCheapValues(g);
  const copied = group(g);
  return copied.kernels!.length < plain.kernels!.length ? copied : plain;
}

/** Steps 1-6 on `g` (a graph fuse may change), which it returns; `consumers`: g's, when known. */
function group(g: Graph, consumers?: Consumers): Graph {
  splitWideConcats(g);
  const s = new FuseState(g, consumers ?? new Consumers(g));
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    // A constant that is itself a result (a zero gradient) still needs a kernel to fill its buffer.
    if (isFree(n) && !(s.roots.has(n.out) && opDef(n.op).kind === "source")) continue;
    const joining = joinable(s, n);
    if (joining && join(s, n, joining)) continue;
    const sibling = siblingOf(s, n);
    if (!sibling || !join(s, n, sibling)) startGroup(s, n, i);
  }
  emitKernels(s);
  // NOTE: the consumers of each value are the same after reordering: the lists are shared.
  mergeKernels(g, MAX_KERNEL_BUFFERS, s.consumers);
  return g;
}

/** What the steps share: the graph's consumers, its materialised values, and each node's group and marks. */
class FuseState {
  readonly roots: ValueSet;
  // NOTE: indexed by the node's result: a table by value id, not a Map hashing a million nodes.
  readonly groups: ValueTable<Group>;
  /** Members whose operands must come from buffers: heads and inline window ops. */
  readonly sealed: ValueSet;
  /** Members evaluated at an index a view remapped (below a view on the way to the root). */
  readonly remapped: ValueSet;
  /** Members of a reduce group that feed its reduction (its prologue), the reduction included. */
  readonly prologue: ValueSet;
  /** Elementwise groups rooted at a materialised value, in the order they started (step 2c). */
  readonly siblings: Group[] = [];

  constructor(
    readonly g: Graph,
    readonly consumers: Consumers,
  ) {
    this.roots = new ValueSet(g.idCount);
    for (const v of g.materialized()) this.roots.add(v);
    this.groups = new ValueTable<Group>(g.idCount);
    this.sealed = new ValueSet(g.idCount);
    this.remapped = new ValueSet(g.idCount);
    this.prologue = new ValueSet(g.idCount);
  }

  groupOf(n: Node): Group | undefined {
    return this.groups.get(n.out);
  }
}

/** How `n` may join the group all its consumers are in (steps 2-4). */
interface Joining {
  target: Group;
  /** A consumer reads n through a view: n is evaluated at a remapped index. */
  viaView: boolean;
  /** n heads the group (a matmul or looping window op under an elementwise epilogue). */
  asHead: boolean;
  /** n is a reduction joining an elementwise group as its epilogue's source, or feeds a reduction. */
  asPrologue: boolean;
  /** n is materialised: the kernel writes it as an extra output. */
  asExtra?: boolean;
}

/**
 * Whether `n` can join its consumers' group, and how (steps 2-4): every consumer in one group, n
 * not materialised, n read at one index only when a view reads it, no sealed member reading it; as
 * an elementwise member, or as the head of an elementwise group of its shape with no view between.
 */
function joinable(s: FuseState, n: Node): Joining | undefined {
  const { consumers } = s;
  // NOTE: plain loops over the consumer range, no closures or filtered copies: this runs once per node.
  // The consumers list n once per operand slot that reads it, so their count is the uses.
  const from = consumers.start(n.out);
  const to = consumers.end(n.out);
  const target = to > from ? s.groupOf(consumers.at(from)) : undefined;
  if (!target) return undefined;
  if (s.roots.has(n.out)) return joinableAsExtra(s, n, target);
  let viaView = false;
  // In a reduce group, n feeds either the reduction (prologue) or what follows it (epilogue), not both:
  // the two are evaluated at different indices.
  let prologueUses = 0;
  for (let k = from; k < to; k++) {
    const u = consumers.at(k);
    if (s.groupOf(u) !== target || s.sealed.has(u.out)) return undefined;
    if (isView(u) || s.remapped.has(u.out)) viaView = true;
    if (s.prologue.has(u.out)) prologueUses++;
  }
  if (prologueUses !== 0 && prologueUses !== to - from) return undefined;
  const asPrologue = prologueUses > 0;
  const oneIndex = to - from === 1 || !viaView;
  if (oneIndex && fusesAsElementwise(n)) return { target, viaView, asHead: false, asPrologue };
  const headable = target.kind === "elementwise" && !target.extras.length && sameShape(target.root.out.type.shape, n.out.type.shape) && !viewDownstream(s, n, target);
  if (isHead(n) && headable) return { target, viaView, asHead: true, asPrologue: false };
  // A reduction under an elementwise epilogue (neg of a mean, a bias's update from its gradient's sum).
  if (opDef(n.op).kind === "reduce" && headable && !viaView) return { target, viaView, asHead: false, asPrologue: true };
  return undefined;
}

/**
 * Whether the materialised `n` can join its readers' group as an extra output (step 2b): an
 * elementwise node of the group's shape in an elementwise group with no head, every reader in
 * the group and none through a view (it is written at the element the group computes).
 */
function joinableAsExtra(s: FuseState, n: Node, target: Group): Joining | undefined {
  if (opDef(n.op).kind !== "elementwise" || target.kind !== "elementwise" || target.head) return undefined;
  if (!sameShape(target.root.out.type.shape, n.out.type.shape)) return undefined;
  for (let k = s.consumers.start(n.out); k < s.consumers.end(n.out); k++) {
    const u = s.consumers.at(k);
    if (s.groupOf(u) !== target || s.sealed.has(u.out) || isView(u) || s.remapped.has(u.out)) return undefined;
  }
  if (viewDownstream(s, n, target)) return undefined;
  return { target, viaView: false, asHead: false, asPrologue: false, asExtra: true };
}

/** How many of the latest sibling groups step 2c looks at. */
const SIBLING_WINDOW = 8;

/**
 * A group the materialised `n` can join as an extra output although none of its readers is in it
 * (step 2c): an elementwise group of n's shape with no head, rooted at a materialised value, that
 * runs before all of n's readers (so n is written before it is read). An optimizer's two moments
 * are then one kernel.
 */
function siblingOf(s: FuseState, n: Node): Joining | undefined {
  if (!s.roots.has(n.out) || opDef(n.op).kind !== "elementwise") return undefined;
  // NOTE: a group with extra outputs takes no head: merging must not cost a reduction or matmul its epilogue.
  if (mayTakeHead(s, operandsOf(s, n))) return undefined;
  let firstReader = Infinity;
  for (let k = s.consumers.start(n.out); k < s.consumers.end(n.out); k++) {
    const grp = s.groupOf(s.consumers.at(k));
    if (!grp) return undefined;
    firstReader = Math.min(firstReader, grp.at);
  }
  for (let j = s.siblings.length - 1; j >= Math.max(0, s.siblings.length - SIBLING_WINDOW); j--) {
    const target = s.siblings[j]!;
    if (target.kind !== "elementwise" || target.head || target.at >= firstReader) continue;
    if (!sameShape(target.root.out.type.shape, n.out.type.shape) || mayTakeHead(s, target.reads)) continue;
    return { target, viaView: false, asHead: false, asPrologue: false, asExtra: true };
  }
  return undefined;
}

/** The values n's group would read: through elementwise producers read only by it (a few levels). */
function operandsOf(s: FuseState, n: Node): Value[] {
  const out: Value[] = [];
  const stack: [Value, number][] = n.inputs.map((v) => [v, 0]);
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    const p = v.producer;
    const alone = s.consumers.end(v) - s.consumers.start(v) === 1;
    if (p && alone && depth < 4 && !s.roots.has(v) && opDef(p.op).kind === "elementwise") for (const w of p.inputs) stack.push([w, depth + 1]);
    else if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** Whether one of `reads` is a reduction, matmul or window op read once: it would head the group. */
function mayTakeHead(s: FuseState, reads: Value[]): boolean {
  return reads.some((v) => {
    const p = v.producer;
    if (!p || s.roots.has(v) || s.consumers.end(v) - s.consumers.start(v) !== 1) return false;
    return isHead(p) || opDef(p.op).kind === "reduce";
  });
}

/** Whether a member of `group` that reads (through other members) what `n` computes is a view. */
function viewDownstream(s: FuseState, n: Node, group: Group): boolean {
  const { consumers } = s;
  const seen = new Set<Node>();
  const stack: Node[] = [];
  for (let k = consumers.start(n.out); k < consumers.end(n.out); k++) stack.push(consumers.at(k));
  while (stack.length) {
    const m = stack.pop()!;
    if (seen.has(m) || s.groupOf(m) !== group) continue;
    if (isView(m)) return true;
    seen.add(m);
    for (let k = consumers.start(m.out); k < consumers.end(m.out); k++) stack.push(consumers.at(k));
  }
  return false;
}

/** Whether `v` is read from a buffer (not an inlined constant; a reshape aliases one). */
const readsBuffer = (v: Value) => !v.producer || !isFree(v.producer) || v.producer.op === "reshape";

/** Adds `n` to its consumers' group when the group still binds at most MAX_KERNEL_BUFFERS buffers (steps 2-4). */
function join(s: FuseState, n: Node, { target, viaView, asHead, asPrologue, asExtra }: Joining): boolean {
  // The group's reads once n joins: without n's result, with n's own external reads.
  const reads = target.reads;
  let count = reads.includes(n.out) ? reads.length - 1 : reads.length;
  for (let k = 0; k < n.inputs.length; k++) {
    const v = n.inputs[k]!;
    if (readsBuffer(v) && v !== n.out && !reads.includes(v) && n.inputs.indexOf(v) === k) count++;
  }
  // The output, the extra outputs, and n's own when it is one.
  if (count + 1 + target.extras.length + (asExtra ? 1 : 0) > MAX_KERNEL_BUFFERS) return false;
  if (asExtra) target.extras.push(n.out);
  removeFrom(reads, n.out);
  for (let k = 0; k < n.inputs.length; k++) {
    const v = n.inputs[k]!;
    if (readsBuffer(v) && !reads.includes(v)) reads.push(v);
  }
  target.size++;
  if (viaView) s.remapped.add(n.out);
  if (asHead || isInlineWindow(n)) s.sealed.add(n.out);
  if (asPrologue) s.prologue.add(n.out);
  s.groups.set(n.out, target);
  if (opDef(n.op).kind === "reduce") target.kind = "reduce";
  if (asHead) {
    target.kind = opDef(n.op).kind === "contraction" ? "contraction" : "window";
    target.head = n;
  }
  return true;
}

/** A new group rooted at `n` (step 1); a matmul or window op rooting its own group is its head too. */
function startGroup(s: FuseState, n: Node, at: number): void {
  const kind = opDef(n.op).kind;
  const head = isHead(n);
  const reads: Value[] = [];
  for (let k = 0; k < n.inputs.length; k++) {
    const v = n.inputs[k]!;
    if (readsBuffer(v) && !reads.includes(v)) reads.push(v);
  }
  const groupKind: Kernel["kind"] = kind === "reduce" ? "reduce" : kind === "contraction" ? "contraction" : head ? "window" : isView(n) ? "movement" : "elementwise";
  // NOTE: the head's operands stay outside its group.
  const grp: Group = { root: n, head: head ? n : undefined, kind: groupKind, reads, extras: [], size: 1, filled: 0, at };
  s.groups.set(n.out, grp);
  if (groupKind === "elementwise" && s.roots.has(n.out)) s.siblings.push(grp);
  if (head || isInlineWindow(n)) s.sealed.add(n.out);
  if (kind === "reduce") s.prologue.add(n.out);
}

/**
 * Orders the nodes with each group contiguous at its root's position, and lists the kernels (step
 * 6). Members precede their root (they feed it), so one sweep collects each group's members in
 * order by the time its root comes.
 */
function emitKernels(s: FuseState): void {
  const { g } = s;
  const order = new Array<Node>(g.nodes.length);
  let placed = 0;
  const kernels: Kernel[] = [];
  const scratch: Value[] = [];
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    const grp = s.groupOf(n);
    if (!grp) {
      order[placed++] = n;
      continue;
    }
    // NOTE: arrays of the final size: a kernel's lists live as long as the compiled graph.
    const nodes = (grp.ordered ??= new Array<Node>(grp.size));
    nodes[grp.filled++] = n;
    if (grp.root !== n) continue;
    if (grp.filled !== grp.size) throw new Error(`internal: kernel of %${n.out.id} collected ${grp.filled} of its ${grp.size} members`);
    scratch.length = 0;
    for (let j = 0; j < nodes.length; j++) {
      const m = nodes[j]!;
      order[placed++] = m;
      for (let k = 0; k < m.inputs.length; k++) {
        const v = m.inputs[k]!;
        if (s.groups.get(v) !== grp && !scratch.includes(v) && grp.reads.includes(v)) scratch.push(v);
      }
    }
    const kernel: Kernel = { name: `k${kernels.length}`, kind: grp.kind, nodes, inputs: scratch.slice(), output: n.out };
    if (grp.extras.length) kernel.extraOutputs = nodes.filter((m) => grp.extras.includes(m.out)).map((m) => m.out);
    kernels.push(kernel);
  }
  if (placed !== order.length) throw new Error(`internal: fuse placed ${placed} of ${order.length} nodes`);
  g.nodes = order;
  g.kernels = kernels;
}

/** Most storage buffers one kernel may bind (WebGPU's default maxStorageBuffersPerShaderStage). */
export const MAX_KERNEL_BUFFERS = 8;

/**
 * Ops that fuse as elementwise: registry elementwise ops, broadcast, views (index maps), and
 * inline window ops (rand, gather: straight-line code reading their operands from buffers).
 */
function fusesAsElementwise(n: Node): boolean {
  return opDef(n.op).kind === "elementwise" || n.op === "broadcast" || isView(n) || isInlineWindow(n);
}

/** Window ops whose WGSL is straight-line, so they are recomputed inside elementwise kernels. */
function isInlineWindow(n: Node): boolean {
  const def = opDef(n.op);
  return def.kind === "window" && def.inline === true;
}

/** Ops that head a kernel of their own with an elementwise epilogue: matmul and the looping window ops. */
function isHead(n: Node): boolean {
  const def = opDef(n.op);
  return def.kind === "contraction" || (def.kind === "window" && def.inline !== true);
}

/** Movement ops that read their inputs at remapped coordinates (transpose, slice, pad, concat). */
export function isView(n: Node): boolean {
  const def = opDef(n.op);
  return def.kind === "movement" && def.view !== undefined;
}

/** Ops that need no kernel of their own: constants are inlined, reshape aliases its input. */
export function isFree(n: Node): boolean {
  const kind = opDef(n.op).kind;
  return kind === "source" || n.op === "reshape";
}

interface Group {
  root: Node;
  /** The matmul or window op a contraction or window group starts with; its result feeds the epilogue. */
  head?: Node;
  // NOTE: membership, and whether a member is sealed or remapped, are kept per node in tables
  // (a node is in one group at most), so a group costs no sets of its own.
  kind: Kernel["kind"];
  /** Values read from outside the group (constants excluded: they are inlined). */
  reads: Value[];
  /** Materialised members written besides the root (step 2b). */
  extras: Value[];
  /** How many members joined (the root included). */
  size: number;
  /** Members in graph order, collected when nodes are emitted (sized to the group then). */
  ordered?: Node[];
  /** How many of `ordered` are collected so far. */
  filled: number;
  /** The root's position in the graph's nodes (the kernel runs there). */
  at: number;
}

/** Removes `v` from `list` (where it is at most once) in place. */
function removeFrom(list: Value[], v: Value): void {
  const at = list.indexOf(v);
  if (at < 0) return;
  for (let i = at + 1; i < list.length; i++) list[i - 1] = list[i]!;
  list.length--;
}

/** A concat of more distinct inputs than a kernel can bind with its output. */
function isWideConcat(n: Node): boolean {
  return n.op === "concat" && new Set(n.inputs).size > MAX_KERNEL_BUFFERS - 1;
}

/**
 * Rewrites each concat of more distinct inputs than a kernel can bind (with its output) into a
 * chain: the first inputs are joined by a new concat, which the rest then join, and so on.
 */
function splitWideConcats(g: Graph): void {
  if (!g.nodes.some(isWideConcat)) return;
  const limit = MAX_KERNEL_BUFFERS - 1;
  const strict: InferCtx = {
    op: "concat",
    error: (code) => {
      throw new Error(`internal: splitting a concat: ${code}`);
    },
    unify: (a, b) => (a === b ? a : undefined),
  };
  const order: Node[] = [];
  for (const n of g.nodes) {
    if (!isWideConcat(n)) {
      order.push(n);
      continue;
    }
    let rest = n.inputs;
    while (new Set(rest).size > limit) {
      const head = rest.slice(0, limit);
      const out = new Value(g.freshId(), opDef("concat").infer(head.map((v) => v.type), n.attrs, strict)!, n.out.span);
      out.producer = new Node("concat", head, { ...n.attrs }, out, n.span, n.origin);
      order.push(out.producer);
      rest = [out, ...rest.slice(limit)];
    }
    const last = new Node("concat", rest, n.attrs, n.out, n.span, n.origin);
    n.out.producer = last;
    order.push(last);
  }
  g.nodes = order;
}

/** Kernels one step would launch with no fusion at all: every node but constants and reshapes. */
export function unfusedKernelCount(g: Graph): number {
  return g.nodes.filter((n) => !isFree(n)).length;
}
