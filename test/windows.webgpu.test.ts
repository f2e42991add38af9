import { describe, expect, it } from "vitest";
import type { GemmTiling } from "../src/codegen/kernels/implicit-gemm.js";
import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions } from "../src/codegen/wgsl.js";
import type { Attrs, Graph, Value } from "../src/ir/graph.js";
import type { Builder } from "../src/ir/ops/builder.js";
import { OPS } from "../src/ir/ops/registry.js";
import type { OpDef } from "../src/ir/ops/types.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { gpuSuite } from "./util/gpu-suite.js";
import type { Dim } from "../src/ir/types.js";
import { ctx, graphWith } from "./util/build.js";
import { differential as compareOnGpu, type DifferentialOptions } from "./util/gpu-differential.js";

// Window ops (conv, pool, gather, their gradients, iota, rand) on WebGPU against the CPU reference
// (f32), on shapes that are multiples of nothing. Sums of products accumulate in a different
// order on the GPU, so those compare within 1e-5 relative to max(1, |expected|); ops that only
// move or pick values (max pool, gather, iota, rand) must match exactly.

const suite = gpuSuite();

const SUMS = 1e-5;
/** The one-thread-per-element loops, for tests of their shape (conv has an implicit GEMM kernel by default). */
const DIRECT: CodegenOptions = { ...DEFAULT_CODEGEN, conv: "direct" };
const EXACT = 0;

/** WebGPU against the CPU reference (see test/util/gpu-differential.ts), with this file's device. */
function differential(shapes: Dim[][], build: (b: Builder, xs: Value[]) => Value[], opts: DifferentialOptions = {}): Promise<Graph> {
  return compareOnGpu(suite.gpu, suite.cache, shapes, build, { tol: SUMS, ...opts });
}

const kinds = (f: Graph) => f.kernels!.map((k) => k.kind);

/** An upstream gradient shaped like `out`: exp(0.5) · out, so it varies and needs a kernel. */
const upstream = (b: Builder, out: Value) => b.mul(b.op("exp", [b.op("broadcast", [b.const(0.5)], { shape: out.type.shape })]), out);

/** The op, and each gradient its rule gives, as outputs. */
function withGrads(b: Builder, op: keyof typeof OPS, ins: Value[], attrs: Attrs): Value[] {
  const out = b.op(op, ins, attrs);
  const grads = (OPS[op] as OpDef).grad!(b, upstream(b, out), ins, out, attrs);
  return [out, ...grads.filter((v): v is Value => v !== undefined)];
}

describe("conv and its gradients vs CPU reference", () => {
  const cases: [string, number[], number[], Attrs][] = [
    ["2-D, N=2 C=3 7x9, 3x2 kernels, stride 2, pads [1,0,2,1]", [2, 3, 7, 9], [5, 3, 3, 2], { strides: [2, 2], pads: [1, 0, 2, 1] }],
    ["2-D, dilation [2,1], groups 2, stride [1,3]", [2, 4, 9, 10], [6, 2, 3, 3], { strides: [1, 3], pads: [2, 1, 0, 2], dilations: [2, 1], groups: 2 }],
    ["2-D depthwise 3x3 'same'", [3, 5, 6, 7], [5, 1, 3, 3], { pads: [1, 1, 1, 1], groups: 5 }],
    ["2-D 1x1 kernel", [2, 7, 5, 3], [4, 7, 1, 1], {}],
    ["1-D, stride 2, dilation 3, pads [4,1]", [3, 2, 17], [3, 2, 3], { strides: [2], dilations: [3], pads: [4, 1] }],
    ["3-D, stride [2,1,2], pads [1,0,0,1,1,1], groups 3", [2, 3, 5, 4, 7], [3, 1, 2, 3, 3], { strides: [2, 1, 2], pads: [1, 0, 0, 1, 1, 1], groups: 3 }],
  ];
  // Implicit GEMM tilings (conv, conv_grad_weight, and conv_grad_input at stride 1, groups 1):
  // the default, ones whose blocks overhang every edge of these small outputs, and the direct loop.
  const codegens: [string, CodegenOptions][] = [
    ["default codegen", DEFAULT_CODEGEN],
    ["gemm 3x2 tiles in 16 threads", { ...DEFAULT_CODEGEN, conv: { tileM: 3, tileN: 2, threads: 16 } }],
    // Stores written out per output and k steps written out in pairs (a pair does not divide
    // every k's size here: those fall back to one step per iteration).
    ["gemm 2x3 tiles, stores written out, k unrolled by 2", { ...DEFAULT_CODEGEN, conv: { tileM: 2, tileN: 3, threads: 32, storeLoop: false, unroll: 2 } }],
    ["direct loops", { ...DEFAULT_CODEGEN, conv: "direct" }],
  ];
  const more: typeof cases = [
    ["2-D stride 1, pads [2,0,1,1], dilation [1,2]", [2, 3, 6, 8], [4, 3, 3, 2], { pads: [2, 0, 1, 1], dilations: [1, 2] }],
    ["2-D 'valid' 3x3 (the example CNNs' layers)", [3, 4, 7, 6], [5, 4, 3, 3], {}],
    ["2-D batch 1, 'same' 3x3, odd channels", [1, 5, 9, 7], [7, 5, 3, 3], { pads: [1, 1, 1, 1] }],
  ];
  for (const [cg, codegen] of codegens)
    for (const [name, xs, ws, attrs] of [...cases, ...more])
      it(`${name}, ${cg}: conv, conv_grad_input, conv_grad_weight`, async () => {
        const fused = await differential([xs, ws], (b, [x, w]) => withGrads(b, "conv", [x!, w!], attrs), { codegen });
        expect(kinds(fused).filter((k) => k === "window").length).toBe(3);
      });

  it("the gradients' own gradients (conv_grad_input and conv_grad_weight are linear) run too", async () => {
    const attrs: Attrs = { strides: [2, 1], pads: [0, 1, 1, 0], dilations: [1, 2], groups: 1 };
    // x [2, 2, 7, 6], w [3, 2, 2, 2] -> g [2, 3, 4, 5]
    await differential([[2, 3, 4, 5], [3, 2, 2, 2]], (b, [g, w]) => withGrads(b, "conv_grad_input", [g!, w!], { ...attrs, input: [7, 6] }));
    await differential([[2, 2, 7, 6], [2, 3, 4, 5]], (b, [x, g]) => withGrads(b, "conv_grad_weight", [x!, g!], { ...attrs, kernel: [2, 2] }));
  });

  it("conv, conv_grad_weight and stride-1 conv_grad_input become implicit GEMM kernels; grouped ones and strided input gradients keep the direct loop", () => {
    const heads = (xs: number[], ws: number[], attrs: Attrs) => {
      const { g, b, args } = graphWith([xs, ws], "input");
      g.outputs = withGrads(b, "conv", args, attrs).map((value, i) => ({ name: `o${i}`, value }));
      return fuse(g, ctx()).kernels!.filter((k) => k.kind === "window").map((k) => (generateKernel(k, {}).wgsl.includes("implicit GEMM") ? "gemm" : "direct"));
    };
    expect(heads([2, 3, 7, 9], [5, 3, 3, 3], { pads: [1, 1, 1, 1] })).toEqual(["gemm", "gemm", "gemm"]);
    expect(heads([2, 3, 7, 9], [5, 3, 3, 3], { strides: [2, 2] }).sort()).toEqual(["direct", "gemm", "gemm"]);
    expect(heads([2, 4, 7, 9], [6, 2, 3, 3], { groups: 2 })).toEqual(["direct", "direct", "direct"]);
  });
});

describe("implicit GEMM with A's loads shared across a subgroup (subgroupBroadcast) vs CPU reference", () => {
  // Sharing needs the workgroup's width a multiple of the subgroup size: outputs 8 or 16 columns
  // wide (filters, channels, channels x taps) with narrow blocks; rows overhang every block.
  const layers: [string, number[], number[], Attrs][] = [
    ["8->16 3x3, pads [1,0,2,1]", [2, 8, 7, 9], [16, 8, 3, 3], { pads: [1, 0, 2, 1] }],
    ["8->8 2x3, dilation [2,1], pads [0,1,1,0]", [3, 8, 6, 5], [8, 8, 2, 3], { pads: [0, 1, 1, 0], dilations: [2, 1] }],
    ["8->16 3x3 stride 2 (strided input gradient: direct loop)", [2, 8, 9, 7], [16, 8, 3, 3], { strides: [2, 2] }],
    // A weight gradient 9 columns wide: too narrow for a subgroup of blocks, so columns of one.
    ["1->16 3x3 (a 16 x 9 weight gradient)", [2, 1, 7, 9], [16, 1, 3, 3], {}],
  ];
  const tilings: [string, Omit<GemmTiling, "subgroup">][] = [
    ["the default tiling", DEFAULT_CODEGEN.conv as GemmTiling],
    ["8x1 tiles in 64 threads", { tileM: 8, tileN: 1, threads: 64 }],
    ["16x2 tiles in 32 threads", { tileM: 16, tileN: 2, threads: 32 }],
    ["8x1 tiles, stores written out, k unrolled by 2", { tileM: 8, tileN: 1, threads: 64, storeLoop: false, unroll: 2 }],
  ];
  for (const [tname, tiling] of tilings)
    for (const [name, xs, ws, attrs] of layers)
      it(`${name}, ${tname}: conv, conv_grad_input, conv_grad_weight`, async (t) => {
        const size = suite.gpu.subgroupSize;
        if (!size) return t.skip();
        const codegen: CodegenOptions = { ...DEFAULT_CODEGEN, conv: { ...tiling, subgroup: size } };
        const fused = await differential([xs, ws], (b, [x, w]) => withGrads(b, "conv", [x!, w!], attrs), { codegen });
        const shared = fused.kernels!.filter((k) => generateKernel(k, {}, codegen).wgsl.includes("rows shared by subgroups"));
        expect(shared.length).toBeGreaterThanOrEqual(1);
      });
});

describe("pool and pool_grad vs CPU reference", () => {
  const cases: [string, number[], Attrs][] = [
    ["max 3x2, stride 2, pads [1,0,1,1]", [2, 3, 7, 9], { mode: "max", kernel: [3, 2], strides: [2, 2], pads: [1, 0, 1, 1] }],
    ["max 2x2 stride 2, ceil mode", [2, 3, 7, 9], { mode: "max", kernel: [2, 2], strides: [2, 2], ceil: true }],
    ["max 3x3 stride 1 (overlapping), dilation 2, pads 2", [1, 2, 8, 7], { mode: "max", kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] }],
    ["avg 3x2, pads [2,0,1,1], ceil, real count", [2, 3, 7, 9], { mode: "avg", kernel: [3, 2], strides: [2, 2], pads: [2, 0, 1, 1], ceil: true }],
    ["avg 3x3, pads 1, ceil, count_pad", [2, 3, 7, 9], { mode: "avg", kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: true, count_pad: true }],
    ["max 1-D, stride 3, ceil", [3, 2, 17], { mode: "max", kernel: [4], strides: [3], pads: [1, 2], ceil: true }],
    ["avg 1-D, count_pad", [3, 2, 17], { mode: "avg", kernel: [4], strides: [3], pads: [1, 2], count_pad: true }],
    ["max 3-D", [2, 3, 5, 4, 7], { mode: "max", kernel: [2, 3, 2], strides: [2, 1, 2], pads: [1, 0, 1, 1, 0, 1], ceil: true }],
    ["avg 3-D, count_pad", [2, 3, 5, 4, 7], { mode: "avg", kernel: [2, 3, 2], strides: [2, 1, 2], pads: [1, 0, 1, 1, 0, 1], count_pad: true }],
  ];
  for (const [name, xs, attrs] of cases)
    it(`${name}: pool and pool_grad`, async () => {
      // Max pooling only picks values (exact); its gradient adds up to kernel-size g's per element.
      const tol = attrs["mode"] === "max" ? 1e-6 : SUMS;
      await differential([xs], (b, [x]) => withGrads(b, "pool", [x!], attrs), { tol });
    });

  it("max pool_grad with ties sends each window's gradient to its first maximum, as on the CPU", async () => {
    const x = Array.from({ length: 2 * 2 * 6 * 5 }, (_, i) => Math.floor((i * 7) % 5) / 4);
    await differential([[2, 2, 6, 5], [2, 2, 5, 4]], (b, [xx, g]) => [b.op("pool_grad", [xx!, g!], { mode: "max", kernel: [3, 2], pads: [0, 1, 0, 0] })], {
      data: { 0: x },
      tol: 1e-6,
    });
  });
});

describe("pool_grad over disjoint windows (stride = kernel, no padding before) vs CPU reference", () => {
  // The fast path finds each element's one window by division; sizes that the kernel does not
  // divide leave a last row or column that no window reads (gradient 0).
  const cases: [string, number[], Attrs][] = [
    ["max 2x2 on 7x9 (odd sizes)", [2, 3, 7, 9], { mode: "max", kernel: [2, 2], strides: [2, 2] }],
    ["max 3x2 on 8x5, pads after that no window reaches", [2, 2, 8, 5], { mode: "max", kernel: [3, 2], strides: [3, 2], pads: [0, 1, 0, 1] }],
    ["avg 2x3 on 5x7", [3, 2, 5, 7], { mode: "avg", kernel: [2, 3], strides: [2, 3] }],
    ["max 1-D 3 on 11", [2, 3, 11], { mode: "max", kernel: [3], strides: [3] }],
    ["max 3-D 2x2x2 on 5x4x3", [2, 2, 5, 4, 3], { mode: "max", kernel: [2, 2, 2], strides: [2, 2, 2] }],
    ["avg 3-D 2x1x2 on 5x4x3, count_pad", [2, 2, 5, 4, 3], { mode: "avg", kernel: [2, 1, 2], strides: [2, 1, 2], count_pad: true }],
  ];
  for (const [name, xs, attrs] of cases)
    it(`${name}: pool and pool_grad`, async () => {
      const tol = attrs["mode"] === "max" ? 1e-6 : SUMS;
      await differential([xs], (b, [x]) => withGrads(b, "pool", [x!], attrs), { tol });
    });

  it("max with ties in a window sends its gradient to the window's first maximum only", async () => {
    // Values in {0, 0.25, ..., 1}: most 2x2 windows hold a repeated value, many a tied maximum.
    const x = Array.from({ length: 2 * 3 * 7 * 9 }, (_, i) => Math.floor((i * 7) % 5) / 4);
    await differential([[2, 3, 7, 9], [2, 3, 3, 4]], (b, [xx, g]) => [b.op("pool_grad", [xx!, g!], { mode: "max", kernel: [2, 2], strides: [2, 2] })], {
      data: { 0: x },
      tol: 1e-6,
    });
    const flat = new Array<number>(2 * 3 * 7 * 9).fill(0.5);
    await differential([[2, 3, 7, 9], [2, 3, 3, 4]], (b, [xx, g]) => [b.op("pool_grad", [xx!, g!], { mode: "max", kernel: [2, 2], strides: [2, 2] })], {
      data: { 0: flat },
      tol: 1e-6,
    });
  });

  it("takes the disjoint path exactly when no two windows share an element", () => {
    const wgsl = (xs: number[], gs: number[], attrs: Attrs) => {
      const { g, b, args } = graphWith([xs, gs], "input");
      g.outputs = [{ name: "o", value: b.op("pool_grad", args, attrs) }];
      return generateKernel(fuse(g, ctx()).kernels!.find((k) => k.kind === "window")!, {}).wgsl;
    };
    const disjoint = (s: string) => s.includes("one thread per block");
    expect(disjoint(wgsl([1, 1, 7, 9], [1, 1, 3, 4], { mode: "max", kernel: [2, 2], strides: [2, 2] }))).toBe(true);
    expect(disjoint(wgsl([1, 1, 7, 9], [1, 1, 4, 5], { mode: "max", kernel: [2, 2], strides: [2, 2], ceil: true }))).toBe(false);
    expect(disjoint(wgsl([1, 1, 7, 9], [1, 1, 4, 4], { mode: "max", kernel: [2, 2], strides: [2, 2], pads: [1, 0, 0, 0] }))).toBe(false);
    expect(disjoint(wgsl([1, 1, 7, 9], [1, 1, 3, 4], { mode: "max", kernel: [3, 3], strides: [2, 2] }))).toBe(false);
  });
});

describe("gather, gather_grad, iota and rand vs CPU reference", () => {
  it("gather on axis 1 with negative and out-of-range indices, and gather_grad", async () => {
    const idx = [4, -1, 0, 2, 2, -5, 9];
    const fused = await differential([[3, 5, 2], [7]], (b, [x, i]) => withGrads(b, "gather", [x!, i!], { axis: 1 }), {
      data: { 1: idx },
      tol: SUMS,
    });
    expect(kinds(fused)).toContain("window");
  });

  it("an embedding: gather rows by [B, T] ids, then scale and add a position term, in one kernel", async () => {
    const ids = [3, 0, 6, 6, 1, 2, 5, 0, 4, 6, 3, 1];
    const fused = await differential(
      [[7, 5], [3, 4], [4, 5]],
      (b, [table, tokens, pos]) => [b.add(b.mul(b.op("gather", [table!, tokens!], { axis: 0 }), b.const(2.5)), pos!)],
      { data: { 1: ids }, tol: EXACT },
    );
    expect(kinds(fused)).toEqual(["elementwise"]);
  });

  it("gather inside a reduction's prologue: the sum of the picked logits per row", async () => {
    const fused = await differential([[4, 7], [4, 1]], (b, [logits, labels]) => [b.op("sum", [b.op("gather", [b.op("exp", [logits!]), labels!], { axis: 1 })], { axes: [1] })], {
      data: { 1: [6, 0, 3, -2] },
      tol: 1e-6,
    });
    // exp(logits) is read by gather at a picked index, so it is materialised: gather's operands come from buffers.
    expect(kinds(fused)).toEqual(["elementwise", "reduce"]);
  });

  it("gather_grad of an embedding: [B, T, D] gradients summed into the [V, D] table", async () => {
    const ids = [3, 0, 6, 6, 1, 2, 5, 0, 4, 6, 3, 1];
    await differential([[3, 4, 5], [3, 4]], (b, [g, tokens]) => [b.op("gather_grad", [g!, tokens!], { axis: 0, size: 7 })], {
      data: { 1: ids },
    });
  });

  it("a causal mask from iota fuses into the elementwise kernel that uses it; iota gets no kernel", async () => {
    const fused = await differential([[4, 7, 7]], (b, [scores]) => {
      const mask = b.op("le", [b.op("iota", [], { shape: [7, 7], axis: -1 }), b.op("iota", [], { shape: [7, 7], axis: -2 })]);
      return [b.op("select", [mask, scores!, b.const(-1e9)])];
    }, { tol: EXACT });
    expect(fused.kernels!.length).toBe(1);
    expect(fused.kernels![0]!.nodes.map((n) => n.op)).not.toContain("iota");
  });

  it("iota with a symbolic dim (T = 5), added to an input, and as an output of its own", async () => {
    await differential(
      [["T", 3]],
      (b, [x]) => [b.add(x!, b.op("iota", [], { shape: ["T", 3], axis: 0 })), b.op("iota", [], { shape: [2, "T"], axis: 1 })],
      { dims: { T: 5 }, tol: EXACT },
    );
  });

  it("rand is bit-identical to the CPU reference: on its own, as a mask, through a transpose; and summed", async () => {
    const fused = await differential(
      [[], [5, 33]],
      (b, [seed, x]) => {
        const u = b.op("rand", [seed!], { shape: [5, 33], salt: 12345 });
        const keep = b.op("select", [b.op("lt", [b.op("rand", [seed!], { shape: [5, 33], salt: 2 }), b.const(0.3)]), b.const(0), b.const(1)]);
        const t = b.op("transpose", [b.op("rand", [seed!], { shape: [33, 5], salt: 3 })], {});
        return [u, b.mul(x!, keep), b.add(t, b.const(0))];
      },
      { data: { 0: [1234567] }, tol: EXACT },
    );
    // rand fused into every output's kernel (read through the transpose at remapped indices); two
    // outputs of the same shape share one kernel with an extra output; that and the transposed
    // one, independent and small, are segments of one multi kernel.
    expect(kinds(fused)).toEqual(["multi"]);
    // In a reduction's prologue, inside its loop (the sum itself rounds differently: f32 vs f64).
    const summed = await differential([[]], (b, [seed]) => [b.op("sum", [b.op("rand", [seed!], { shape: [5, 33], salt: 4 })], { axes: [1] })], {
      data: { 0: [99] },
      tol: 1e-6,
    });
    expect(kinds(summed)).toEqual(["reduce"]);
  });

  it("rand with a constant seed (inlined) and an index that is a constant after fusion", async () => {
    await differential(
      [[1]],
      (b, [x]) => {
        const r = b.op("rand", [b.const(7)], { shape: [9], salt: 1 });
        return [b.add(b.op("slice", [r], { starts: [5], ends: [6] }), x!)];
      },
      { tol: EXACT },
    );
  });

  it("dropout after a dense layer: matmul, bias, relu and the rand mask in one kernel", async () => {
    const fused = await differential(
      [[7, 5], [5, 9], [9], []],
      (b, [x, w, bias, seed]) => {
        const h = b.op("max", [b.add(b.op("matmul", [x!, w!]), bias!), b.const(0)]);
        const keep = b.op("select", [b.op("lt", [b.op("rand", [seed!], { shape: [7, 9], salt: 9 }), b.const(0.5)]), b.const(0), b.const(2)]);
        return [b.mul(h, keep)];
      },
      { data: { 3: [42] } },
    );
    expect(kinds(fused)).toEqual(["contraction"]);
  });
});

describe("window kernels with fused epilogues vs CPU reference", () => {
  it("conv + bias + relu is one kernel", async () => {
    const fused = await differential([[2, 3, 7, 9], [5, 3, 3, 2], [5, 1, 1]], (b, [x, w, bias]) => [
      b.op("max", [b.add(b.op("conv", [x!, w!], { strides: [2, 2], pads: [1, 0, 2, 1] }), bias!), b.const(0)]),
    ]);
    expect(kinds(fused)).toEqual(["window"]);
  });

  for (const [cg, codegen] of [["implicit GEMM", DEFAULT_CODEGEN], ["direct loop", DIRECT]] as const)
    it(`conv + batch-norm scale and shift + relu + residual (${cg}): the epilogue reads four more inputs`, async () => {
      const fused = await differential(
        [[2, 4, 6, 5], [4, 4, 3, 3], [4, 1, 1], [4, 1, 1], [2, 4, 6, 5]],
        (b, [x, w, scale, shift, res]) => {
          const y = b.op("conv", [x!, w!], { pads: [1, 1, 1, 1] });
          return [b.add(b.op("max", [b.add(b.mul(y, scale!), shift!), b.const(0)]), res!)];
        },
        { codegen },
      );
      expect(kinds(fused)).toEqual(["window"]);
      expect(fused.kernels![0]!.inputs.length).toBe(5);
    });

  it("max pool + rand dropout mask, and avg pool_grad * relu mask, each one kernel", async () => {
    const fused = await differential([[2, 3, 7, 9], [], [2, 3, 7, 9], [2, 3, 3, 4]], (b, [x, seed, h, g]) => {
      const p = b.op("pool", [x!], { mode: "max", kernel: [3, 3], strides: [2, 2] });
      const keep = b.op("select", [b.op("lt", [b.op("rand", [seed!], { shape: p.type.shape, salt: 5 }), b.const(0.25)]), b.const(0), b.const(4 / 3)]);
      const dx = b.op("pool_grad", [h!, g!], { mode: "avg", kernel: [3, 3], strides: [2, 2] });
      return [b.mul(p, keep), b.op("select", [b.op("lt", [b.const(0), h!]), dx, b.const(0)])];
    }, { data: { 1: [3] } });
    expect(kinds(fused)).toEqual(["window", "window"]);
  });

  it("max and avg pool_grad over disjoint windows (one thread per window) with a relu mask, each one kernel", async () => {
    // 7x9 leaves a last row and column no 2x2 window reads: their epilogue still runs (on 0).
    const fused = await differential([[2, 3, 7, 9], [2, 3, 7, 9], [2, 3, 3, 4], [2, 3, 3, 4]], (b, [x, h, g, ga]) => {
      const relu = (dx: Value) => b.op("select", [b.op("lt", [b.const(0), h!]), dx, b.add(b.const(0.5), h!)]);
      const attrs = { kernel: [2, 2], strides: [2, 2] };
      return [relu(b.op("pool_grad", [x!, g!], { mode: "max", ...attrs })), relu(b.op("pool_grad", [x!, ga!], { mode: "avg", ...attrs }))];
    });
    expect(kinds(fused)).toEqual(["window", "window"]);
  });

  it("an epilogue that would bind more than 8 buffers is split", async () => {
    const fused = await differential(
      [[1, 2, 5, 5], [3, 2, 2, 2], ...Array.from({ length: 8 }, () => [3, 1, 1])],
      (b, [x, w, ...biases]) => [biases.reduce((acc, v) => b.add(acc, v), b.op("conv", [x!, w!], {}))],
    );
    for (const k of fused.kernels!) expect(k.inputs.length + 1).toBeLessThanOrEqual(8);
    expect(kinds(fused)[0]).toBe("window");
  });

  it("the conv kernel's loops read no index math they could hoist: channels outermost, strides constants", () => {
    const { g, b, args } = graphWith([[2, 3, 7, 9], [5, 3, 3, 2]], "input");
    g.outputs = [{ name: "y", value: b.op("conv", args, { strides: [2, 2], pads: [1, 0, 2, 1] }) }];
    const k = generateKernel(fuse(g, ctx()).kernels![0]!, {}, DIRECT);
    const lines = k.wgsl.split("\n").map((l) => l.trim());
    // Channels, then the taps of each axis; the innermost loop adds one offset per load and a multiply-add.
    const loops = lines.filter((l) => l.startsWith("for ("));
    expect(loops.map((l) => /var (h_\w+)/.exec(l)![1])).toEqual(["h_c", "h_t0", "h_t1"]);
    const inner = lines.indexOf(loops[2]!);
    expect(lines.slice(inner + 1, inner + 4)).toEqual([
      expect.stringMatching(/^let h_xo1 = h_xo0 \+ u32\(h_t1 \+ h_s1\);$/),
      "let h_wo1 = h_wo0 + u32(h_t1);",
      "h_acc += in0[h_xo1] * in1[h_wo1];",
    ]);
  });

  it("windows that stay inside the input loop over constant tap ranges; padded ones clip per thread", () => {
    const taps = (pads: number[]) => {
      const { g, b, args } = graphWith([[1, 2, 6, 6], [3, 2, 3, 3]], "input");
      g.outputs = [{ name: "y", value: b.op("conv", args, { pads }) }];
      return generateKernel(fuse(g, ctx()).kernels![0]!, {}, DIRECT).wgsl.split("\n").filter((l) => l.includes("for (var h_t"));
    };
    expect(taps([0, 0, 0, 0]).map((l) => l.trim())).toEqual(["for (var h_t0 = 0i; h_t0 < 3i; h_t0++) {", "for (var h_t1 = 0i; h_t1 < 3i; h_t1++) {"]);
    expect(taps([1, 1, 1, 1]).map((l) => l.trim())).toEqual(["for (var h_t0 = h_lo0; h_t0 < h_hi0; h_t0++) {", "for (var h_t1 = h_lo1; h_t1 < h_hi1; h_t1++) {"]);
  });
});
