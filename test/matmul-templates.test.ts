import { describe, expect, it } from "vitest";
import { MatmulTemplates, matmulKernel, type MatmulSpec } from "../src/codegen/kernels/matmul.js";

// A plan's matmuls share one MatmulTemplates (src/codegen/plan.ts): a template reused for a spec
// it was not made from would give that matmul another's WGSL. Each spec below differs from the
// base in one field, so a field missing from the templates' key makes one of them wrong.
const BASE: MatmulSpec = { batch: 1, m: 8, n: 12, k: 16, transA: false, transB: false, tileM: 4, tileN: 4, workgroup: [8, 8] };
const epilogue = (extraInputs: number, scale: string) => ({
  extraInputs,
  fn: `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {\n  return acc * ${scale};\n}\n`,
});
const SPECS: MatmulSpec[] = [
  BASE,
  { ...BASE, batch: 2 },
  { ...BASE, batch: 2, batchStrideA: 0 },
  { ...BASE, batch: 2, batchStrideB: 0 },
  { ...BASE, m: 9 },
  { ...BASE, n: 13 },
  { ...BASE, k: 20 },
  { ...BASE, transA: true },
  { ...BASE, transB: true },
  { ...BASE, tileM: 2 },
  { ...BASE, tileN: 2 },
  { ...BASE, workgroup: [4, 8] },
  { ...BASE, workgroup: [8, 4] },
  { ...BASE, kUnroll: 2 },
  { ...BASE, splitK: 2 },
  { ...BASE, vector: 4 },
  { ...BASE, epilogue: epilogue(0, "2.0") },
  { ...BASE, epilogue: epilogue(0, "3.0") },
  { ...BASE, epilogue: epilogue(1, "2.0") },
  { ...BASE, transB: true, epilogue: epilogue(1, "3.0") },
];

describe("matmul templates shared by a plan's matmuls", () => {
  it("give every spec the WGSL and grid it has alone, in any order", () => {
    for (const order of [SPECS, [...SPECS].reverse()]) {
      const shared = new MatmulTemplates();
      for (const spec of order) expect(shared.kernel(spec)).toEqual(matmulKernel(spec));
    }
  });

  it("put each matmul's own epilogue in the shared text", () => {
    const shared = new MatmulTemplates();
    const two = shared.kernel({ ...BASE, epilogue: epilogue(0, "2.0") }).wgsl;
    const three = shared.kernel({ ...BASE, epilogue: epilogue(0, "3.0") }).wgsl;
    expect(two).toContain("return acc * 2.0;");
    expect(three).toContain("return acc * 3.0;");
    expect(three).not.toContain("return acc * 2.0;");
    expect(three.replace("3.0", "2.0")).toBe(two);
  });
});
