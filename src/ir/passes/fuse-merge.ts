import { Consumers, ValueTable, type Graph, type Kernel, type Node, type Value } from "../graph.js";
import { opDef } from "../ops/registry.js";
import { rowSpaceOf, rowsFit, sameSpace, type RowSpace } from "./row-space.js";

/**
 * fuse, after grouping: merges whole kernels, so a step launches fewer of them.
 * 1. Row kernels: reduce kernels over the same space and axes, and the elementwise kernels that
 *    read their results at the same rows, become one kernel where one thread owns a row (the kept
 *    index) and loops over it once per reduction, then once more to write element-wise results.
 *    A softmax cross-entropy (max, sum of exp, the picked log-probability, their gradient) or a
 *    layer norm (mean, variance, the normalised rows) is then one kernel instead of 3 to 6.
 *    Which kernels fit one set of rows is row-space.ts's to say.
 * 2. Multi kernels: independent reduce and elementwise kernels (no path between them through
 *    other kernels) run as segments of one dispatch's threads (a loss's mean beside the bias
 *    gradients of the layers).
 * Both look a few kernels ahead (WINDOW) and keep every kernel within MAX_KERNEL_BUFFERS bindings.
 * A merge is legal when no kernel outside it lies on a path between two of its members; the
 * kernels are then put back in an order that respects every read (step 3).
 * 3. Kernels are put back in order by their first node's place, a merged kernel as soon as what
 *    it reads is computed (its later members move up; those between that read an earlier member
 *    move after it). Only the stretch of the schedule between a merged kernel's first and last
 *    member is reordered. Nodes follow.
 */
export function mergeKernels(g: Graph, maxBuffers: number, consumers = new Consumers(g)): void {
  const kernels = g.kernels;
  if (!kernels || kernels.length < 2) return;
  const m = new Merger(g, kernels, maxBuffers, consumers);
  let merged = false;
  for (let i = 0; i < m.units.length; i++) merged = m.tryRows(i) || merged;
  for (let i = 0; i < m.units.length; i++) merged = m.tryMulti(i) || merged;
  if (merged) m.emit();
}

/** How many kernels after a merge's first member it looks at. */
const WINDOW = 12;

/** A kernel being merged: its members' kernels in schedule order (one, until merged). */
interface Unit {
  kernels: Kernel[];
  kind: Kernel["kind"];
  /** Merged into another unit. */
  gone?: boolean;
  /** Whether it may be a segment of a multi kernel (see isSegment), once known. */
  segment?: boolean;
  space?: RowSpace;
}

class Merger {
  readonly units: Unit[];
  private readonly materialized: Set<Value>;
  /** The unit index of each kernel member's result. */
  private readonly unitOf: ValueTable<number>;

  constructor(
    private readonly g: Graph,
    kernels: Kernel[],
    private readonly maxBuffers: number,
    private readonly consumers: Consumers,
  ) {
    this.units = kernels.map((k) => ({ kernels: [k], kind: k.kind, ...(k.kind === "reduce" ? { space: rowSpaceOf(k) } : {}) }));
    this.tainted = new Int32Array(kernels.length);
    this.materialized = new Set(g.materialized());
    this.unitOf = new ValueTable<number>(g.idCount);
    kernels.forEach((k, i) => {
      for (const n of k.nodes) this.unitOf.set(n.out, i);
    });
  }

  /** Follows merges to the unit that now holds unit `u`. */
  private find(u: number): number {
    let at = u;
    while (this.units[at]!.gone) at = this.forward.get(at)!;
    return at;
  }

  private readonly forward = new Map<number, number>();

  /** Units unit `u`'s kernels read from (through their inputs: a kernel's reads from outside it). */
  private readsOf(u: number): Set<number> {
    const out = new Set<number>();
    for (const r of (this.rawReads[u] ??= this.unitReads(u))) {
      const p = this.find(r);
      if (p !== u) out.add(p);
    }
    return out;
  }

  /** The units (before merging) whose results unit `u`'s kernels read. */
  private unitReads(u: number): number[] {
    const out: number[] = [];
    for (const k of this.units[u]!.kernels)
      for (const v of k.inputs) {
        let at = v;
        while (at.producer?.op === "reshape") at = at.producer.inputs[0]!;
        const p = this.unitOf.get(at);
        if (p !== undefined && !out.includes(p)) out.push(p);
      }
    return out;
  }

  /** Reads of each unit, made on first use (a merged unit's are its members', joined in `join`). */
  private readonly rawReads: (number[] | undefined)[] = [];

  /**
   * Grows a group from unit `first` over the next WINDOW units: `accept(j)` says whether unit j
   * may join (given the group so far); units that read the group, or read such a unit, are
   * tainted and can never join (they must run after it). Returns the members.
   */
  private grow(first: number, accept: (j: number, members: number[], reads: Set<number>) => boolean, full = () => false): number[] {
    const members = [first];
    // NOTE: a stamp per unit (this grow's number) marks the tainted ones: no set allocated per grow.
    const stamp = ++this.grows;
    for (let j = first + 1; j < this.units.length && j <= first + WINDOW && !full(); j++) {
      if (this.units[j]!.gone) continue;
      const reads = this.readsOf(j);
      let readsTainted = false;
      for (const r of reads) if (this.tainted[r] === stamp) readsTainted = true;
      if (!readsTainted && accept(j, members, reads)) members.push(j);
      else if (readsTainted || members.some((mm) => reads.has(mm))) this.tainted[j] = stamp;
    }
    return members;
  }

  private grows = 0;
  private readonly tainted: Int32Array;

  /** Merges `members` (unit indices, ascending) into the last one. */
  private join(members: number[], kind: Kernel["kind"], space?: RowSpace): void {
    const last = members.at(-1)!;
    const kernels = members.flatMap((u) => this.units[u]!.kernels);
    for (const u of members.slice(0, -1)) {
      this.units[u]!.gone = true;
      this.forward.set(u, last);
    }
    this.rawReads[last] = members.flatMap((u) => (this.rawReads[u] ??= this.unitReads(u)));
    this.units[last] = { kernels, kind, ...(space ? { space } : {}) };
  }

  /** Step 1 from unit `i`: a reduce kernel gathers later reductions over its rows and the elementwise kernels that read them. */
  tryRows(i: number): boolean {
    const start = this.units[i]!;
    if (start.gone || start.kind !== "reduce" || !start.space) return false;
    const space = start.space;
    const members = this.grow(i, (j, so, reads) => {
      const u = this.units[j]!;
      if (u.kernels.length !== 1) return false;
      const k = u.kernels[0]!;
      if (k.kind === "reduce") {
        if (!u.space || !sameSpace(u.space, space)) return false;
      } else if (k.kind === "elementwise") {
        // An elementwise kernel joins as rows only when it reads the rows' results.
        if (!so.some((mm) => reads.has(mm))) return false;
      } else return false;
      return this.rowKernelOf([...so, j].flatMap((mm) => this.units[mm]!.kernels), space) !== undefined;
    });
    if (members.length < 2) return false;
    this.join(members, "row", space);
    return true;
  }

  /** Step 2 from unit `i`: independent reduce and elementwise kernels as segments of one dispatch. */
  tryMulti(i: number): boolean {
    const start = this.units[i]!;
    if (start.gone || !isSegment(start)) return false;
    // NOTE: the members read none of each other's results, so the kernel reads all they read and
    // writes all they write; counted as members join.
    const k0 = start.kernels[0]!;
    const bound = new Set<Value>(k0.inputs);
    let writes = 1 + (k0.extraOutputs?.length ?? 0);
    // A kernel that joins writes at least one more buffer.
    const full = () => bound.size + writes + 1 > this.maxBuffers;
    if (full()) return false;
    let next = i + 1;
    while (next < this.units.length && next <= i + WINDOW && !isSegment(this.units[next]!)) next++;
    if (next > i + WINDOW || next >= this.units.length) return false;
    const members = this.grow(i, (j, so, reads) => {
      const u = this.units[j]!;
      if (!isSegment(u) || so.some((mm) => reads.has(mm))) return false;
      const k = u.kernels[0]!;
      let fresh = 0;
      for (const v of k.inputs) if (!bound.has(v)) fresh++;
      const w = 1 + (k.extraOutputs?.length ?? 0);
      if (bound.size + fresh + writes + w > this.maxBuffers) return false;
      for (const v of k.inputs) bound.add(v);
      writes += w;
      return true;
    }, full);
    if (members.length < 2) return false;
    this.join(members, "multi");
    return true;
  }

  /** The merged kernel of `kernels` (schedule order), with the reshapes between them pulled in, as rows over `space`; undefined when some member does not fit the rows. */
  private rowKernelOf(kernels: Kernel[], space: RowSpace): Kernel | undefined {
    const k = this.mergedKernel(kernels, "row");
    if (k.inputs.length + 1 + (k.extraOutputs?.length ?? 0) > this.maxBuffers) return undefined;
    return rowsFit(k, space) ? k : undefined;
  }

  /** One kernel of `kernels`' nodes (reshapes of their results that they read pulled in), its reads and its results read elsewhere. */
  mergedKernel(kernels: Kernel[], kind: Kernel["kind"]): Kernel {
    const nodes: Node[] = [];
    const inside = new Set<Value>();
    const add = (n: Node) => {
      if (inside.has(n.out)) return;
      // A reshape of a member's result, read here, is an alias inside the kernel.
      for (const v of n.inputs) if (v.producer?.op === "reshape" && !inside.has(v) && isAliasOf(v, inside)) add(v.producer);
      nodes.push(n);
      inside.add(n.out);
    };
    for (const k of kernels) for (const n of k.nodes) add(n);
    const inputs = new Set<Value>();
    for (const n of nodes) for (const v of n.inputs) if (!inside.has(v) && !(v.producer && opDef(v.producer.op).kind === "source")) inputs.add(v);
    const last = nodes.at(-1)!;
    // NOTE: in node order, a reshape read elsewhere standing for its input (it aliases that
    // buffer), as parsing the text form infers them (src/ir/parse.ts).
    const extras: Value[] = [];
    for (const n of nodes) {
      if (n === last) continue;
      const out = n.op === "reshape" ? n.inputs[0]! : n.out;
      if ((this.materialized.has(n.out) || this.readOutside(n.out, inside)) && out !== last.out && !extras.includes(out)) extras.push(out);
    }
    return { name: kernels[0]!.name, kind, nodes, inputs: [...inputs], output: last.out, ...(extras.length ? { extraOutputs: extras } : {}) };
  }

  /** Whether a node outside `inside` reads `v` (or a reshape of it). */
  private readOutside(v: Value, inside: Set<Value>): boolean {
    for (let k = this.consumers.start(v); k < this.consumers.end(v); k++) {
      const u = this.consumers.at(k);
      if (!inside.has(u.out)) return true;
    }
    return false;
  }

  /**
   * Step 3: the kernels, merged ones as one, in an order that respects every read; the nodes to
   * match. Only the stretches of the schedule between a merged kernel's first and last member
   * are reordered (nothing outside them reads a member before the stretch ends).
   */
  emit(): void {
    const g = this.g;
    const nodes = g.nodes;
    // NOTE: tables by value id and plain arrays: this runs over every node of the graph.
    const merged: (Kernel | undefined)[] = this.units.map((u) => (u.gone ? undefined : u.kernels.length === 1 ? u.kernels[0]! : this.mergedKernel(u.kernels, u.kind)));
    const pulled = new ValueTable<true>(g.idCount);
    for (const k of merged) if (k) for (const n of k.nodes) if (n.op === "reshape") pulled.set(n.out, true);
    const unitAt = new ValueTable<number>(g.idCount);
    this.units.forEach((u, i) => {
      const at = this.find(i);
      for (const k of u.kernels) for (const n of k.nodes) unitAt.set(n.out, at);
    });
    // The stretch of each merged unit, from its first node's place to its last's, overlapping ones joined.
    const first = new Int32Array(this.units.length).fill(-1);
    const last = new Int32Array(this.units.length);
    for (let p = 0; p < nodes.length; p++) {
      const u = unitAt.get(nodes[p]!.out);
      if (u === undefined) continue;
      if (first[u] === -1) first[u] = p;
      last[u] = p;
    }
    const stretches: [number, number][] = [];
    this.units.forEach((u, i) => {
      if (!u.gone && u.kernels.length > 1) stretches.push([first[i]!, last[i]!]);
    });
    stretches.sort((a, b) => a[0] - b[0]);
    const joined: [number, number][] = [];
    for (const st of stretches) {
      const top = joined.at(-1);
      if (top && st[0] <= top[1]) top[1] = Math.max(top[1], st[1]);
      else joined.push([st[0], st[1]]);
    }
    const order: Node[] = [];
    let p = 0;
    for (const [a, b] of joined) {
      while (p < a) order.push(nodes[p++]!);
      this.reorder(nodes.slice(a, b + 1), unitAt, merged, pulled, order);
      p = b + 1;
    }
    while (p < nodes.length) order.push(nodes[p++]!);
    if (order.length !== nodes.length) throw new Error(`internal: merging kernels placed ${order.length} of ${nodes.length} nodes`);
    // The kernels in the order their nodes now come.
    const kernels: Kernel[] = [];
    const seen = new Set<number>();
    for (const n of order) {
      const u = unitAt.get(n.out);
      if (u === undefined || seen.has(u)) continue;
      seen.add(u);
      const k = merged[u]!;
      k.name = `k${kernels.length}`;
      kernels.push(k);
    }
    g.nodes = order;
    g.kernels = kernels;
  }

  /**
   * Appends the nodes of one stretch to `order`: each kernel (a merged one whole) and each node
   * outside kernels as an item, by Kahn's algorithm taking the ready item that came first.
   */
  private reorder(stretch: Node[], unitAt: ValueTable<number>, merged: (Kernel | undefined)[], pulled: ValueTable<true>, order: Node[]): void {
    const items: Item[] = [];
    const itemOf = new Map<Value, Item>();
    const made = new Map<number, Item>();
    stretch.forEach((n, pos) => {
      const ui = unitAt.get(n.out);
      if (ui === undefined) {
        if (pulled.has(n.out)) return;
        const it: Item = { key: pos, node: n, users: [], waiting: 0, stamp: -1 };
        items.push(it);
        itemOf.set(n.out, it);
        return;
      }
      if (made.has(ui)) return;
      const k = merged[ui]!;
      const it: Item = { key: pos, kernel: k, users: [], waiting: 0, stamp: -1 };
      made.set(ui, it);
      items.push(it);
      for (const m of k.nodes) itemOf.set(m.out, it);
    });
    items.forEach((it, at) => {
      for (const n of it.kernel ? it.kernel.nodes : [it.node!])
        for (const v of n.inputs) {
          const d = itemOf.get(v);
          if (!d || d === it || d.stamp === at) continue;
          d.stamp = at;
          d.users.push(it);
          it.waiting++;
        }
    });
    const ready = new MinHeap<Item>((a, b) => a.key < b.key);
    for (const it of items) if (it.waiting === 0) ready.push(it);
    while (ready.size) {
      const it = ready.pop()!;
      if (it.kernel) for (const n of it.kernel.nodes) order.push(n);
      else order.push(it.node!);
      for (const u of it.users) if (--u.waiting === 0) ready.push(u);
    }
  }
}

/** A kernel or a node outside kernels, to be scheduled (see Merger.emit). */
interface Item {
  /** Its first node's place in the graph before merging. */
  key: number;
  kernel?: Kernel;
  node?: Node;
  /** Items that read it, and how many items it still waits for. */
  users: Item[];
  waiting: number;
  /** The last item that counted it as a dependency (so it counts once per reader). */
  stamp: number;
}

/** Whether `v` is a reshape (of a reshape...) of a value in `inside`. */
function isAliasOf(v: Value, inside: Set<Value>): boolean {
  let at = v;
  while (at.producer?.op === "reshape") {
    at = at.producer.inputs[0]!;
    if (inside.has(at)) return true;
  }
  return false;
}

/** Most elements a segment of a multi kernel writes: merging saves a dispatch, which matters for small kernels only. */
const SEGMENT_MAX = 1 << 16;

/** A kernel that can be a segment of a multi kernel: a small reduce or elementwise kernel, its results of fixed shapes. */
function isSegment(u: Unit): boolean {
  return (u.segment ??= segmentable(u));
}

function segmentable(u: Unit): boolean {
  if (u.kernels.length !== 1 || (u.kind !== "reduce" && u.kind !== "elementwise")) return false;
  const k = u.kernels[0]!;
  if (!small(k.output)) return false;
  for (const v of k.extraOutputs ?? []) if (!small(v)) return false;
  return true;
}

/** Whether `v` has a fixed shape of at most SEGMENT_MAX elements. */
function small(v: Value): boolean {
  let n = 1;
  for (const d of v.type.shape) {
    if (typeof d !== "number") return false;
    n *= d;
  }
  return n <= SEGMENT_MAX;
}

/** A binary heap: `pop` gives the least item by `less`. */
class MinHeap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}

  get size(): number {
    return this.a.length;
  }

  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
