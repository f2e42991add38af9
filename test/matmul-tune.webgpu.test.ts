/**
 * The matmul tuner on the test adapter: it times every candidate of a class, keeps the best,
 * stores it by adapter and class in its file, and a second tuner on that file reuses the choice
 * without timing; the plan it leads to uses the choice.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { matmulCandidates, normalParams, paramsName, shapeClass, type MatmulShape } from "../src/codegen/matmul-choice.js";
import { MatmulTuner, pickCandidate, takesSubgroupMatmuls } from "../src/codegen/matmul-tune.js";
import { planOf } from "../src/codegen/plan.js";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../src/runtime/device.js";

let gpu: GpuContext | undefined;
const dir = mkdtempSync(join(tmpdir(), "netc-tune-"));
const file = join(dir, "matmul-tuning.json");
beforeAll(async () => {
  gpu = await requireSharedGpu();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (!gpu) return;
  const errors = [...gpu.errors];
  releaseGpu(gpu);
  expect(errors).toEqual([]);
});

describe("matmul tuner's pick", () => {
  const t = (name: string, bestMs: number, firstMs: number) => ({ name, bestMs, firstMs });
  it("keeps the built-in choice unless another scores 5% lower, first dispatch spread over 200 calls", () => {
    expect(pickCandidate([t("a", 10, 500), t("b", 9.8, 500)])).toBe(0);
    expect(pickCandidate([t("a", 10, 500), t("b", 8, 500), t("c", 7, 500)])).toBe(2);
    expect(pickCandidate([t("a", 30, 1700), t("b", 27, 7900)])).toBe(0);
    expect(pickCandidate([t("a", 30, 1700), t("b", Infinity, Infinity)])).toBe(0);
  });
});

describe("matmul tuner", () => {
  // 256 x 256 x 256 is the smallest cube the tuner times (2^24 multiply-adds).
  const shape: MatmulShape = { batch: 1, m: 256, n: 256, k: 256, transA: false, transB: false };
  const cls = shapeClass(shape);
  // NOTE: on a device with subgroup kernels the tuner picks among those and stores them apart.
  const key = () => (takesSubgroupMatmuls(gpu!) ? `${cls}+sg` : cls);

  it("times each candidate, keeps the fastest and stores it by adapter and class", async () => {
    const tuner = MatmulTuner.open(gpu!, file);
    const [record] = await tuner.tune([shape, { ...shape, m: 200 }]);
    expect(record).toBeDefined();
    const candidates = matmulCandidates(tuner.kind, cls, takesSubgroupMatmuls(gpu!));
    expect(record!.candidates.map((c) => c.name)).toEqual(candidates.map(paramsName));
    for (const c of record!.candidates) expect(c.bestMs).toBeGreaterThan(0);
    expect(record!.name).toBe(record!.candidates[pickCandidate(record!.candidates)]!.name);
    expect(tuner.chooser()(shape)).toEqual(record!.params);
    const stored = JSON.parse(readFileSync(file, "utf8"));
    expect(stored.adapters[gpu!.adapterName][key()].params).toEqual(normalParams(record!.params));
  });

  it("a second tuner on the same file reuses the choice without timing, and the plan uses it", async () => {
    const tuner = MatmulTuner.open(gpu!, file);
    expect(await tuner.tune([shape])).toEqual([]);
    const c = compile("network mm {\n  input a: f32[256, 256]\n  input b: f32[256, 256]\n  output c = a @ b\n}\n", "mm.net", { mode: "infer" });
    const codegen = await tuner.codegenFor(c.graph!, {});
    const plan = planOf(c.graph!, { codegen, variants: [{}] });
    const p = normalParams(tuner.choices[key()]!.params);
    const wgsl = plan.shaders.find((s) => s.startsWith("// matmul"))!;
    expect(wgsl).toContain(`${p.tileM}x${p.tileN} per thread, workgroup ${p.workgroup.join("x")}`);
  });
});
