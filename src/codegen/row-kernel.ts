import type { Kernel, Node, Value } from "../ir/graph.js";
import { wgslFloat } from "../ir/ops/numerics.js";
import { reduceAxes } from "../ir/ops/reduce.js";
import { opDef } from "../ir/ops/registry.js";
import type { ReduceOp } from "../ir/ops/types.js";
import { concreteShape, numel, sameShape, type DimBindings } from "../ir/types.js";
import { expressionBody } from "./expression-body.js";
import { bindings, elementwiseLines, grid1d, GRID_ENTRY, gridIndex, reduceLines, reductionIndexing, reductionLoop, type CodegenOptions, type CompiledKernel } from "./kernel-parts.js";

// The kernels fuse-merge.ts makes of whole kernels: row kernels (one thread a row, several
// reductions over it in turn) and multi kernels (independent kernels as segments of one grid).

/**
 * A row kernel: thread `o` owns row o of the reductions' space. In kernel order, each reduction
 * is a loop over the row (its prologue evaluated at each element, reading the row values computed
 * so far as scalars); values computed from reductions at the row (a log of a sum, a mean's
 * square) are evaluated once, between loops, where a later loop or a result needs them; a last
 * loop over the row writes the element-wise results (a softmax, a gradient), and the row results
 * are stored at o.
 */
export function rowKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const reds = k.nodes.filter((n) => opDef(n.op).kind === "reduce");
  const spaceShape = reds[0]!.inputs[0]!.type.shape;
  const space = concreteShape(spaceShape, dims);
  const { base, offset, count, outCount } = reductionIndexing(space, reduceAxes(reds[0]!.attrs, space.length));
  const isElement = (v: Value) => sameShape(v.type.shape, spaceShape);
  // The row values: reductions and what is computed from them that is not an element of the space.
  const row = new Set<Value>();
  for (const n of k.nodes) if (opDef(n.op).kind === "reduce" || (n.inputs.some((v) => row.has(v)) && !isElement(n.out))) row.add(n.out);
  const inside = new Set(k.nodes.map((n) => n.out));
  const outputs = [k.output, ...(k.extraOutputs ?? [])];
  const outName = (j: number) => (j === 0 ? "out" : `out${j}`);
  const lines: string[] = [];
  const uniform = new Map<Value, string>();
  const rowNodes = k.nodes.filter((n) => opDef(n.op).kind !== "reduce" && n.op !== "reshape");
  const rowBody = expressionBody({ kernel: k, nodes: rowNodes, index: "o", dims, uniform });
  let taken = 0;
  /** Names row value `v` at the row, computing it (and the row values it reads) first. */
  const ensureRow = (v: Value): string => {
    const known = uniform.get(v);
    if (known !== undefined) return known;
    const p = v.producer!;
    if (p.op === "reshape") {
      const name = ensureRow(p.inputs[0]!);
      uniform.set(v, name);
      return name;
    }
    if (opDef(p.op).kind === "reduce") throw new Error(`internal: row kernel ${k.name} reads reduction %${v.id} before its loop`);
    for (const x of p.inputs) if (row.has(x)) ensureRow(x);
    const name = rowBody.ref(v);
    lines.push(...rowBody.lines.slice(taken).map((l) => `  ${l}`));
    taken = rowBody.lines.length;
    uniform.set(v, name);
    return name;
  };
  /** Computes the row values the element-wise nodes under `roots` read. */
  const rowReadsOf = (roots: Value[]) => {
    const seen = new Set<Value>();
    const stack = [...roots];
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      if (row.has(v)) {
        ensureRow(v);
        continue;
      }
      if (inside.has(v)) stack.push(...v.producer!.inputs);
    }
  };
  const elementNodes = k.nodes.filter((n) => !row.has(n.out));
  lines.push(`  let base = ${base};`);
  for (const red of reds) {
    const src = red.inputs[0]!;
    rowReadsOf([src]);
    const body = expressionBody({ kernel: k, nodes: elementNodes, index: "j", dims, uniform });
    const value = body.ref(src);
    const def = opDef(red.op) as ReduceOp;
    const acc = `acc${red.out.id}`;
    lines.push(...reductionLoop(def, acc, count, offset, body.lines, value).map((l) => `  ${l}`));
    const name = `r${red.out.id}`;
    lines.push(`  let ${name} = ${def.wgslFinish(acc, wgslFloat(count))};`);
    uniform.set(red.out, name);
  }
  const elementOuts = outputs.map((v, j) => ({ v, j })).filter(({ v }) => isElement(v) && !row.has(v));
  const rowOuts = outputs.map((v, j) => ({ v, j })).filter(({ v }) => !elementOuts.some((e) => e.v === v));
  if (elementOuts.length) {
    rowReadsOf(elementOuts.map((e) => e.v));
    const body = expressionBody({ kernel: k, nodes: elementNodes, index: "j", dims, uniform });
    const stores = elementOuts.map(({ v, j }) => `${outName(j)}[j] = ${body.ref(v)};`);
    lines.push(`  for (var r = 0u; r < ${count}u; r++) {`, `    let j = base + ${offset};`, ...[...body.lines, ...stores].map((l) => `    ${l}`), `  }`);
  }
  for (const { v, j } of rowOuts) lines.push(`  ${outName(j)}[o] = ${ensureRow(v)};`);
  const wg = opts.workgroupSize;
  // NOTE: the rows counted from a bound buffer, not written as a constant (see LENGTH in wgsl.ts).
  const rows = isElement(k.output) && !row.has(k.output) ? `arrayLength(&out) / ${count}u` : "arrayLength(&out)";
  const wgsl = [
    ...bindings(k.inputs, outputs.length - 1),
    "",
    `// rows: ${reds.length} reductions over [${space.join(", ")}], one thread a row`,
    `@compute @workgroup_size(${wg})`,
    GRID_ENTRY,
    `  let o = ${gridIndex(wg)};`,
    `  if (o >= ${rows}) { return; }`,
    ...lines,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(outCount, wg), inputs: k.inputs, output: k.output, ...(outputs.length > 1 ? { extraOutputs: outputs.slice(1) } : {}) };
}

/**
 * A multi kernel: its independent parts (connected nodes: each a reduce or an elementwise kernel)
 * take consecutive ranges of the grid's threads, each as long as its result (read from its bound
 * buffer, so the text does not depend on a batch size), and run as they would alone.
 */
export function multiKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const outputs = [k.output, ...(k.extraOutputs ?? [])];
  const outName = (v: Value) => {
    const j = outputs.indexOf(v);
    if (j < 0) throw new Error(`internal: multi kernel ${k.name} writes %${v.id} that is none of its results`);
    return j === 0 ? "out" : `out${j}`;
  };
  const lines: string[] = [`  var at = ${gridIndex(opts.workgroupSize)};`];
  let total = 0;
  for (const part of partsOf(k.nodes)) {
    const root = part.at(-1)!.out;
    const results = part.filter((n) => outputs.includes(n.out) && n.out !== root).map((n) => n.out);
    const sub: Kernel = { name: k.name, kind: "elementwise", nodes: part, inputs: k.inputs, output: root, ...(results.length ? { extraOutputs: results } : {}) };
    const length = `arrayLength(&${outName(root)})`;
    let body: string[];
    if (part.some((n) => opDef(n.op).kind === "reduce")) {
      const { lines: rl, outCount } = reduceLines(sub, dims, outName(root));
      body = [`let o = at;`, ...rl.map((l) => l.slice(2))];
      total += outCount;
    } else {
      body = [`let i = at;`, ...elementwiseLines(sub, dims, [outName(root), ...results.map(outName)]).map((l) => l.slice(2))];
      total += numel(concreteShape(root.type.shape, dims));
    }
    lines.push(`  if (at < ${length}) {`, ...body.map((l) => `    ${l}`), `    return;`, `  }`, `  at -= ${length};`);
  }
  const wgsl = [
    ...bindings(k.inputs, outputs.length - 1),
    "",
    `@compute @workgroup_size(${opts.workgroupSize})`,
    GRID_ENTRY,
    ...lines,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(total, opts.workgroupSize), inputs: k.inputs, output: k.output, ...(outputs.length > 1 ? { extraOutputs: outputs.slice(1) } : {}) };
}

/** The connected parts of `nodes` (linked by the values they read from each other), each in node order. */
export function partsOf(nodes: Node[]): Node[][] {
  const parent = nodes.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const at = new Map(nodes.map((n, i) => [n.out, i] as const));
  nodes.forEach((n, i) => {
    for (const v of n.inputs) {
      const j = at.get(v);
      if (j !== undefined) parent[find(i)] = find(j);
    }
  });
  const parts = new Map<number, Node[]>();
  nodes.forEach((n, i) => {
    const r = find(i);
    const list = parts.get(r) ?? [];
    list.push(n);
    parts.set(r, list);
  });
  return [...parts.values()];
}
