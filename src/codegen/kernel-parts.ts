/**
 * The pieces kernel generators share: what a compiled kernel is, the codegen options, the grid of
 * a one-thread-per-element kernel, its bindings, and the statements of an elementwise or a reduce
 * kernel's thread (wgsl.ts writes whole kernels of one kind from them, row-kernel.ts several kinds
 * in one).
 */
import type { Kernel, Node, Value } from "../ir/graph.js";
import { wgslFloat } from "../ir/ops/numerics.js";
import { reduceAxes } from "../ir/ops/reduce.js";
import { opDef } from "../ir/ops/registry.js";
import type { ReduceOp } from "../ir/ops/types.js";
import { concreteShape, numel, stridesOf, type DimBindings } from "../ir/types.js";
import { expressionBody } from "./expression-body.js";
import type { GemmTiling } from "./kernels/implicit-gemm.js";
import type { MatmulChooser, MatmulParams } from "./matmul-choice.js";

/** One kernel ready to dispatch: its WGSL, the grid, and the values bound in binding order. */
export interface CompiledKernel {
  name: string;
  wgsl: string;
  workgroups: [number, number, number];
  /** Values read, bound as bindings 0..n-1; then the output, then the extra outputs. */
  inputs: Value[];
  output: Value;
  /** Values an elementwise kernel writes besides its output (see Kernel.extraOutputs). */
  extraOutputs?: Value[];
}

/** Template choices that depend on the adapter (picked by measurement, see bench/). */
export interface CodegenOptions {
  /** One parameter set for every matmul, or a choice per shape (a built-in table, or tuned: see matmul-tune.ts). */
  matmul: MatmulParams | MatmulChooser;
  /** Threads per workgroup for reduce, row and window kernels. */
  workgroupSize: number;
  /**
   * Elementwise kernels: `threads` per workgroup, each computing `perThread` elements (lane l of
   * workgroup w takes w * threads * perThread + e * threads + l, so neighbouring lanes touch
   * neighbouring elements at every step). See elementwiseKernel.
   */
  elementwise: { threads: number; perThread: number };
  /**
   * Window ops that are implicit matrix products (conv and its gradients): register-blocked with
   * these tiles, or "direct" for the one-thread-per-element loop every window op has.
   */
  conv: GemmTiling | "direct";
}

const MAX_WORKGROUPS = 65535;

/**
 * The bound of a one-thread-per-element kernel: its output's length, read from the bound buffer
 * (which holds exactly the output, or 1 value for an empty one) rather than written as a constant.
 * A kernel whose shapes vary only in a leading batch dim then has the same WGSL at every batch
 * size, so a new size (the last partial batch, `run` on 3 rows, the first eval) reuses its
 * compiled pipeline; the grid, which does change, is in the Plan.
 */
export const LENGTH = "arrayLength(&out)";

/** The entry point of a kernel dispatched on a grid1d grid, up to its opening brace. */
export const GRID_ENTRY = "fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {";

/** A thread's linear index on a grid1d grid of workgroups of `wg` threads (a WGSL expression). */
export function gridIndex(wg: number): string {
  return `gid.x + gid.y * nwg.x * ${wg}u`;
}

/**
 * Splits a 1-D count of workgroups over x and y so neither exceeds the per-dimension limit (a
 * 5000 x 5000 update is 390,625 groups of 64). The kernels recompute the linear index as
 * `gridIndex(wg)` and skip threads past the end; x is balanced over the rows of the grid, so at
 * most y - 1 workgroups do nothing.
 */
export function grid1d(threads: number, wg: number, limit = MAX_WORKGROUPS): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / wg));
  if (groups <= limit) return [groups, 1, 1];
  const y = Math.ceil(groups / limit);
  if (y > limit) throw new Error(`internal: ${threads} threads need more than ${limit} x ${limit} workgroups of ${wg}`);
  return [Math.ceil(groups / y), y, 1];
}

/** The storage bindings of a kernel: `in0`, `in1`, ... read, then `out`, `out1`, ... written. */
export function bindings(inputs: Value[], extraOutputs = 0): string[] {
  const lines = inputs.map((_, i) => `@group(0) @binding(${i}) var<storage, read> in${i}: array<f32>;`);
  lines.push(`@group(0) @binding(${inputs.length}) var<storage, read_write> out: array<f32>;`);
  for (let j = 1; j <= extraOutputs; j++) lines.push(`@group(0) @binding(${inputs.length + j}) var<storage, read_write> out${j}: array<f32>;`);
  return lines;
}

/** The statements of an elementwise kernel's thread `i` (in bounds), storing its output and extra outputs in the buffers `outs`. */
export function elementwiseLines(k: Kernel, dims: DimBindings, outs: string[]): string[] {
  const { lines, ref } = expressionBody({ kernel: k, nodes: k.nodes, index: "i", dims });
  const result = ref(k.output);
  // NOTE: after the result, so each extra is a value the body has named already.
  const writes = (k.extraOutputs ?? []).map((v, j) => `${outs[j + 1]}[i] = ${ref(v)};`);
  return [...lines, `${outs[0]}[i] = ${result};`, ...writes].map((l) => `  ${l}`);
}

/** Reductions over more values than this add them up in chunks of this many (see reduceKernel). */
export const REDUCE_CHUNK = 1024;

/** Where a reduction over `axes` of `space` reads: the row's `base` (from its output index `o`) and each element's `offset` from it (from `r`). */
export function reductionIndexing(space: number[], axes: number[]): { base: string; offset: string; count: number; outCount: number } {
  const sp = stridesOf(space);
  const kept = space.map((_, d) => d).filter((d) => !axes.includes(d));
  const keptShape = kept.map((d) => space[d]!);
  const keptStrides = stridesOf(keptShape);
  const redShape = axes.map((d) => space[d]!);
  const redStrides = stridesOf(redShape);
  // NOTE: the outermost coordinate needs no modulo (o < outCount); without it a leading batch
  // dim appears nowhere in the text, and every batch size shares the pipeline.
  const coord = (v: string, strides: number[], shape: number[], j: number) =>
    j === 0 ? (strides[0] === 1 ? v : `(${v} / ${strides[0]}u)`) : `((${v} / ${strides[j]}u) % ${shape[j]}u)`;
  const base = kept.map((d, j) => `${coord("o", keptStrides, keptShape, j)} * ${sp[d]}u`).join(" + ") || "0u";
  const offset = axes.map((d, j) => `${coord("r", redStrides, redShape, j)} * ${sp[d]}u`).join(" + ") || "0u";
  return { base, offset, count: numel(redShape), outCount: numel(keptShape) };
}

/**
 * The loop of one reduction into `acc` (declared here) over `count` elements at `j = base +
 * offset`, each read by `read` (statements) as `value`.
 */
export function reductionLoop(def: ReduceOp, acc: string, count: number, offset: string, read: string[], value: string): string[] {
  // NOTE: one f32 accumulator over n values drifts by up to about n/2 units in the last place: the
  // mean of 200,000 squares came out 0.36% off the CPU reference's (found by the fuzzer). Long
  // reductions add up chunks of REDUCE_CHUNK values first, then the chunks (about (n/C + C)/2).
  const head = `var ${acc}: f32 = ${def.wgslInit};`;
  if (count > REDUCE_CHUNK)
    return [
      head,
      `for (var r0 = 0u; r0 < ${count}u; r0 += ${REDUCE_CHUNK}u) {`,
      `  var part: f32 = ${def.wgslInit};`,
      `  for (var r = r0; r < min(r0 + ${REDUCE_CHUNK}u, ${count}u); r++) {`,
      `    let j = base + ${offset};`,
      ...read.map((l) => `    ${l}`),
      `    part = ${def.wgslCombine("part", value)};`,
      `  }`,
      `  ${acc} = ${def.wgslCombine(acc, "part")};`,
      `}`,
    ];
  return [head, `for (var r = 0u; r < ${count}u; r++) {`, `  let j = base + ${offset};`, ...read.map((l) => `  ${l}`), `  ${acc} = ${def.wgslCombine(acc, value)};`, `}`];
}

/** The statements of a reduce kernel's thread `o` (in bounds), storing its result in `out`; and how many threads it needs. */
export function reduceLines(k: Kernel, dims: DimBindings, out: string): { lines: string[]; outCount: number } {
  const red = k.nodes.find((n) => opDef(n.op).kind === "reduce")!;
  const { prologue, epilogue } = splitAtReduction(k.nodes, red);
  const def = opDef(red.op) as ReduceOp;
  const src = red.inputs[0]!;
  const space = concreteShape(src.type.shape, dims);
  const { base, offset, count, outCount } = reductionIndexing(space, reduceAxes(red.attrs, space.length));
  const { lines: read, ref } = expressionBody({ kernel: k, nodes: prologue, index: "j", dims });
  const value = ref(src);
  const lines = [`let base = ${base};`, ...reductionLoop(def, "acc", count, offset, read, value), ...epilogueLines(k, epilogue, red, def.wgslFinish("acc", wgslFloat(count)), dims, out)];
  return { lines: lines.map((l) => `  ${l}`), outCount };
}

/**
 * A reduce kernel's nodes that feed its reduction (the prologue, evaluated per reduced element)
 * and the rest (the epilogue, evaluated once per output element), each in kernel order.
 */
function splitAtReduction(nodes: Node[], red: Node): { prologue: Node[]; epilogue: Node[] } {
  const feeds = new Set<Value>(red.inputs);
  for (let i = nodes.indexOf(red) - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (feeds.has(n.out)) for (const v of n.inputs) feeds.add(v);
  }
  return { prologue: nodes.filter((n) => n !== red && feeds.has(n.out)), epilogue: nodes.filter((n) => n !== red && !feeds.has(n.out)) };
}

/** The lines that store a reduce kernel's result in `out`: the reduction's value, or the epilogue's on it. */
function epilogueLines(k: Kernel, epilogue: Node[], red: Node, value: string, dims: DimBindings, out: string): string[] {
  if (!epilogue.length) return [`${out}[o] = ${value};`];
  const body = expressionBody({ kernel: k, nodes: epilogue, index: "o", dims, preset: new Map([[red.out, "reduced"]]) });
  const result = body.ref(k.output);
  return [`let reduced = ${value};`, ...body.lines, `${out}[o] = ${result};`];
}
