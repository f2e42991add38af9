import { consumersOf, Node, Value, ValueTable, type Graph, type Kernel } from "../graph.js";
import { opDef } from "../ops/registry.js";
import type { InferCtx } from "../ops/types.js";
import { sameShape } from "../types.js";
import type { PassContext } from "./pass.js";

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
  /** Members in graph order, collected when nodes are emitted. */
  ordered: Node[];
}

/**
 * fuse: groups nodes into kernels (jax-js's rule: an elementwise DAG plus at most one reduction).
 * 1. Visit nodes from last to first. A reduce, matmul, window, elementwise or view node that is
 *    not yet in a group starts one, rooted at itself.
 * 2. An elementwise node joins its consumers' group when every consumer is in that one group,
 *    its value is not materialised (outputs, loss, updates; see Graph.materialized), the group is
 *    elementwise or a reduction (the node becomes part of its prologue), and the group would still
 *    bind at most MAX_KERNEL_BUFFERS storage buffers.
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
 */
export function fuse(input: Graph, _ctx: PassContext): Graph {
  // NOTE: fusing reorders nodes but changes none, so it shares them, unless a concat must be split.
  const g = input.nodes.some(isWideConcat) ? input.clone() : input.derive();
  splitWideConcats(g);
  const consumers = consumersOf(g);
  const roots = new ValueTable<true>(g.idCount);
  for (const v of g.materialized()) roots.set(v, true);

  // NOTE: indexed by the node's result: a table by value id, not a Map hashing a million nodes.
  const groupTable = new ValueTable<Group>(g.idCount);
  const groupOf = (n: Node) => groupTable.get(n.out);
  /** Members whose operands must come from buffers: heads and inline window ops. */
  const sealed = new ValueTable<true>(g.idCount);
  /** Members evaluated at an index a view remapped (below a view on the way to the root). */
  const remapped = new ValueTable<true>(g.idCount);
  const NONE: Node[] = [];
  /** Members of `group` that read (through other members) what `from` compute, `from` included. */
  const downstream = (from: Node[], group: Group): Node[] => {
    const seen = new Set<Node>();
    const stack = [...from];
    while (stack.length) {
      const m = stack.pop()!;
      if (seen.has(m) || groupOf(m) !== group) continue;
      seen.add(m);
      for (const u of consumers.get(m.out) ?? []) stack.push(u);
    }
    return [...seen];
  };
  const externalReads = (n: Node) => n.inputs.filter((v) => !v.producer || !isFree(v.producer) || v.producer.op === "reshape");

  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    // A constant that is itself a result (a zero gradient) still needs a kernel to fill its buffer.
    if (isFree(n) && !(roots.has(n.out) && opDef(n.op).kind === "source")) continue;
    // `users` lists a consumer once per operand slot that reads n, so its length counts the uses.
    const users = consumers.get(n.out) ?? NONE;
    const target = users.length ? groupOf(users[0]!) : undefined;
    const intoTarget = target !== undefined && !roots.has(n.out) && users.every((u) => groupOf(u) === target);
    const viaView = intoTarget && users.some((u) => isView(u) || remapped.has(u.out));
    const oneIndex = users.length === 1 || !viaView;
    const readBySealed = intoTarget && users.some((u) => sealed.has(u.out));
    const asElementwise = intoTarget && oneIndex && fusesAsElementwise(n) && !readBySealed;
    const asHead =
      intoTarget &&
      isHead(n) &&
      !readBySealed &&
      target.kind === "elementwise" &&
      sameShape(target.root.out.type.shape, n.out.type.shape) &&
      !downstream(users, target).some(isView);
    if (asElementwise || asHead) {
      const reads = target.reads.filter((v) => v !== n.out);
      for (const v of externalReads(n)) if (!reads.includes(v)) reads.push(v);
      if (reads.length + 1 <= MAX_KERNEL_BUFFERS) {
        target.reads = reads;
        if (viaView) remapped.set(n.out, true);
        if (asHead || isInlineWindow(n)) sealed.set(n.out, true);
        groupTable.set(n.out, target);
        if (asHead) {
          target.kind = opDef(n.op).kind === "contraction" ? "contraction" : "window";
          target.head = n;
        }
        continue;
      }
    }
    const kind = opDef(n.op).kind;
    const head = isHead(n);
    const group: Group = {
      root: n,
      // NOTE: a matmul or window op rooting its own group is its head too, so its operands stay outside it.
      head: head ? n : undefined,
      kind:
        kind === "reduce"
          ? "reduce"
          : kind === "contraction"
            ? "contraction"
            : head
              ? "window"
              : isView(n)
                ? "movement"
                : "elementwise",
      reads: distinct(externalReads(n)),
      ordered: [],
    };
    if (head || isInlineWindow(n)) sealed.set(n.out, true);
    groupTable.set(n.out, group);
  }

  // Emit nodes with each group contiguous at its root's position. Members precede their root
  // (they feed it), so one sweep collects each group's members in order by the time its root comes.
  const order: Node[] = [];
  const kernels: Kernel[] = [];
  for (const n of g.nodes) {
    const grp = groupOf(n);
    if (!grp) {
      order.push(n);
      continue;
    }
    const nodes = grp.ordered;
    nodes.push(n);
    if (grp.root !== n) continue;
    for (const m of nodes) order.push(m);
    const inputs: Value[] = [];
    for (const m of nodes)
      for (const v of m.inputs)
        if (groupTable.get(v) !== grp && !inputs.includes(v) && grp.reads.includes(v)) inputs.push(v);
    kernels.push({ name: `k${kernels.length}`, kind: grp.kind, nodes, inputs, output: n.out });
  }
  g.nodes = order;
  g.kernels = kernels;
  return g;
}

function distinct(values: Value[]): Value[] {
  return values.filter((v, i) => values.indexOf(v) === i);
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
