import { describe, expect, it } from "vitest";
import { dispatchGrid, MATMUL_VARIANTS, matmulKernel, type MatmulSpec } from "../src/codegen/kernels/matmul.js";
import { runKernelOnce } from "../src/runtime/gpu-buffers.js";
import { gpuSuite } from "./util/gpu-suite.js";
import { cpuMatmul, label, random, TRANSPOSES, worstError, type Epilogue, type MatmulShape } from "./util/matmul-reference.js";

const suite = gpuSuite();

type Shape = Omit<MatmulShape, "batchStrideB">;

async function check(
  variant: (typeof MATMUL_VARIANTS)[number],
  s: Shape,
  seed: number,
  epi?: { fn: string; extras: Float32Array[]; cpu: Epilogue },
): Promise<void> {
  const rand = random(seed);
  const a = rand(s.batch * s.m * s.k);
  const b = rand(s.batch * s.k * s.n);
  const spec: MatmulSpec = {
    ...s,
    tileM: variant.tileM,
    tileN: variant.tileN,
    workgroup: variant.workgroup,
    ...(epi ? { epilogue: { extraInputs: epi.extras.length, fn: epi.fn } } : {}),
  };
  const { wgsl, workgroups } = matmulKernel(spec);
  for (const g of workgroups) expect(g).toBeLessThanOrEqual(suite.gpu.limits.maxComputeWorkgroupsPerDimension);
  const got = await runKernelOnce(suite.gpu, suite.cache, { wgsl, workgroups, inputs: [a, b, ...(epi?.extras ?? [])], outputLength: s.batch * s.m * s.n });
  const want = cpuMatmul(s, a, b, epi?.cpu, epi?.extras);
  expect(got.length).toBe(want.length);
  expect(worstError(got, want), `worst relative error\n${wgsl}`).toBeLessThan(1e-4);
}

const SHAPES: [batch: number, m: number, n: number, k: number][] = [
  [1, 1, 1, 1],
  [1, 7, 33, 65],
  [1, 65, 7, 33],
  [1, 33, 65, 7],
  [1, 64, 64, 64],
  [3, 7, 33, 65],
];

const BIAS_RELU = `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {
  return max(acc + e0[j], 0.0);
}`;

for (const variant of MATMUL_VARIANTS) {
  describe(`matmul ${variant.name} (${variant.tileM}x${variant.tileN} per thread, workgroup ${variant.workgroup.join("x")}) vs float64 CPU`, () => {
    for (const [batch, m, n, k] of SHAPES)
      for (const [transA, transB] of TRANSPOSES) {
        it(`batch ${batch}, m ${m}, n ${n}, k ${k}, ${label(transA, transB)}`, async () => {
          await check(variant, { batch, m, n, k, transA, transB }, batch * 1000 + m * 100 + n * 10 + k);
        });
      }

    for (const [transA, transB] of TRANSPOSES) {
      it(`epilogue max(acc + bias[j], 0), batch 2, m 33, n 65, k 7, ${label(transA, transB)}`, async () => {
        const n = 65;
        const bias = random(7)(n);
        await check(variant, { batch: 2, m: 33, n, k: 7, transA, transB }, 42, {
          fn: BIAS_RELU,
          extras: [bias],
          cpu: (acc, _b, _i, j, [e0]) => Math.max(acc + e0![j]!, 0),
        });
      });
    }
  });
}

describe("matmul epilogues", () => {
  const variant = MATMUL_VARIANTS.find((v) => v.name === "reg4x4")!;

  it("may use b, i, j and two extra inputs", async () => {
    const [batch, m, n] = [3, 9, 13];
    const colScale = random(3)(n);
    const rowShift = random(4)(batch * m);
    await check(variant, { batch, m, n, k: 5, transA: false, transB: true }, 5, {
      fn: `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {
  return acc * e0[j] + e1[b * ${m}u + i] + f32(j) * 0.25;
}`,
      extras: [colScale, rowShift],
      cpu: (acc, b, i, j, [e0, e1]) => acc * e0![j]! + e1![b * m + i]! + j * 0.25,
    });
  });

  it("keeps an extra input the epilogue never reads in the binding layout", async () => {
    await check(variant, { batch: 1, m: 5, n: 6, k: 7, transA: false, transB: false }, 6, {
      fn: BIAS_RELU,
      extras: [random(8)(6), random(9)(11)],
      cpu: (acc, _b, _i, j, [e0]) => Math.max(acc + e0![j]!, 0),
    });
  });
});

describe("matmul dispatch beyond 65535 workgroups per dimension", () => {
  it("folds the grid only when a dimension is over the limit", () => {
    expect(dispatchGrid(4, 5, 6)).toEqual([4, 5, 6]);
    expect(dispatchGrid(1, 1, 70000)).toEqual([65535, 2, 1]);
    expect(dispatchGrid(75000, 2, 1)).toEqual([65535, 3, 1]);
    const spec: MatmulSpec = { batch: 70000, m: 2, n: 2, k: 3, transA: false, transB: false, tileM: 4, tileN: 4, workgroup: [8, 8] };
    expect(matmulKernel(spec).workgroups).toEqual([65535, 2, 1]);
  });

  for (const name of ["naive", "reg4x4"]) {
    const variant = MATMUL_VARIANTS.find((v) => v.name === name)!;
    it(`${name}: batch 70000 (2x2 · 2x3) folds batch over x and y`, async () => {
      await check(variant, { batch: 70000, m: 2, n: 3, k: 2, transA: false, transB: true }, 11);
    });
    it(`${name}: m 1, n 600001, k 2 (naive needs 75001 column tiles)`, async () => {
      await check(variant, { batch: 1, m: 1, n: 600001, k: 2, transA: true, transB: false }, 12);
    });
  }
});
