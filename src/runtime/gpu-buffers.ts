/// <reference types="@webgpu/types" preserve="true" />
import type { GpuContext } from "./device.js";
import type { PipelineCache } from "./pipelines.js";
import { quietWait } from "./quiet-wait.js";

/** A storage buffer (STORAGE | COPY_SRC | COPY_DST) of at least `bytes`, rounded up to 4 and never empty. */
export function createStorage(device: GPUDevice, bytes: number, label?: string): GPUBuffer {
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  return device.createBuffer(label === undefined ? { size, usage } : { size, usage, label });
}

/** Writes `data` at the start of `buffer` (queued; ordered before later submits). */
export function upload(device: GPUDevice, buffer: GPUBuffer, data: Float32Array): void {
  if (data.byteLength === 0) return;
  device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
}

/** Copies the first `byteLength` bytes of `buffer` through a MAP_READ staging buffer (`spins`: see GpuContext.spinsWhileWaiting). */
export async function readBack(device: GPUDevice, buffer: GPUBuffer, byteLength: number, spins?: boolean): Promise<Float32Array> {
  const bytes = Math.ceil(byteLength / 4) * 4;
  if (bytes === 0) return new Float32Array(0);
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "read-back" });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    await quietWait(spins, staging.mapAsync(GPUMapMode.READ));
    // NOTE: copy out of the mapped range; it is detached by unmap.
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    return out;
  } finally {
    staging.destroy();
  }
}

/** One kernel run for tests: WGSL, grid, inputs bound 0..n-1 as read-only storage, the output bound last. */
export interface KernelRun {
  wgsl: string;
  workgroups: [number, number, number];
  inputs: Float32Array[];
  /** Number of f32 values in the output (bound as `var<storage, read_write>`). */
  outputLength: number;
  entryPoint?: string;
}

/**
 * Compiles (cached) and runs one kernel in its own submit, and reads its output back. Validation
 * and out-of-memory errors raised on the way become a rejection instead of uncaptured errors.
 */
export async function runKernelOnce(gpu: GpuContext, pipelines: PipelineCache, run: KernelRun): Promise<Float32Array> {
  const { device } = gpu;
  const pipeline = await pipelines.get(run.wgsl, run.entryPoint);
  // NOTE: everything between push and pop is synchronous, so concurrent runs cannot interleave scopes.
  device.pushErrorScope("validation");
  device.pushErrorScope("out-of-memory");
  const buffers = run.inputs.map((data, i) => {
    const b = createStorage(device, data.byteLength, `input${i}`);
    upload(device, b, data);
    return b;
  });
  const output = createStorage(device, run.outputLength * 4, "output");
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...buffers, output].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...run.workgroups);
  pass.end();
  device.queue.submit([enc.finish()]);
  const oom = device.popErrorScope();
  const invalid = device.popErrorScope();
  try {
    const [oomError, validationError] = await Promise.all([oom, invalid]);
    const error = validationError ?? oomError;
    if (error) throw new Error(`kernel run failed: ${error.message}`);
    return await readBack(device, output, run.outputLength * 4, gpu.spinsWhileWaiting);
  } finally {
    for (const b of buffers) b.destroy();
    output.destroy();
  }
}
