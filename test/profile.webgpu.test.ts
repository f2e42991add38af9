import { afterAll, describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { requireSharedGpu, sharedGpu } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { formatProfile, shortLocation, StepProfiler } from "../src/runtime/profiler.js";
import { planInitialValues } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { compileOk, tinySource } from "./util/tiny-net.js";

// The profiler times real steps: a profiled step must train exactly as an unprofiled one, and its
// report must name every dispatch of the step with the `.net` line it came from.

const { graph, spec } = compileOk(tinySource({ plain: true }));
const plan = planOf(graph, { train: spec });
const ROWS = 4;

function batch(seed: number): Record<string, Float32Array> {
  const rand = rng(seed);
  const x = Float32Array.from({ length: ROWS * 3 }, () => 2 * rand() - 1);
  const labels = new Float32Array(ROWS * 2);
  for (let r = 0; r < ROWS; r++) labels[r * 2 + (r % 2)] = 1;
  return { x, labels };
}

afterAll(async () => {
  expect((await sharedGpu())?.errors ?? []).toEqual([]);
});

describe("the step profiler on WebGPU", () => {
  for (const method of ["timestamps", "alone"] as const) {
    it(`times every kernel of ${method === "timestamps" ? "timestamped" : "stand-alone"} steps, and the steps train as unprofiled ones`, async () => {
      const gpu = await requireSharedGpu();
      if (method === "timestamps" && !gpu.device.features.has("timestamp-query")) return;
      const cache = new PipelineCache(gpu.device);
      const init = planInitialValues(plan, spec.seed);
      const dims = { B: ROWS };
      const plain = await WebGpuRunner.create(gpu, plan, dims, init, cache, { warm: true });
      const timed = await WebGpuRunner.create(gpu, plan, dims, init, cache, { warm: true });
      try {
        const profiler = timed.startProfile(3, method);
        const losses: [number | undefined, number | undefined][] = [];
        for (let s = 0; s < 5; s++) losses.push([await plain.step(batch(s), true), await timed.step(batch(s), true)]);
        for (const [a, b] of losses) expect(b).toBe(a);
        expect(await timed.params()).toEqual(await plain.params());

        const r = profiler.report();
        expect(r.method).toBe(method);
        // NOTE: 3 profiled steps (with timestamps, the 1st and 3rd timed by kernel, the 2nd giving the host's time); the 4th and 5th ran unprofiled.
        expect(r.steps).toBe(3);
        expect([r.kernelSteps, r.hostSteps]).toEqual(method === "timestamps" ? [2, 1] : [3, 3]);
        expect(r.kernels.length).toBe(timed.kernelLabels().length);
        expect(r.kernels.length).toBeGreaterThan(timed.kernelsPerStep);
        expect(r.kernels.every((k) => k.ms >= 0 && Number.isFinite(k.ms))).toBe(true);
        expect(r.kernelMs).toBeGreaterThan(0);
        expect(r.kernels.reduce((a, k) => a + k.share, 0)).toBeCloseTo(1, 6);
        expect(r.jsMs).toBeGreaterThan(0);
        expect(r.wallMs).toBeGreaterThan(0);
        // Each step kernel is named by its ops and its line in test.net; the matmuls by the dense layers' line.
        const step = r.kernels.slice(0, timed.kernelsPerStep);
        expect(step.every((k) => /^test\.net:\d+:\d+$/.test(k.at ?? ""))).toBe(true);
        const matmul = step.find((k) => / matmul/.test(k.name) && !k.name.includes("grad"));
        expect(matmul?.at).toMatch(/^test\.net:3:/);
        expect(step.some((k) => k.name.includes("update:"))).toBe(true);
        expect(step.some((k) => k.name.includes("grad:"))).toBe(true);
        expect(formatProfile(r).join("\n")).toContain("test.net:3:");
      } finally {
        plain.dispose();
        timed.dispose();
      }
    });
  }
});

describe("profile reports", () => {
  it("gives per-kernel medians, shares and the host's time per step", () => {
    const p = new StepProfiler([{ name: "k0 matmul+add", at: "mlp.net:7:12" }, { name: "k1 sum" }], "alone", 3);
    const steps: [number[], [number, number, number, number]][] = [
      [[3, 1], [0.1, 0.5, 0.0, 5]],
      [[5, 1], [0.1, 0.3, 0.2, 7]],
      [[4, 2], [0.2, 0.4, 0.1, 6]],
    ];
    for (const [kernels, host] of steps) {
      expect(p.kernelStep()).toBe(true);
      p.addHost(...host);
      p.addKernelTimes(kernels);
      p.endStep();
    }
    const r = p.report();
    expect(r.steps).toBe(3);
    expect(p.remaining).toBe(0);
    expect(r.kernels.map((k) => k.ms)).toEqual([4, 1]);
    expect(r.kernels[0]!.share).toBeCloseTo(0.8, 12);
    expect(r.kernelMs).toBe(5);
    expect(r.jsMs).toBeCloseTo(0.1 + 0.4 + 0.1, 12);
    expect(r.wallMs).toBe(6);
    const text = formatProfile(r);
    expect(text[0]).toBe("profile: 3 steps, 2 kernels per step; kernels: median of 3 steps, each kernel submitted alone (no timestamp queries on this device); host: median of 3 steps");
    expect(text[2]).toMatch(/^ +4\.000 +80\.0% +0 +k0 matmul\+add +mlp\.net:7:12$/);
    expect(text.at(-1)).toContain("JavaScript 0.60 ms/step");
  });

  it("with timestamps, times kernels on every other step and takes the host's time from the others", () => {
    const p = new StepProfiler([{ name: "k0" }], "timestamps", 4);
    const seen: boolean[] = [];
    while (p.remaining > 0) {
      seen.push(p.kernelStep());
      p.endStep();
    }
    expect(seen).toEqual([true, false, true, false]);
  });

  it("shortens a location to the file's base name", () => {
    expect(shortLocation("/home/u/models/mlp.net:7:12")).toBe("mlp.net:7:12");
    expect(shortLocation("C:\\models\\mlp.net:7:1")).toBe("mlp.net:7:1");
    expect(shortLocation("no location")).toBe("no location");
  });
});
