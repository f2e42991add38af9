import { availableParallelism } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { requireSharedGpu, shaderCacheDir, sharedGpu } from "../src/runtime/device.js";
import { compileAhead } from "../src/runtime/parallel-compile.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { planInitialValues } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { compileOk, tinySource } from "./util/tiny-net.js";

// Compiling ahead on sibling devices changes when shaders compile, never what a step computes:
// a runner made with it trains exactly as one made without, and a shader is compiled ahead once.

afterAll(async () => {
  expect((await sharedGpu())?.errors ?? []).toEqual([]);
});

describe("compiling ahead on sibling devices", () => {
  it("uses a device per core on llvmpipe, compiles each shader once, and steps train as without it", async () => {
    const gpu = await requireSharedGpu();
    const { graph, spec } = compileOk(tinySource({ plain: true, seed: 3 }));
    const plan = planOf(graph, { train: spec });
    const init = planInitialValues(plan, 3);
    // NOTE: a cache of its own, so no pipeline is shared with (and warmed by) the plain runner.
    const ahead = await WebGpuRunner.create(gpu, plan, { B: 4 }, init, new PipelineCache(gpu.device), { warm: true, compileAhead: true });
    const plain = await WebGpuRunner.create(gpu, plan, { B: 4 }, init, new PipelineCache(gpu.device), { warm: true });
    try {
      const report = ahead.times.ahead!;
      const expectParallel = gpu.firstDispatchCompiles && shaderCacheDir() !== undefined && availableParallelism() > 1;
      if (expectParallel) {
        expect(report.devices).toBe(Math.min(availableParallelism(), 4));
        expect(report.shaders).toBe(new Set(ahead.variant.kernels.map((k) => k.shader)).size);
      } else expect(report).toMatchObject({ devices: 1, shaders: 0 });
      const rand = rng(5);
      for (let s = 0; s < 3; s++) {
        const x = Float32Array.from({ length: 12 }, () => 2 * rand() - 1);
        const labels = Float32Array.from({ length: 8 }, (_, i) => (i % 2 === s % 2 ? 1 : 0));
        expect(await ahead.step({ x, labels }, true)).toBe(await plain.step({ x, labels }, true));
      }
      expect(await ahead.params()).toEqual(await plain.params());
      // The same shaders again (a second runner of the plan): nothing left to compile ahead.
      const pipelines = await Promise.all(ahead.variant.kernels.map((k) => new PipelineCache(gpu.device).get(plan.shaders[k.shader]!, k.entry)));
      const again = await compileAhead(gpu, ahead.variant.kernels.map((k, i) => ({ wgsl: plan.shaders[k.shader]!, entry: k.entry, bindings: k.bindings.length, pipeline: pipelines[i]! })));
      expect(again).toMatchObject({ devices: 1, shaders: 0 });
    } finally {
      ahead.dispose();
      plain.dispose();
    }
  });
});
