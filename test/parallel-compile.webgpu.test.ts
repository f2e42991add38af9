import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { requireSharedGpu, shaderCacheDir, sharedGpu } from "../src/runtime/device.js";
import { compileAhead } from "../src/runtime/parallel-compile.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { planInitialValues } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { compileOk } from "./util/tiny-net.js";

// Compiling ahead on sibling devices changes when shaders compile, never what a step computes:
// a runner made with it trains exactly as one made without, and a shader is compiled ahead once.

// NOTE: this file's device gets an empty shader cache of its own (set before it opens), so what was
// compiled ahead by earlier runs is not found in the index kept beside the cache.
const cacheDir = mkdtempSync(join(tmpdir(), "netc-test-mesa-"));
if (process.env["MESA_SHADER_CACHE_DISABLE"] === undefined) process.env["MESA_SHADER_CACHE_DIR"] = cacheDir;

afterAll(async () => {
  expect((await sharedGpu())?.errors ?? []).toEqual([]);
  rmSync(cacheDir, { recursive: true, force: true });
});

// NOTE: a small step (a dozen kernels), since every shader compiles from an empty cache.
const SOURCE = `network small {
  input x: f32[B, 3]
  output y = x |> h: dense(5, activation = tanh) |> out: dense(2)
}
train {
  loss = mse(y, target)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  batch = 4
  data {
    x = [[1, 2, 3], [0, 1, 0], [2, 2, 2], [1, 0, 0]]
    target = [[0, 1], [1, 0], [0, 1], [1, 1]]
  }
}
`;

describe("compiling ahead on sibling devices", () => {
  it("uses a device per core on llvmpipe, compiles each shader once, and steps train as without it", async () => {
    const gpu = await requireSharedGpu();
    const { graph, spec } = compileOk(SOURCE);
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
        const target = Float32Array.from({ length: 8 }, (_, i) => (i % 2 === s % 2 ? 1 : 0));
        expect(await ahead.step({ x, target }, true)).toBe(await plain.step({ x, target }, true));
      }
      expect(await ahead.params()).toEqual(await plain.params());
      // The same shaders again, in this process or (by the index beside the cache) another: nothing left to compile ahead.
      const pipelines = await Promise.all(ahead.variant.kernels.map((k) => new PipelineCache(gpu.device).get(plan.shaders[k.shader]!, k.entry)));
      const again = await compileAhead(gpu, ahead.variant.kernels.map((k, i) => ({ wgsl: plan.shaders[k.shader]!, entry: k.entry, bindings: k.bindings.length, pipeline: pipelines[i]! })));
      expect(again).toMatchObject({ devices: 1, shaders: 0 });
    } finally {
      ahead.dispose();
      plain.dispose();
    }
  });
});
