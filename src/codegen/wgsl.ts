import type { Kernel, Node, Value } from "../ir/graph.js";
import { wgslFloat } from "../ir/ops/numerics.js";
import { matmulLayout } from "../ir/ops/matmul.js";
import { reduceAxes } from "../ir/ops/reduce.js";
import { opDef } from "../ir/ops/registry.js";
import type { GemmView, ReduceOp, WindowOp, WindowWgsl } from "../ir/ops/types.js";
import { concreteShape, numel, stridesOf, type DimBindings } from "../ir/types.js";
import { expressionBody, sourceExpr } from "./expression-body.js";
import { implicitGemmKernel, type GemmTiling } from "./kernels/implicit-gemm.js";
import { matmulKernel, type MatmulSpec } from "./kernels/matmul.js";
import { multiKernel, rowKernel } from "./row-kernel.js";
import { defaultMatmulChooser, type MatmulChooser, type MatmulParams } from "./matmul-choice.js";

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

/**
 * Defaults measured on llvmpipe: matmuls from llvmpipe's built-in table (register-blocked, no
 * workgroup memory). Deterministic: tests compile with these, never with tuned choices.
 */
export const DEFAULT_CODEGEN: CodegenOptions = {
  matmul: defaultMatmulChooser("llvmpipe"),
  workgroupSize: 64,
  elementwise: { threads: 128, perThread: 16 },
  conv: { tileM: 8, tileN: 4, threads: 64, minWorkgroups: 4 },
};

/**
 * `base` with what the adapter allows beyond the portable defaults: implicit GEMMs share their
 * A loads across subgroups of `subgroupSize` (the device's, when fixed; see GemmTiling.subgroup).
 * Measured on llvmpipe (8 lanes), bench/conv-kernels.ts: the 32->64 3x3 conv of the CNNs 2.3x
 * less CPU per dispatch, its weight gradient 2.3x, its input gradient 1.9x, with no slower
 * first dispatch. Plans made with it run only on devices with subgroups, so the defaults (and
 * `netc build`'s modules) keep without.
 */
export function forAdapter(base: CodegenOptions, subgroupSize: number | undefined): CodegenOptions {
  if (!subgroupSize || base.conv === "direct" || base.conv.subgroup !== undefined) return base;
  return { ...base, conv: { ...base.conv, subgroup: subgroupSize } };
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

/** Emits the WGSL for one fused kernel, specialised to concrete dims. */
export function generateKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions = DEFAULT_CODEGEN): CompiledKernel {
  if (k.extraOutputs?.length && k.kind !== "elementwise" && k.kind !== "row" && k.kind !== "multi") throw new Error(`internal: ${k.kind} kernel ${k.name} with extra outputs`);
  switch (k.kind) {
    case "row":
      return rowKernel(k, dims, opts);
    case "multi":
      return multiKernel(k, dims, opts);
    case "contraction":
      return contraction(k, dims, opts);
    case "window":
      return windowKernel(k, dims, opts);
    case "reduce":
      return reduceKernel(k, dims, opts);
    default:
      return elementwiseKernel(k, dims, opts);
  }
}

/**
 * Splits a 1-D count of workgroups over x and y so neither exceeds the per-dimension limit (a
 * 5000 x 5000 update is 390,625 groups of 64). The kernels recompute the linear index as
 * `gid.x + gid.y * nwg.x * wg` and skip threads past the end; x is balanced over the rows of the
 * grid, so at most y - 1 workgroups do nothing.
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

function elementwiseKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const space = concreteShape(k.output.type.shape, dims);
  const total = numel(space);
  const { threads: wg, perThread } = opts.elementwise;
  const extras = k.extraOutputs ?? [];
  const body = elementwiseLines(k, dims, ["out", ...extras.map((_, j) => `out${j + 1}`)]);
  // NOTE: on llvmpipe each workgroup and each one-float storage access has a fixed cost, so a
  // thread takes several elements. fashion-cnn2's ten biggest elementwise kernels (batch norm over
  // 1.38M values, 2 rounds under load): 67-107 ms/step at 64 x 1, 93-96 at 256 x 1, 54-59 at
  // 256 x 8, 33-35 at 128 x 16 (64 x 16, 256 x 16 and 256 x 32 about the same, 512 x 8 worse).
  // The MLP step's small kernels and the cold first step do not move. The step count goes through arrayLength (never 0: a binding holds at least
  // one element) so llvmpipe cannot see it: it fully unrolls visible counts up to 32 and compiles
  // every store site per lane, which would multiply the compile time of big fused bodies (Adam's
  // update with its extra outputs) by perThread at the first dispatch.
  const lines =
    perThread === 1
      ? [
          `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
          `  let i = gid.x + gid.y * nwg.x * ${wg}u;`,
          `  if (i >= ${LENGTH}) { return; }`,
          ...body,
        ]
      : [
          `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32, @builtin(num_workgroups) nwg: vec3<u32>) {`,
          `  let n = ${LENGTH};`,
          `  let steps = select(0u, ${perThread}u, n > 0u);`,
          `  let first = (wid.x + wid.y * nwg.x) * ${wg * perThread}u + lane;`,
          `  for (var e = 0u; e < steps; e++) {`,
          `    let i = first + e * ${wg}u;`,
          `    if (i >= n) { break; }`,
          ...body.map((l) => `  ${l}`),
          `  }`,
        ];
  const wgsl = [...bindings(k.inputs, extras.length), "", `@compute @workgroup_size(${wg})`, ...lines, `}`, ""].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(Math.ceil(total / perThread), wg), inputs: k.inputs, output: k.output, ...(extras.length ? { extraOutputs: extras } : {}) };
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

/**
 * A reduction with its elementwise prologue and epilogue: one thread per output element loops over
 * the reduced elements, evaluating the prologue at each, then evaluates the epilogue (the nodes
 * after the reduction: a mean's negation, a bias's SGD update) on the result at its own index.
 */
function reduceKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const wg = opts.workgroupSize;
  const { lines, outCount } = reduceLines(k, dims, "out");
  const wgsl = [
    ...bindings(k.inputs),
    "",
    `@compute @workgroup_size(${wg})`,
    `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
    `  let o = gid.x + gid.y * nwg.x * ${wg}u;`,
    `  if (o >= ${LENGTH}) { return; }`,
    ...lines,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(outCount, wg), inputs: k.inputs, output: k.output };
}

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

/** A matmul, with the elementwise nodes after it in the kernel as its epilogue. */
function contraction(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const head = k.nodes.find((n) => opDef(n.op).kind === "contraction")!;
  const [a, b] = head.inputs as [Value, Value];
  const layout = matmulLayout(concreteShape(a.type.shape, dims), concreteShape(b.type.shape, dims), head.attrs);
  const { k: kk, n: nn, ta, tb, strideB: batchStrideB } = layout;
  let { m, batch, strideA: batchStrideA } = layout;
  if (batch > 1 && b.type.shape.length === 2 && !ta) {
    // NOTE: a batch of row blocks times one shared matrix is one taller matmul (a dense layer on [B, T, F]).
    m *= batch;
    batch = 1;
    batchStrideA = m * kk;
  }
  const rest = k.nodes.filter((n) => n !== head);
  let epilogue: MatmulSpec["epilogue"];
  let extras: Value[] = [];
  if (rest.length) {
    const inside = new Set(k.nodes.map((n) => n.out));
    extras = k.inputs.filter((v) => !inside.has(v) && rest.some((n) => n.inputs.includes(v)));
    const body = expressionBody({ kernel: k, nodes: rest, index: "idx", dims, preset: new Map([[head.out, "acc"]]), slots: extras, buffer: "e" });
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
  const shape = { batch: Math.max(1, batch), m, n: nn, k: kk, transA: ta, transB: tb };
  const params = typeof opts.matmul === "function" ? opts.matmul(shape) : opts.matmul;
  const { wgsl, workgroups } = matmulKernel({ ...shape, batchStrideA, batchStrideB, ...params, epilogue });
  return { name: k.name, wgsl, workgroups, inputs: [a, b, ...extras], output: k.output };
}

/**
 * A window op (conv, pool, their gradients, gather_grad) with the elementwise nodes after it as
 * its epilogue: one thread per output element computes `acc` with the op's own loop, then the
 * epilogue at the same index with `acc` preset (as the matmul epilogue does). Every value read,
 * the head's operands and the epilogue's, is bound once, as `in0`, `in1`, ...
 */
function windowKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions): CompiledKernel {
  const head = k.nodes.find((n) => opDef(n.op).kind === "window" && !(opDef(n.op) as WindowOp).inline)!;
  const def = opDef(head.op) as WindowOp;
  const space = concreteShape(head.out.type.shape, dims);
  const total = numel(space);
  const wg = opts.workgroupSize;
  const lines: string[] = [];
  const taken = new Map<string, number>();
  const ctx: WindowWgsl = {
    idx: "idx",
    out: space,
    ins: head.inputs.map((v) => concreteShape(v.type.shape, dims)),
    attrs: head.attrs,
    read: (input, index) => {
      const v = head.inputs[input]!;
      const p = v.producer;
      if (p && opDef(p.op).kind === "source") return sourceExpr(p, dims, index);
      const slot = k.inputs.indexOf(v);
      if (slot < 0) throw new Error(`internal: kernel ${k.name} reads unbound %${v.id}`);
      return `in${slot}[${index}]`;
    },
    emit: (line) => lines.push(line),
    name: (base) => {
      const n = taken.get(base) ?? 0;
      taken.set(base, n + 1);
      return `h_${base}${n ? `_${n}` : ""}`;
    },
  };
  const rest = k.nodes.filter((n) => n !== head);
  const body = expressionBody({ kernel: k, nodes: rest, index: "idx", dims, preset: new Map([[head.out, "acc"]]) });
  const result = rest.length ? body.ref(k.output) : "acc";
  const gemm = opts.conv !== "direct" ? gemmOf(k, head, def, space, dims) : undefined;
  if (gemm && opts.conv !== "direct") {
    const epilogue = rest.length ? [`fn epilogue(acc: f32, idx: u32) -> f32 {`, ...body.lines.map((l) => `  ${l}`), `  return ${result};`, `}`] : [];
    const { wgsl, workgroups } = implicitGemmKernel({
      view: gemm.view,
      tiling: opts.conv,
      buffers: gemm.buffers,
      lengths: ctx.ins.map(numel),
      header: [...bindings(k.inputs), "", ...epilogue],
      prologue: k.inputs.map((_, i) => `_ = &in${i};`),
      epilogue: rest.length > 0,
      comment: `${head.op}: out[${space.join(", ")}] from ${ctx.ins.map((s) => `[${s.join(", ")}]`).join(", ")}`,
    });
    return { name: k.name, wgsl, workgroups, inputs: k.inputs, output: k.output };
  }
  const blocks = def.blocks?.(ctx);
  if (blocks) {
    // Statements of each element go inside the store loop: emitted after its head.
    const mark = lines.length;
    const t = ctx.name("t");
    const el = blocks.element(t);
    const inner = lines.splice(mark);
    const wgsl = [
      ...bindings(k.inputs),
      "",
      `fn epilogue(acc: f32, idx: u32) -> f32 {`,
      ...body.lines.map((l) => `  ${l}`),
      `  return ${result};`,
      `}`,
      "",
      `// ${head.op}: out[${space.join(", ")}] from ${ctx.ins.map((s) => `[${s.join(", ")}]`).join(", ")}, one thread per block of ${blocks.count}`,
      `@compute @workgroup_size(${wg})`,
      `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
      ...k.inputs.map((_, i) => `  _ = &in${i};`),
      `  let idx = gid.x + gid.y * nwg.x * ${wg}u;`,
      `  if (idx >= ${LENGTH} / ${blocks.per.outputs}u * ${blocks.per.threads}u) { return; }`,
      ...lines.map((l) => `  ${l}`),
      // NOTE: one store site in a loop whose count the shader compiler cannot see (as the implicit
      // GEMM's store loop): llvmpipe writes out short counted loops and expands every store site
      // into a branch per SIMD lane, both of which slow the first dispatch's compile.
      `  let n_out = select(0u, ${blocks.count}u, arrayLength(&out) > 0u);`,
      `  for (var ${t} = 0u; ${t} < n_out; ${t}++) {`,
      ...inner.map((l) => `    ${l}`),
      `    if (${el.valid}) { out[${el.index}] = epilogue(${el.value}, ${el.index}); }`,
      `  }`,
      `}`,
      "",
    ].join("\n");
    return { name: k.name, wgsl, workgroups: grid1d(blocks.threads, wg), inputs: k.inputs, output: k.output };
  }
  const value = def.wgsl(ctx);
  const wgsl = [
    ...bindings(k.inputs),
    "",
    `// ${head.op}: out[${space.join(", ")}] from ${ctx.ins.map((s) => `[${s.join(", ")}]`).join(", ")}, one thread per element`,
    `@compute @workgroup_size(${wg})`,
    `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {`,
    // NOTE: layout "auto" leaves out bindings the shader never uses (avg pool_grad never reads x).
    ...k.inputs.map((_, i) => `  _ = &in${i};`),
    `  let idx = gid.x + gid.y * nwg.x * ${wg}u;`,
    `  if (idx >= ${LENGTH}) { return; }`,
    ...lines.map((l) => `  ${l}`),
    `  let acc = ${value};`,
    ...body.lines.map((l) => `  ${l}`),
    `  out[idx] = ${result};`,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(total, wg), inputs: k.inputs, output: k.output };
}

/**
 * The head's implicit GEMM view and the buffer of each operand, when it has one and can use it:
 * both operands read from bound buffers (not inlined sources) and every index fits in i32.
 */
function gemmOf(k: Kernel, head: Node, def: WindowOp, space: number[], dims: DimBindings): { view: GemmView; buffers: string[] } | undefined {
  const ins = head.inputs.map((v) => concreteShape(v.type.shape, dims));
  if ([space, ...ins].some((s) => numel(s) >= 2 ** 31)) return undefined;
  const view = def.gemm?.(ins, space, head.attrs);
  if (!view) return undefined;
  const slots = head.inputs.map((v) => k.inputs.indexOf(v));
  if (slots.some((s) => s < 0)) return undefined;
  return { view, buffers: slots.map((s) => `in${s}`) };
}
