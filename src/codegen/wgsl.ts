import type { Kernel, Node, Value } from "../ir/graph.js";
import { matmulLayout } from "../ir/ops/matmul.js";
import { opDef } from "../ir/ops/registry.js";
import type { GemmView, WindowOp, WindowWgsl } from "../ir/ops/types.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import { expressionBody, sourceExpr } from "./expression-body.js";
import { implicitGemmKernel } from "./kernels/implicit-gemm.js";
import { MatmulTemplates, type MatmulSpec } from "./kernels/matmul.js";
import { bindings, elementwiseLines, grid1d, GRID_ENTRY, gridIndex, LENGTH, reduceLines, type CodegenOptions, type CompiledKernel } from "./kernel-parts.js";
import { multiKernel, rowKernel } from "./row-kernel.js";
import { defaultMatmulChooser } from "./matmul-choice.js";

export type { CodegenOptions, CompiledKernel } from "./kernel-parts.js";

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

/**
 * Emits the WGSL for one fused kernel, specialised to concrete dims. `matmuls`: templates shared
 * by the kernels of one plan (a fresh set by default).
 */
export function generateKernel(k: Kernel, dims: DimBindings, opts: CodegenOptions = DEFAULT_CODEGEN, matmuls = new MatmulTemplates()): CompiledKernel {
  if (k.extraOutputs?.length && k.kind !== "elementwise" && k.kind !== "row" && k.kind !== "multi") throw new Error(`internal: ${k.kind} kernel ${k.name} with extra outputs`);
  switch (k.kind) {
    case "row":
      return rowKernel(k, dims, opts);
    case "multi":
      return multiKernel(k, dims, opts);
    case "contraction":
      return contraction(k, dims, opts, matmuls);
    case "window":
      return windowKernel(k, dims, opts);
    case "reduce":
      return reduceKernel(k, dims, opts);
    default:
      return elementwiseKernel(k, dims, opts);
  }
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
  // The MLP step's small kernels and the cold first step do not move. The step count goes
  // through arrayLength (never 0: a binding holds at least one element) so llvmpipe cannot see
  // it: it fully unrolls visible counts up to 32 and compiles every store site per lane, which
  // would multiply the compile time of big fused bodies (Adam's update with its extra outputs) by
  // perThread at the first dispatch.
  const lines =
    perThread === 1
      ? [
          GRID_ENTRY,
          `  let i = ${gridIndex(wg)};`,
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
    GRID_ENTRY,
    `  let o = ${gridIndex(wg)};`,
    `  if (o >= ${LENGTH}) { return; }`,
    ...lines,
    `}`,
    "",
  ].join("\n");
  return { name: k.name, wgsl, workgroups: grid1d(outCount, wg), inputs: k.inputs, output: k.output };
}

/** A matmul, with the elementwise nodes after it in the kernel as its epilogue. */
function contraction(k: Kernel, dims: DimBindings, opts: CodegenOptions, matmuls: MatmulTemplates): CompiledKernel {
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
  const { wgsl, workgroups } = matmuls.kernel({ ...shape, batchStrideA, batchStrideB, ...params, epilogue });
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
      GRID_ENTRY,
      ...k.inputs.map((_, i) => `  _ = &in${i};`),
      `  let idx = ${gridIndex(wg)};`,
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
    GRID_ENTRY,
    // NOTE: layout "auto" leaves out bindings the shader never uses (avg pool_grad never reads x).
    ...k.inputs.map((_, i) => `  _ = &in${i};`),
    `  let idx = ${gridIndex(wg)};`,
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
