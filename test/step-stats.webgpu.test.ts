/// <reference types="@webgpu/types" preserve="true" />
import { describe, expect, it } from "vitest";
import { createStorage, readBack, upload } from "../src/runtime/gpu-buffers.js";
import { accumulate, CHECK_GROUPS, GpuStepStats, STATS_LENGTH, statsOf } from "../src/runtime/step-stats.js";
import { gpuSuite } from "./util/gpu-suite.js";

// The step statistics' dispatches (src/runtime/step-stats.ts) on their own: the check of the
// updated values and the statistics in one dispatch, or spread over several check kernels when a
// kernel cannot bind them all, against the CPU runner's `accumulate`.

const suite = gpuSuite();

/** Runs `steps` steps of the statistics over values of `lengths` (NaN at `bad[step]`: [value, index]) and returns the device's statistics and the CPU's. */
async function run(lengths: number[], state: boolean[], maxBindings: number, steps: { loss: number; bad?: [number, number] }[]): Promise<{ got: Float32Array; want: Float32Array; dispatches: number }> {
  const { gpu, cache } = suite;
  const device = gpu.device;
  const stats = new GpuStepStats(device);
  const values = lengths.map((n, i) => createStorage(device, n * 4, `v${i}`));
  const loss = createStorage(device, 4, "loss");
  const rows = createStorage(device, 4, "rows");
  upload(device, rows, Float32Array.of(32));
  stats.reset();
  const want = new Float32Array(STATS_LENGTH);
  try {
    const ds = await stats.dispatches(cache, maxBindings, loss, undefined, rows, values.map((buffer, i) => ({ buffer, count: lengths[i]!, state: state[i]! })));
    for (const step of steps) {
      const data = lengths.map((n, i) => Float32Array.from({ length: n }, (_, j) => (step.bad && step.bad[0] === i && step.bad[1] === j ? NaN : (j % 7) - 3)));
      data.forEach((d, i) => upload(device, values[i]!, d));
      upload(device, loss, Float32Array.of(step.loss));
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const d of ds) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.workgroups);
      }
      pass.end();
      device.queue.submit([enc.finish()]);
      const badParam = step.bad !== undefined && !state[step.bad[0]];
      const badState = step.bad !== undefined && state[step.bad[0]]!;
      accumulate(want, step.loss, undefined, 32, !badParam, !badState);
    }
    const got = await readBack(device, stats.stats, STATS_LENGTH * 4);
    return { got, want, dispatches: ds.length };
  } finally {
    for (const b of [...values, loss, rows]) b.destroy();
    stats.destroy();
  }
}

describe("step statistics on WebGPU match the CPU runner's", () => {
  const steps = [{ loss: 2.5 }, { loss: 2.25, bad: [2, 4099] as [number, number] }, { loss: Infinity }, { loss: 1.5, bad: [0, 0] as [number, number] }, { loss: 1 }];

  it("values that one kernel binds: the check and the statistics are one dispatch", async () => {
    const { got, want, dispatches } = await run([70_000, 300, 5000, 10], [false, false, true, false], 16, steps);
    expect(dispatches).toBe(1);
    expect(statsOf(got)).toEqual(statsOf(want));
    expect(statsOf(got).firstBad).toBe(2);
    expect(statsOf(got).badState).toBe(1);
  });

  it(`more values than a kernel binds: check kernels first, their workgroups (at most ${CHECK_GROUPS} in all) counted by the last`, async () => {
    const lengths = [70_000, 300, 5000, 10, 64 * CHECK_GROUPS * 3, 1, 9];
    const state = [false, false, true, false, false, true, false];
    const { got, want, dispatches } = await run(lengths, state, 5, [...steps, { loss: 0.5, bad: [4, 64 * CHECK_GROUPS * 3 - 1] }]);
    expect(dispatches).toBe(3);
    expect(statsOf(got)).toEqual(statsOf(want));
    expect(statsOf(got).badWeights).toBe(2);
  });
});
