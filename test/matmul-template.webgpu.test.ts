/**
 * The matmul template's vec4, k-unroll and split-K parameters against a float64 CPU matmul: sizes
 * that divide by 4 (vec4 reads on) and that do not (the scalar fallback), k not dividing by the
 * unroll or the split, every transpose, a batch sharing one B, and a fused epilogue.
 */
import { describe, expect, it } from "vitest";
import { MATMUL_SUBGROUP_VARIANTS, MATMUL_TEMPLATE_VARIANTS, matmulKernel, type MatmulSpec, type MatmulVariant } from "../src/codegen/kernels/matmul.js";
import { defaultMatmulChooser } from "../src/codegen/matmul-choice.js";
import { takesSubgroupMatmuls } from "../src/codegen/matmul-tune.js";
import { runKernelOnce } from "../src/runtime/gpu-buffers.js";
import { gpuSuite } from "./util/gpu-suite.js";
import { cpuMatmul, label, random, TRANSPOSES, worstError, type Epilogue, type MatmulShape } from "./util/matmul-reference.js";

const suite = gpuSuite();

/** The fused epilogue the template is checked with: bias then relu. */
const biasRelu: Epilogue = (acc, _b, _i, j, [bias]) => Math.max(acc + bias![j]!, 0);

async function check(v: MatmulVariant, s: MatmulShape, seed: number, withBias = false): Promise<void> {
  const a = random(seed)(s.batch * s.m * s.k);
  const b = random(seed + 1)(s.batchStrideB === 0 ? s.k * s.n : s.batch * s.k * s.n);
  const bias = withBias ? random(seed + 2)(s.n) : undefined;
  const { name: _, ...params } = v;
  const spec: MatmulSpec = {
    ...s,
    ...params,
    ...(bias ? { epilogue: { extraInputs: 1, fn: `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {\n  return max(acc + e0[j], 0.0);\n}` } } : {}),
  };
  const { wgsl, workgroups } = matmulKernel(spec);
  const got = await runKernelOnce(suite.gpu, suite.cache, { wgsl, workgroups, inputs: [a, b, ...(bias ? [bias] : [])], outputLength: s.batch * s.m * s.n });
  const want = bias ? cpuMatmul(s, a, b, biasRelu, [bias]) : cpuMatmul(s, a, b);
  expect(worstError(got, want), `worst relative error\n${wgsl}`).toBeLessThan(1e-4);
}

/** Skips a subgroup variant's test on a device without subgroups of 8 or more (it would not compile there). */
function needs(ctx: { skip: () => void }, v: MatmulVariant): void {
  if (v.subgroups && !takesSubgroupMatmuls(suite.gpu)) ctx.skip();
}

// [batch, m, n, k]: all divide by 4 (vec4 on for every operand); n and m odd with k divisible
// (vec4 A only when not transposed, vec4 Bᵀ along k); a batch with k odd and n divisible (vec4 B
// along n only), k not dividing by the unroll or the split.
const SHAPES: [number, number, number, number][] = [
  [1, 12, 20, 36],
  [1, 13, 21, 44],
  [2, 7, 40, 29],
];

for (const v of [...MATMUL_TEMPLATE_VARIANTS, ...MATMUL_SUBGROUP_VARIANTS]) {
  const desc = `${v.tileM}x${v.tileN}, workgroup ${v.workgroup.join("x")}, vector ${v.vector ?? 1}, k unroll ${v.kUnroll ?? 1}, split-K ${v.splitK ?? 1}${v.subgroups ? ", A broadcast across the subgroup" : ""}`;
  describe(`matmul ${v.name} (${desc}) vs float64 CPU`, () => {
    for (const [batch, m, n, k] of SHAPES)
      for (const [transA, transB] of TRANSPOSES)
        it(`batch ${batch}, m ${m}, n ${n}, k ${k}, ${label(transA, transB)}`, async (ctx) => {
          needs(ctx, v);
          await check(v, { batch, m, n, k, transA, transB }, batch * 1000 + m * 100 + n * 10 + k);
        });
    it("a batch of 3 sharing one B (batch stride 0), m 5, n 44, k 24", async (ctx) => {
      needs(ctx, v);
      await check(v, { batch: 3, m: 5, n: 44, k: 24, transA: false, transB: false, batchStrideB: 0 }, 77);
    });
    it("epilogue max(acc + bias[j], 0), m 70, n 68, k 100 (more than one workgroup each way)", async (ctx) => {
      needs(ctx, v);
      await check(v, { batch: 1, m: 70, n: 68, k: 100, transA: false, transB: false }, 88, true);
    });
    it("epilogue max(acc + bias[j], 0), m 33, n 65, k 9, Aᵀ·B", async (ctx) => {
      needs(ctx, v);
      await check(v, { batch: 1, m: 33, n: 65, k: 9, transA: true, transB: false }, 99, true);
    });
  });
}

describe("the built-in choice for large matmuls on llvmpipe", () => {
  for (const [transA, transB] of [
    [false, false],
    [true, true],
  ] as const) {
    it(`m 300, n 264, k 270, ${label(transA, transB)} (class l.l.l, 8x8 blocks on a row of threads)`, async () => {
      const s = { batch: 1, m: 300, n: 264, k: 270, transA, transB };
      const params = defaultMatmulChooser("llvmpipe")(s);
      expect(params.workgroup[1]).toBe(1);
      await check({ name: "builtin", ...params }, s, 5);
    });
  }
});

describe("the built-in choices with subgroups on llvmpipe", () => {
  // The MLP step's four distinct large matmuls (784-256-256-10, batch 128) and a micro one (8x2
  // blocks), a batch of 3 sharing one B with rows and columns that do not fill a block, and a
  // large class (32x4 blocks).
  const shapes: MatmulShape[] = [
    { batch: 1, m: 128, n: 256, k: 784, transA: false, transB: false },
    { batch: 1, m: 784, n: 256, k: 128, transA: true, transB: false },
    { batch: 1, m: 128, n: 256, k: 256, transA: false, transB: true },
    { batch: 1, m: 256, n: 256, k: 128, transA: true, transB: false },
    { batch: 1, m: 256, n: 10, k: 128, transA: true, transB: false },
    { batch: 3, m: 21, n: 10, k: 37, transA: false, transB: false, batchStrideB: 0 },
    { batch: 1, m: 300, n: 264, k: 270, transA: true, transB: true },
  ];
  for (const s of shapes)
    it(`m ${s.m}, n ${s.n}, k ${s.k}, ${label(s.transA, s.transB)}${s.batch > 1 ? `, batch ${s.batch}` : ""} with bias and relu`, async (ctx) => {
      if (!takesSubgroupMatmuls(suite.gpu)) ctx.skip();
      const params = defaultMatmulChooser("llvmpipe", true)(s);
      expect(params.subgroups).toBe(true);
      await check({ name: "builtin-sg", ...params }, s, s.m + s.k, true);
    });
});

describe("matmul template parameter checks", () => {
  const base: MatmulSpec = { batch: 1, m: 8, n: 8, k: 8, transA: false, transB: false, tileM: 4, tileN: 4, workgroup: [8, 8] };
  it("refuses a split workgroup over 256 threads or past 16 KiB of partial sums", () => {
    expect(() => matmulKernel({ ...base, splitK: 5 })).toThrow(/exceeds 256 invocations/);
    expect(() => matmulKernel({ ...base, workgroup: [8, 4], tileN: 8, splitK: 8 })).toThrow(/workgroup memory/);
  });
  it("broadcasts A across the subgroup only from one row of threads without split-K", () => {
    expect(() => matmulKernel({ ...base, subgroups: true })).toThrow(/one row of threads/);
    expect(() => matmulKernel({ ...base, workgroup: [8, 1], splitK: 2, subgroups: true })).toThrow(/one row of threads/);
    expect(matmulKernel({ ...base, workgroup: [8, 1], subgroups: true }).wgsl).toMatch(/^\/\/ matmul.*\nenable subgroups;[\s\S]*subgroupBroadcast/);
  });
  it("reads vec4 only where the layout allows it", () => {
    expect(matmulKernel({ ...base, vector: 4 }).wgsl).toMatch(/mm_a: array<vec4<f32>>[\s\S]*mm_b: array<vec4<f32>>/);
    expect(matmulKernel({ ...base, k: 9, n: 10, vector: 4 }).wgsl).toMatch(/mm_a: array<f32>[\s\S]*mm_b: array<f32>/);
  });
});
