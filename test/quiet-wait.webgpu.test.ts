import { describe, expect, it } from "vitest";
import { createStorage, readBack } from "../src/runtime/gpu-buffers.js";
import { quietWait } from "../src/runtime/quiet-wait.js";
import { gpuSuite } from "./util/gpu-suite.js";

const suite = gpuSuite();

/** One thread busy for some tens of milliseconds on llvmpipe (the count is hidden from the compiler). */
const BUSY = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var x = 1.0;
  let n = 4000000u + arrayLength(&out);
  for (var i = 0u; i < n; i++) {
    x = fract(x * 1.0001 + 0.25);
  }
  out[0] = x + 1.0;
}
`;

/** Calls of the global setImmediate while `f` runs (the global replaced by a counting wrapper). */
async function countImmediates<T>(f: () => Promise<T>): Promise<{ calls: number; result: T }> {
  const original = globalThis.setImmediate;
  let calls = 0;
  globalThis.setImmediate = ((...args: Parameters<typeof setImmediate>) => {
    calls++;
    return original(...args);
  }) as typeof setImmediate;
  try {
    return { result: await f(), calls };
  } finally {
    globalThis.setImmediate = original;
  }
}

describe("quietWait", () => {
  it("rests on Dawn for Node polling through the global setImmediate while a wait is pending", async () => {
    expect(suite.gpu.spinsWhileWaiting).toBe(true);
    const device = suite.gpu.device;
    const pipeline = await suite.cache.get(BUSY);
    const out = createStorage(device, 4);
    const busy = () => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] }));
      pass.dispatchWorkgroups(1);
      pass.end();
      device.queue.submit([enc.finish()]);
    };
    busy();
    await device.queue.onSubmittedWorkDone();
    // Waited as Dawn does by itself, its polls run through the global, one after the other.
    busy();
    const plain = await countImmediates(() => device.queue.onSubmittedWorkDone());
    expect(plain.calls).toBeGreaterThan(10);
    // NOTE: should a later `webgpu` poll another way, the count above fails and quiet-wait.ts is to be revisited.
    // Waited quietly, they go through the spaced stand-in instead (at most the first poll, queued before, through the global).
    busy();
    const quiet = await countImmediates(() => quietWait(true, device.queue.onSubmittedWorkDone()));
    expect(quiet.calls).toBeLessThanOrEqual(1);
    expect(await readBack(device, out, 4, true)).not.toEqual(new Float32Array(1));
    out.destroy();
  });

  it("swaps the global only while some wait is pending, also when one fails", async () => {
    const original = globalThis.setImmediate;
    let release!: () => void;
    const first = quietWait(true, new Promise<void>((resolve) => (release = resolve)));
    expect(globalThis.setImmediate).not.toBe(original);
    const failed = quietWait(true, Promise.reject(new Error("lost")));
    await expect(failed).rejects.toThrow("lost");
    // One wait is still pending: the stand-in stays.
    expect(globalThis.setImmediate).not.toBe(original);
    release();
    await first;
    expect(globalThis.setImmediate).toBe(original);
  });

  it("leaves the global alone where waiting does not spin", async () => {
    const original = globalThis.setImmediate;
    const wait = quietWait(false, new Promise((resolve) => setTimeout(resolve, 5)));
    expect(globalThis.setImmediate).toBe(original);
    await wait;
  });
});
