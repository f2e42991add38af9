import type { Kernel, Node, Value } from "../ir/graph.js";
import { wgslFloat } from "../ir/ops/numerics.js";
import { opDef } from "../ir/ops/registry.js";
import type { ElementwiseOp, View } from "../ir/ops/types.js";
import { broadcastStrides, concreteShape, numel, stridesOf, type DimBindings } from "../ir/types.js";

// The WGSL statements that compute a fused kernel's elementwise part, element by element: used by
// elementwise kernels, reduce prologues and the epilogues of matmuls and windows (src/codegen/wgsl.ts).

/** What to build a body for. */
export interface BodyOptions {
  kernel: Kernel;
  /** The kernel's nodes the body computes (the rest are the caller's: a reduce, a contraction). */
  nodes: Node[];
  /** The WGSL name of the flat index of the element being computed, in the last node's shape. */
  index: string;
  dims: DimBindings;
  /** Values the caller has computed already, by WGSL name (a matmul's accumulator). */
  preset?: Map<Value, string>;
  /**
   * Values with one WGSL name at every index the body reads them (a row kernel's per-row values,
   * read by each element of the row).
   */
  uniform?: Map<Value, string>;
  /** The values bound as buffers, in binding order (default: the kernel's inputs). */
  slots?: Value[];
  /** The buffers' name prefix (`in0`, `in1`, ...). */
  buffer?: string;
}

/** The statements, and each value's WGSL name at the element (`ref`), made as `ref` asks for them. */
export interface ExpressionBody {
  lines: string[];
  ref: (v: Value) => string;
}

/** WGSL for the linear index into a tensor of `shape` read at linear index `i` of `space`. */
function indexExpr(i: string, shape: number[], space: number[]): string {
  // NOTE: the common case (an operand of the node's own shape) without the strides' arrays.
  if (shape === space || sameDims(shape, space)) return i;
  const st = broadcastStrides(shape, space);
  const sp = stridesOf(space);
  if (space.every((n, d) => n === 1 || st[d] === sp[d])) return i;
  const terms: string[] = [];
  for (let d = 0; d < space.length; d++) {
    if (st[d] === 0 || space[d] === 1) continue;
    let c = sp[d] === 1 ? i : `(${i} / ${sp[d]}u)`;
    if (d > 0) c = `(${c} % ${space[d]}u)`;
    terms.push(st[d] === 1 ? c : `${c} * ${st[d]}u`);
  }
  return terms.length ? terms.join(" + ") : "0u";
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let d = 0; d < a.length; d++) if (a[d] !== b[d]) return false;
  return true;
}

/** Whether `s` is one WGSL word (a name or a literal such as `3u`): `/^\w+$/` without a regex. */
function isWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    const word = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (!word) return false;
  }
  return true;
}

/**
 * The body shared by elementwise kernels, reduce prologues and matmul epilogues, built on demand
 * from the result: `ref(v)` is v at the element `index` of the last node. A node is evaluated at an index
 * into its own shape and reads each input at that index mapped into the input's shape:
 * broadcasting drops coordinates, a movement op's view remaps them (views fuse as index math).
 * One `let` per (value, index); external inputs are loaded where they are read.
 */
export function expressionBody(options: BodyOptions): ExpressionBody {
  const { kernel: k, nodes, index: i, dims, preset = new Map<Value, string>(), uniform, slots = k.inputs, buffer = "in" } = options;
  const inside = new Set(nodes.map((n) => n.out));
  const lines: string[] = [];
  // NOTE: each value's WGSL name by index expression, then value (few indices per body): no key
  // string built and hashed per lookup.
  const names = new Map<string, Map<Value, string>>();
  const nameAt = (v: Value, idx: string): string | undefined => names.get(idx)?.get(v);
  const setName = (v: Value, idx: string, name: string): void => {
    let atIdx = names.get(idx);
    if (!atIdx) {
      atIdx = new Map<Value, string>();
      names.set(idx, atIdx);
    }
    atIdx.set(v, name);
  };
  const lets = new Map<string, string>();
  const counts = new Map<string, number>();
  // NOTE: a shape of numbers is its own concrete shape (the body only reads shapes): no copy.
  const shapeOf = (v: Value): number[] => {
    const shape = v.type.shape;
    for (let d = 0; d < shape.length; d++) if (typeof shape[d] !== "number") return concreteShape(shape, dims);
    return shape as number[];
  };
  /** A fresh name `base`, `base_1`, ... */
  const fresh = (base: string) => {
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    return n ? `${base}_${n}` : base;
  };
  /** Names an index or mask expression once, so equal indices give equal keys. */
  const bind = (prefix: string, expr: string): string => {
    if (isWord(expr)) return expr;
    let name = lets.get(expr);
    if (!name) {
      name = fresh(prefix);
      lines.push(`let ${name} = ${expr};`);
      lets.set(expr, name);
    }
    return name;
  };
  /** True for a value computed here by an elementwise or broadcast node not yet named at `idx`. */
  const chained = (v: Value, idx: string): boolean => {
    const p = v.producer;
    if (!p || !inside.has(v) || preset.has(v) || uniform?.has(v) || nameAt(v, idx) !== undefined) return false;
    return p.op === "broadcast" || opDef(p.op).kind === "elementwise";
  };
  /**
   * `at` without recursion along elementwise chains (a 10,000-term sum is a chain 10,000 deep):
   * an explicit stack visits the operands in the order the recursion would (index binding, then
   * the operand), so the lines come out the same; each node is then named with its operands known.
   */
  const at = (v: Value, idx: string): string => {
    if (!chained(v, idx)) return atOneLevel(v, idx);
    const stack = [{ v, idx, next: 0 }];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const n = top.v.producer!;
      const reads = n.op === "broadcast" ? 1 : n.inputs.length;
      if (top.next < reads) {
        const x = n.inputs[top.next++]!;
        const t = bind("t", indexExpr(top.idx, shapeOf(x), shapeOf(n.out)));
        if (chained(x, t)) stack.push({ v: x, idx: t, next: 0 });
        else atOneLevel(x, t);
        continue;
      }
      stack.pop();
      atOneLevel(top.v, top.idx);
    }
    return atOneLevel(v, idx);
  };
  const atOneLevel = (v: Value, idx: string): string => {
    const same = uniform?.get(v);
    if (same !== undefined) return same;
    const pre = preset.get(v);
    if (pre !== undefined) {
      if (idx !== i) throw new Error(`internal: kernel ${k.name} reads %${v.id} at a remapped index`);
      return pre;
    }
    const p = v.producer;
    if (p && opDef(p.op).kind === "source") return sourceExpr(p, dims, idx);
    const known = nameAt(v, idx);
    if (known) return known;
    let line: string;
    let name: string;
    if (p && inside.has(v)) {
      const expr = nodeExpr(p, idx);
      if (isWord(expr)) {
        // A view or broadcast that only moved the index: the value is its input's.
        setName(v, idx, expr);
        return expr;
      }
      name = fresh(`v${v.id}`);
      line = `let ${name} = ${expr};`;
    } else {
      const slot = slots.indexOf(v);
      if (slot < 0) throw new Error(`internal: kernel ${k.name} reads unbound %${v.id}`);
      name = fresh(`x${slot}`);
      line = `let ${name} = ${buffer}${slot}[${idx}];`;
    }
    lines.push(line);
    setName(v, idx, name);
    return name;
  };
  /** Reads `x` where a node of shape `out` reads it at `idx`, with numpy broadcasting. */
  const broadcastRead = (x: Value, idx: string, out: number[]) => at(x, bind("t", indexExpr(idx, shapeOf(x), out)));
  const nodeExpr = (n: Node, idx: string): string => {
    const def = opDef(n.op);
    const out = shapeOf(n.out);
    if (def.kind === "elementwise") return (def as ElementwiseOp).wgsl(...n.inputs.map((x) => broadcastRead(x, idx, out)));
    if (n.op === "broadcast") return broadcastRead(n.inputs[0]!, idx, out);
    if (def.kind === "movement" && def.view) {
      const ins = n.inputs.map(shapeOf);
      return viewExpr(def.view(ins, out, n.attrs), idx, out, ins, (part, index) => at(n.inputs[part]!, bind("t", index)), bind);
    }
    if (def.kind === "window" && def.inline) {
      // Straight-line code: its statements join the body, its reads are loads (or inlined sources).
      return def.wgsl({
        idx,
        out,
        ins: n.inputs.map(shapeOf),
        attrs: n.attrs,
        read: (input, index) => at(n.inputs[input]!, bind("t", index)),
        emit: (line) => lines.push(line),
        name: (base) => fresh(`w${n.out.id}_${base}`),
      });
    }
    throw new Error(`internal: ${n.op} in an elementwise body`);
  };
  const ref = (v: Value) => at(v, i);
  return { lines, ref };
}

/**
 * A movement op's value at the element `idx` of its output: each part reads its input at the
 * remapped index (clamped into range where the part has a region, so every read is in bounds),
 * and `select` picks the part whose region holds the element, or the fill.
 */
function viewExpr(
  view: View,
  idx: string,
  out: number[],
  ins: number[][],
  read: (input: number, index: string) => string,
  bind: (prefix: string, expr: string) => string,
): string {
  const st = stridesOf(out);
  const coord = (d: number): string => {
    if (out[d] === 1) return "0u";
    const c = st[d] === 1 ? idx : `(${idx} / ${st[d]}u)`;
    return bind("c", d > 0 ? `(${c} % ${out[d]}u)` : c);
  };
  const values = view.parts.map((part) => {
    const shape = ins[part.input]!;
    const inSt = stridesOf(shape);
    const clamp = new Set((part.region ?? []).map((r) => r.axis));
    const terms: string[] = [];
    part.axes.forEach((a, d) => {
      if (shape[d] === 1 || inSt[d] === 0) return;
      let c = a.step === 0 ? "" : a.step === 1 ? coord(a.from) : `${coord(a.from)} * ${a.step}u`;
      if (!c) c = `${a.offset}u`;
      else if (a.offset > 0) c = `(${c} + ${a.offset}u)`;
      else if (a.offset < 0) c = `(${c} - ${-a.offset}u)`;
      // NOTE: outside the region the u32 coordinate may wrap; min() keeps the (discarded) read in bounds.
      if (clamp.has(a.from) && a.step !== 0) c = `min(${c}, ${shape[d]! - 1}u)`;
      terms.push(inSt[d] === 1 ? c : `${c} * ${inSt[d]}u`);
    });
    const value = read(part.input, terms.length ? terms.join(" + ") : "0u");
    const conds = (part.region ?? []).flatMap((r) => {
      const c = coord(r.axis);
      return [...(r.lo > 0 ? [`${c} >= ${r.lo}u`] : []), ...(r.hi < out[r.axis]! ? [`${c} < ${r.hi}u`] : [])];
    });
    return { value, conds };
  });
  let expr = view.fill === undefined ? undefined : wgslFloat(view.fill);
  for (let p = values.length - 1; p >= 0; p--) {
    const { value, conds } = values[p]!;
    expr = expr === undefined || !conds.length ? value : `select(${expr}, ${value}, ${bind("m", conds.join(" && "))})`;
  }
  if (expr === undefined) throw new Error("internal: a view with no parts");
  return expr;
}

/** A source's value at the flat index `idx` of its shape: a literal, or iota's index expression. */
export function sourceExpr(n: Node, dims: DimBindings, idx: string): string {
  const def = opDef(n.op);
  if (def.kind === "source" && def.generate) return def.generate.wgsl(idx, concreteShape(n.out.type.shape, dims), n.attrs);
  if (n.op === "size") return wgslFloat(numel(concreteShape(n.attrs["dims"] as (string | number)[], dims)));
  return wgslFloat(n.attrs["value"] as number);
}
