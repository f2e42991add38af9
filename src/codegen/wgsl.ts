import type { Kernel, Node, Value } from "../ir/graph.js";
import { opDef, reduceAxes, wgslFloat, type ElementwiseOp, type ReduceOp } from "../ir/ops.js";
import { broadcastStrides, concreteShape, numel, stridesOf, type DimBindings } from "../ir/types.js";
import { matmulKernel, type MatmulSpec } from "./kernels/matmul.js";

/** One kernel ready to dispatch: its WGSL, the grid, and the values bound in binding order. */
export interface CompiledKernel {
  name: string;
  wgsl: string;
  workgroups: [number, number, number];
  /** Values read, bound as bindings 0..n-1; the output is bound last. */
  inputs: Value[];
  output: Value;
}

/** Template choices that depend on the adapter (picked by measurement, see bench/). */
export interface CodegenOptions {
  matmul: Pick<MatmulSpec, "tileM" | "tileN" | "workgroup">;
  /** Threads per workgroup for elementwise and reduce kernels. */
  workgroupSize: number;
}

/** Defaults measured on llvmpipe: register-blocked matmul without workgroup memory. */
export const DEFAULT_CODEGEN: CodegenOptions = {
  matmul: { tileM: 4, tileN: 4, workgroup: [8, 8] },
  workgroupSize: 64,
};

const MAX_WORKGROUPS = 65535;

/** Emits the WGSL for one fused kernel, specialised to concrete dims. */
export function generateKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions = DEFAULT_CODEGEN): CompiledKernel {
  switch (k.kind) {
    case "contraction":
      return contraction(k, dims, opts);
    case "reduce":
      return reduceKernel(k, dims, opts);
    default:
      return elementwiseKernel(k, dims, opts);
  }
}

/** Splits a 1-D count of workgroups over x and y so neither exceeds the device limit. */
function grid1d(threads: number, wg: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  return groups <= MAX_WORKGROUPS ? [groups, 1, 1] : [MAX_WORKGROUPS, Math.ceil(groups / MAX_WORKGROUPS), 1];
}

function bindings(inputs: Value[]): string[] {
  const lines = inputs.map((_, i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<f32>;`);
  lines.push(`@group(0) @binding(${inputs.length}) var<storage, read_write> out: array<f32>;`);
  return lines;
}

/** WGSL for the linear index into a tensor of `shape` read at linear index `i` of `space`. */
function indexExpr(i: string, shape: number[], space: number[]): string {
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

/**
 * The body shared by elementwise kernels and reduce prologues: loads of external inputs at the
 * element `i` of `space`, then one `let` per node. Returns the lines and the name of each value.
 */
function expressionBody(
  k: Kernel,
  nodes: Node[],
  i: string,
  space: number[],
  dims: DimBindings,
  preset: Map<Value, string> = new Map(),
  slots: Value[] = k.inputs,
  buffer = "in",
): { lines: string[]; ref: (v: Value) => string } {
  const names = new Map<Value, string>(preset);
  const lines: string[] = [];
  const ref = (v: Value): string => {
    const known = names.get(v);
    if (known) return known;
    const p = v.producer;
    if (p && opDef(p.op).kind === "source") return literal(p, dims);
    const slot = slots.indexOf(v);
    if (slot < 0) throw new Error(`internal: kernel ${k.name} reads unbound %${v.id}`);
    const name = `x${slot}`;
    lines.push(`let ${name} = ${buffer}${slot}[${indexExpr(i, concreteShape(v.type.shape, dims), space)}];`);
    names.set(v, name);
    return name;
  };
  for (const n of nodes) {
    if (names.has(n.out)) continue;
    const def = opDef(n.op);
    let expr: string;
    if (def.kind === "elementwise") expr = (def as ElementwiseOp).wgsl(...n.inputs.map(ref));
    else if (n.op === "broadcast") expr = ref(n.inputs[0]!);
    else if (def.kind === "source") expr = literal(n, dims);
    else throw new Error(`internal: ${n.op} in an elementwise body`);
    const name = `v${n.out.id}`;
    lines.push(`let ${name} = ${expr};`);
    names.set(n.out, name);
  }
  return { lines, ref };
}

function literal(n: Node, dims: DimBindings): string {
  if (n.op === "size") return wgslFloat(numel(concreteShape(n.attrs["dims"] as (string | number)[], dims)));
  return wgslFloat(n.attrs["value"] as number);
}

function elementwiseKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const space = concreteShape(k.output.type.shape, dims);
  const total = numel(space);
  const wg = opts.workgroupSize;
  const { lines, ref } = expressionBody(k, k.nodes, "i", space, dims);
  const result = ref(k.output);
  const wgsl = [
    ...bindings(k.inputs),
    "",
    `@compute @workgroup_size(${wg})`,
    `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
    `  let i = gid.x + gid.y * nwg.x * ${wg}u;`,
    `  if (i >= ${total}u) { return; }`,
    ...lines.map((l) => `  ${l}`),
    `  out[i] = ${result};`,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(total, wg), inputs: k.inputs, output: k.output };
}

/**
 * A reduction with its elementwise prologue: one thread per output element loops over the
 * reduced elements, evaluating the prologue at each.
 */
function reduceKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const red = k.nodes.at(-1)!;
  const def = opDef(red.op) as ReduceOp;
  const src = red.inputs[0]!;
  const space = concreteShape(src.type.shape, dims);
  const axes = reduceAxes(red.attrs, space.length);
  const sp = stridesOf(space);
  const kept = space.map((_, d) => d).filter((d) => !axes.includes(d));
  const keptShape = kept.map((d) => space[d]!);
  const keptStrides = stridesOf(keptShape);
  const redShape = axes.map((d) => space[d]!);
  const redStrides = stridesOf(redShape);
  const outCount = numel(keptShape);
  const count = numel(redShape);
  const coord = (v: string, strides: number[], shape: number[], j: number) =>
    `((${v} / ${strides[j]}u) % ${shape[j]}u)`;
  const base = kept.map((d, j) => `${coord("o", keptStrides, keptShape, j)} * ${sp[d]}u`).join(" + ") || "0u";
  const offset = axes.map((d, j) => `${coord("r", redStrides, redShape, j)} * ${sp[d]}u`).join(" + ") || "0u";
  const prologue = k.nodes.slice(0, -1);
  const { lines: read, ref } = expressionBody(k, prologue, "j", space, dims);
  const value = ref(src);
  const wg = opts.workgroupSize;
  const wgsl = [
    ...bindings(k.inputs),
    "",
    `@compute @workgroup_size(${wg})`,
    `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
    `  let o = gid.x + gid.y * nwg.x * ${wg}u;`,
    `  if (o >= ${outCount}u) { return; }`,
    `  let base = ${base};`,
    `  var acc: f32 = ${def.wgslInit};`,
    `  for (var r = 0u; r < ${count}u; r++) {`,
    `    let j = base + ${offset};`,
    ...read.map((l) => `    ${l}`),
    `    acc = ${def.wgslCombine("acc", value)};`,
    `  }`,
    `  out[o] = ${def.wgslFinish("acc", wgslFloat(count))};`,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(outCount, wg), inputs: k.inputs, output: k.output };
}

/** A matmul, with the elementwise nodes after it in the kernel as its epilogue. */
function contraction(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const head = k.nodes.find((n) => opDef(n.op).kind === "contraction")!;
  const [a, b] = head.inputs as [Value, Value];
  const ta = head.attrs["ta"] === true;
  const tb = head.attrs["tb"] === true;
  const as = concreteShape(a.type.shape, dims);
  const bs = concreteShape(b.type.shape, dims);
  const [ra, rb] = [as.length, bs.length];
  let [m, kk] = ta ? [as[ra - 1]!, as[ra - 2]!] : [as[ra - 2]!, as[ra - 1]!];
  const nn = tb ? bs[rb - 2]! : bs[rb - 1]!;
  let batch = numel(concreteShape(head.out.type.shape, dims).slice(0, -2));
  let batchStrideA = ra > 2 ? m * kk : 0;
  const batchStrideB = rb > 2 ? kk * nn : 0;
  if (batch > 1 && rb === 2 && !ta) {
    // NOTE: a batch of row blocks times one shared matrix is one taller matmul (a dense layer on [B, T, F]).
    m *= batch;
    batch = 1;
    batchStrideA = m * kk;
  }
  const space = concreteShape(head.out.type.shape, dims);
  const rest = k.nodes.filter((n) => n !== head);
  let epilogue: MatmulSpec["epilogue"];
  let extras: Value[] = [];
  if (rest.length) {
    const inside = new Set(k.nodes.map((n) => n.out));
    extras = k.inputs.filter((v) => !inside.has(v) && rest.some((n) => n.inputs.includes(v)));
    const body = expressionBody(k, rest, "idx", space, dims, new Map([[head.out, "acc"]]), extras, "e");
    const result = body.ref(k.output);
    epilogue = {
      extraInputs: extras.length,
      fn: [
        `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {`,
        `  let idx = (b * ${m}u + i) * ${nn}u + j;`,
        ...body.lines.map((l) => `  ${l}`),
        `  return ${result};`,
        `}`,
      ].join("\n"),
    };
  }
  const { wgsl, workgroups } = matmulKernel({
    batch: Math.max(1, batch),
    m,
    n: nn,
    k: kk,
    transA: ta,
    transB: tb,
    batchStrideA,
    batchStrideB,
    ...opts.matmul,
    epilogue,
  });
  return { name: k.name, wgsl, workgroups, inputs: [a, b, ...extras], output: k.output };
}
