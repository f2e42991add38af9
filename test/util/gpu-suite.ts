import { afterAll, beforeAll, expect } from "vitest";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../../src/runtime/device.js";
import { PipelineCache } from "../../src/runtime/pipelines.js";

/**
 * This test file's WebGPU device and pipeline cache, opened before its tests (no skip when there
 * is no adapter: beforeAll throws the reason, so every test fails with it); after them the device
 * is released and must have reported no error.
 */
export function gpuSuite(): { readonly gpu: GpuContext; readonly cache: PipelineCache } {
  let gpu: GpuContext | undefined;
  let cache: PipelineCache | undefined;
  beforeAll(async () => {
    gpu = await requireSharedGpu();
    cache = new PipelineCache(gpu.device);
  });
  afterAll(() => {
    if (!gpu) return;
    const errors = [...gpu.errors];
    releaseGpu(gpu);
    expect(errors).toEqual([]);
  });
  return {
    get gpu() {
      if (!gpu) throw new Error("the WebGPU device is opened in beforeAll");
      return gpu;
    },
    get cache() {
      if (!cache) throw new Error("the pipeline cache is made in beforeAll");
      return cache;
    },
  };
}
