import { describe, expect, it } from "vitest";
import {
  adapterKind,
  DEFAULT_MATMUL_TABLES,
  defaultMatmulChooser,
  matmulCandidates,
  normalParams,
  paramsName,
  shapeClass,
  type MatmulShape,
} from "../src/codegen/matmul-choice.js";
import { matmulKernel } from "../src/codegen/kernels/matmul.js";

const shape = (m: number, n: number, k: number, transA = false, transB = false, batch = 1): MatmulShape => ({ batch, m, n, k, transA, transB });

describe("matmul shape classes and choices", () => {
  it("classes m, n, k as small or large with the transposes; small matmuls are all tiny, the smallest micro", () => {
    expect(shapeClass(shape(128, 256, 784))).toBe("s.s.l/NN");
    expect(shapeClass(shape(784, 256, 128, true))).toBe("l.s.s/TN");
    expect(shapeClass(shape(1024, 1024, 1024, false, true))).toBe("l.l.l/NT");
    expect(shapeClass(shape(128, 256, 256))).toBe("tiny");
    expect(shapeClass(shape(128, 10, 256, false, false, 32))).toBe("tiny");
    expect(shapeClass(shape(128, 10, 256))).toBe("micro");
    expect(shapeClass(shape(128, 256, 256, false, false, 2))).toBe("s.s.s/NN");
  });

  it("tells llvmpipe from a GPU by the adapter name", () => {
    expect(adapterKind("llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) (mesa, software)")).toBe("llvmpipe");
    expect(adapterKind("NVIDIA GeForce RTX 3080 (nvidia)")).toBe("gpu");
  });

  it("offers 2-4 distinct candidates per class, the built-in choice first, each a valid kernel", () => {
    for (const [kind, subgroups] of [["llvmpipe", false], ["llvmpipe", true], ["gpu", false], ["gpu", true]] as const)
      for (const s of [shape(128, 256, 784), shape(784, 256, 128, true), shape(1024, 1024, 1024), shape(256, 256, 128, false, true)]) {
        const cls = shapeClass(s);
        const cands = matmulCandidates(kind, cls, subgroups);
        expect(cands.length).toBeGreaterThanOrEqual(2);
        expect(cands.length).toBeLessThanOrEqual(4);
        expect(new Set(cands.map(paramsName)).size).toBe(cands.length);
        expect(normalParams(cands[0]!)).toEqual(normalParams(defaultMatmulChooser(kind, subgroups)(s)));
        for (const p of cands) expect(() => matmulKernel({ ...s, ...p })).not.toThrow();
      }
  });

  it("names parameter sets by their non-default parts", () => {
    expect(paramsName({ tileM: 4, tileN: 4, workgroup: [8, 8] })).toBe("4x4/8x8");
    expect(paramsName({ tileM: 2, tileN: 4, workgroup: [8, 4], vector: 4, kUnroll: 2, splitK: 4 })).toBe("2x4/8x4/v4/u2/k4");
    expect(paramsName({ tileM: 16, tileN: 4, workgroup: [8, 1], subgroups: true })).toBe("16x4/8x1/sg");
  });

  it("has a default in every built-in table", () => {
    for (const table of Object.values(DEFAULT_MATMUL_TABLES)) expect(table["default"]).toBeDefined();
  });
});
