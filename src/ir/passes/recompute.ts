import { Consumers, copyAttrs, Node, Value, ValueSet, type Graph } from "../graph.js";
import { opDef } from "../ops/registry.js";

/**
 * Recomputing cheap values where they are read, for fuse (step 0): a value computed by an
 * elementwise op and read by several elementwise or reduce nodes would be a kernel of its own,
 * written to memory and read back by each reader's kernel; a copy of its node per reader lets each
 * copy fuse into its reader's kernel instead (a dispatch and a round trip through memory cost
 * more than an `exp` or a `sub` done twice). The softmax cross-entropy's `x - max` and `exp` are
 * read by the forward sum, the loss and the backward pass, the gradient's -y/B by two: 3 kernels fewer.
 * 1. Visit nodes from last to first (readers before what they read, so copies made for a reader
 *    are readers of the values before it).
 * 2. A node is copied when it is elementwise with at most two operands (or a broadcast), none of
 *    them a view or an inline window op (each fuses into its one reader), not materialised (see
 *    Graph.materialized), read by 2 to MAX_READERS distinct nodes that are all elementwise,
 *    broadcast or reduce nodes, and at most MAX_DEPTH copies deep (a copy of a node read by a
 *    copy is one deeper), so the work recomputed stays a few ops per element.
 * 3. The first reader keeps the node; each other reader gets its own copy, placed after the node.
 * Copies can still cost fusion elsewhere (an operand that fused into its one reader now has
 * several), so fuse keeps the copies only when they give fewer kernels.
 */
export function recomputeCheapValues(g: Graph): void {
  const consumers = new Consumers(g);
  const roots = new ValueSet(g.idCount);
  for (const v of g.materialized()) roots.add(v);
  // Readers made by this pass (copies), by the id of the value they read: Consumers predates them.
  const extra = new Map<number, Node[]>();
  const depth = new Map<Node, number>();
  const after = new Map<Node, Node[]>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!isCandidate(n, roots)) continue;
    const readers: Node[] = [];
    for (let k = consumers.start(n.out); k < consumers.end(n.out); k++) {
      const u = consumers.at(k);
      if (!readers.includes(u)) readers.push(u);
    }
    for (const u of extra.get(n.out.id) ?? []) if (!readers.includes(u)) readers.push(u);
    if (readers.length < 2 || readers.length > MAX_READERS || !readers.every(takesCopy)) continue;
    // NOTE: a broadcast computes nothing, so it adds no depth.
    const d = (n.op === "broadcast" ? 0 : 1) + Math.max(...readers.map((u) => depth.get(u) ?? 0));
    if (d > MAX_DEPTH) continue;
    depth.set(n, d);
    const copies: Node[] = [];
    for (const u of readers.slice(1)) {
      const out = new Value(g.freshId(), n.out.type, n.out.span);
      const c = new Node(n.op, n.inputs.slice(), copyAttrs(n.attrs), out, n.span, n.origin);
      out.producer = c;
      for (let k = 0; k < u.inputs.length; k++) if (u.inputs[k] === n.out) u.inputs[k] = out;
      depth.set(c, d);
      copies.push(c);
      for (const v of n.inputs) {
        const list = extra.get(v.id) ?? [];
        list.push(c);
        extra.set(v.id, list);
      }
    }
    after.set(n, copies);
  }
  if (!after.size) return;
  g.nodes = g.nodes.flatMap((n) => [n, ...(after.get(n) ?? [])]);
}

/** Most distinct readers a value is recomputed for. */
const MAX_READERS = 4;
/** Most copies deep (a copy read by a copy) a value is recomputed. */
const MAX_DEPTH = 2;

/**
 * Elementwise nodes of one or two operands and broadcasts (the only ones worth recomputing), not materialised,
 * whose operands are not views or inline window ops: those fuse into their one reader,
 * and copies would make them kernels of their own.
 */
function isCandidate(n: Node, roots: ValueSet): boolean {
  if ((opDef(n.op).kind !== "elementwise" && n.op !== "broadcast") || n.inputs.length > 2 || roots.has(n.out)) return false;
  for (const v of n.inputs) {
    const p = v.producer;
    if (!p) continue;
    const def = opDef(p.op);
    if ((def.kind === "movement" && def.view !== undefined) || (def.kind === "window" && def.inline === true)) return false;
  }
  return true;
}

/** Readers a copy fuses into: elementwise nodes, broadcasts and reductions (as a prologue). */
function takesCopy(u: Node): boolean {
  const kind = opDef(u.op).kind;
  return kind === "elementwise" || kind === "reduce" || u.op === "broadcast";
}

/** Whether recomputeCheapValues would change `g` (whose consumers are given), so fuse must work on a copy of it. */
export function mayRecompute(g: Graph, consumers: Consumers): boolean {
  const roots = new ValueSet(g.idCount);
  for (const v of g.materialized()) roots.add(v);
  return g.nodes.some((n) => consumers.end(n.out) - consumers.start(n.out) > 1 && isCandidate(n, roots));
}
