import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { matmulKernel } from "../src/codegen/kernels/matmul.js";
import { acquireGpu, describeAdapter, releaseGpu, sharedGpu, type GpuContext } from "../src/runtime/device.js";
import { createStorage, readBack, runKernelOnce, upload } from "../src/runtime/gpu-buffers.js";
import { PipelineCache } from "../src/runtime/pipelines.js";

let gpu: GpuContext | undefined;
beforeAll(async () => {
  const got = await acquireGpu();
  // NOTE: fail (not skip) without an adapter: this machine is meant to have one.
  if (!got.ok) throw new Error(`no WebGPU adapter: ${got.reason}`);
  gpu = got.gpu;
});
afterAll(() => {
  if (!gpu) return;
  const errors = [...gpu.errors];
  releaseGpu(gpu);
  expect(errors).toEqual([]);
});

/** Lets Dawn deliver pending events (uncaptured errors arrive asynchronously). */
async function settle(device: GPUDevice): Promise<void> {
  await device.queue.onSubmittedWorkDone();
  await new Promise((resolve) => setTimeout(resolve, 50));
}

const COPY = `@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&dst)) { dst[id.x] = 2.0 * src[id.x]; }
}
`;

describe("describeAdapter", () => {
  const info = (fields: Partial<GPUAdapterInfo>) => ({ info: { vendor: "", architecture: "", device: "", description: "", isFallbackAdapter: false, ...fields } as GPUAdapterInfo });
  it("names an adapter by whichever of adapter.info's fields are set", () => {
    expect(describeAdapter(info({ description: "llvmpipe", vendor: "mesa", architecture: "software" }))).toBe("llvmpipe (mesa, software)");
    expect(describeAdapter(info({ vendor: "google", architecture: "swiftshader", isFallbackAdapter: true }))).toBe("google swiftshader (fallback adapter)");
    expect(describeAdapter(info({ device: "Radeon" }))).toBe("Radeon");
    expect(describeAdapter(info({}))).toBe("unnamed WebGPU adapter");
  });
});

describe("acquireGpu", () => {
  it("names the adapter and reports the device limits", () => {
    expect(gpu!.adapterName.trim()).not.toBe("");
    expect(gpu!.adapterName).not.toMatch(/^unknown/);
    expect(gpu!.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(gpu!.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    expect(gpu!.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(gpu!.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it("records no uncaptured errors after a kernel runs", async () => {
    const cache = new PipelineCache(gpu!.device);
    const { wgsl, workgroups } = matmulKernel({ batch: 1, m: 2, n: 2, k: 2, transA: false, transB: false, tileM: 1, tileN: 1, workgroup: [8, 8] });
    const out = await runKernelOnce(gpu!, cache, {
      wgsl,
      workgroups,
      inputs: [Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8)],
      outputLength: 4,
    });
    expect(Array.from(out)).toEqual([19, 22, 43, 50]);
    await settle(gpu!.device);
    expect(gpu!.errors).toEqual([]);
  });

  it("captures uncaptured errors, and releaseGpu is idempotent", async () => {
    // A device of its own, so the deliberate error does not land on the suite's device.
    const got = await acquireGpu();
    if (!got.ok) throw new Error(got.reason);
    const other = got.gpu;
    other.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await settle(other.device);
    expect(other.errors.length).toBe(1);
    expect(other.errors[0]).toMatch(/^uncaptured validation error: .*usage/is);
    releaseGpu(other);
    releaseGpu(other);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Destroying the device on purpose is not a lost device.
    expect(other.errors.length).toBe(1);
  });

  it("sharedGpu returns one context per process, and a new one after it is released", async () => {
    const a = await sharedGpu();
    const b = await sharedGpu();
    expect(a).toBeDefined();
    expect(b).toBe(a);
    releaseGpu(a!);
    const c = await sharedGpu();
    expect(c).toBeDefined();
    expect(c).not.toBe(a);
    releaseGpu(c!);
    expect(a!.errors).toEqual([]);
  });
});

// Node makes pipelines blocking by default, a browser asynchronously: both paths, on Dawn.
describe.each([true, false])("PipelineCache (blocking: %s)", (blocking) => {
  it("returns the same pipeline for the same WGSL, and shares concurrent compiles", async () => {
    const cache = new PipelineCache(gpu!.device, blocking);
    const [p1, p2] = await Promise.all([cache.get(COPY), cache.get(COPY)]);
    expect(p1).toBe(p2);
    expect(await cache.get(COPY)).toBe(p1);
    expect(cache.size).toBe(1);
    expect(cache.compileMs).toBeGreaterThan(0);
    const other = await cache.get(COPY.replace("2.0", "3.0"));
    expect(other).not.toBe(p1);
    expect(cache.size).toBe(2);
  });

  it("rejects broken WGSL with the compiler's message and the offending line", async () => {
    const cache = new PipelineCache(gpu!.device, blocking);
    const broken = COPY.replace("dst[id.x] = 2.0 * src[id.x];", "let bad: f32 = 1u;");
    const error = await cache.get(broken).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain("WGSL does not compile");
    expect(error!.message).toMatch(/6:\d+: error: .*'f32'.*'u32'/);
    expect(error!.message).toContain("let bad: f32 = 1u;");
    expect(error!.message).toMatch(/\n\s+\^/);
    expect(cache.size).toBe(0);
    await settle(gpu!.device);
    // The error scope keeps the compile error out of the device's uncaptured errors.
    expect(gpu!.errors).toEqual([]);
  });

  it("rejects a missing entry point", async () => {
    const cache = new PipelineCache(gpu!.device, blocking);
    await expect(cache.get(COPY, "nope")).rejects.toThrow(/entry point "nope"/);
    await settle(gpu!.device);
    expect(gpu!.errors).toEqual([]);
  });
});

describe("gpu buffers", () => {
  it("rounds storage sizes up to 4 bytes and at least 4", () => {
    const bufs = [createStorage(gpu!.device, 0), createStorage(gpu!.device, 5, "five"), createStorage(gpu!.device, 8)];
    expect(bufs.map((b) => b.size)).toEqual([4, 8, 8]);
    expect(bufs[1]!.label).toBe("five");
    expect(bufs[0]!.usage).toBe(GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    for (const b of bufs) b.destroy();
  });

  it("uploads and reads back, also from a subarray", async () => {
    const data = Float32Array.from({ length: 1000 }, (_, i) => i * 0.5 - 3);
    const buffer = createStorage(gpu!.device, 400);
    upload(gpu!.device, buffer, data.subarray(100, 200));
    const back = await readBack(gpu!.device, buffer, 400);
    expect(Array.from(back)).toEqual(Array.from(data.subarray(100, 200)));
    buffer.destroy();
  });

  it("runKernelOnce binds inputs in order and the output last", async () => {
    const cache = new PipelineCache(gpu!.device);
    const input = Float32Array.from({ length: 100 }, (_, i) => i);
    const out = await runKernelOnce(gpu!, cache, { wgsl: COPY, workgroups: [2, 1, 1], inputs: [input], outputLength: 100 });
    expect(Array.from(out)).toEqual(Array.from(input, (x) => 2 * x));
  });
});
