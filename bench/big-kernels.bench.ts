/**
 * Times what a big param costs per step on WebGPU: the elementwise update kernel of a tensor past
 * 65,535 workgroups in one dimension (its grid folded over x and y) against one that fits, per
 * element, and the step-statistics check that flags a non-finite updated param (step-stats.ts).
 *
 *   npx vitest bench --run bench/big-kernels.bench.ts
 *
 * Prints milliseconds per dispatch and nanoseconds per element: median (best) of interleaved rounds.
 */
import { afterAll, beforeAll, bench } from "vitest";
import { generateKernel } from "../src/codegen/wgsl.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../src/runtime/device.js";
import { createStorage, upload } from "../src/runtime/gpu-buffers.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { checkShader } from "../src/runtime/step-stats.js";
import { ctx, graphWith } from "../test/util/build.js";

/** Elements: an update that fits one grid row (65,535 x 64 = 4.19 M) and a 5000 x 5000 one. */
const SIZES = [4_000_000, 25_000_000];
const ROUNDS = 5;

interface Case {
  name: string;
  elements: number;
  grid: [number, number, number];
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  times: number[];
}

let gpu: GpuContext;
const cases: Case[] = [];
const buffers: GPUBuffer[] = [];

beforeAll(async () => {
  gpu = await requireSharedGpu();
  const device = gpu.device;
  const cache = new PipelineCache(device);
  const storage = (n: number, label: string) => {
    const b = createStorage(device, n * 4, label);
    upload(device, b, Float32Array.from({ length: Math.min(n, 1 << 20) }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    buffers.push(b);
    return b;
  };
  const bind = (pipeline: GPUComputePipeline, bufs: GPUBuffer[]) =>
    device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  for (const n of SIZES) {
    // Adam's first moment: m' = 0.9 m + 0.1 g, one kernel over the param's elements.
    const { g, b, args } = graphWith([[n], [n]], "input");
    g.outputs = [{ name: "m", value: b.add(b.mul(b.const(0.9), args[0]!), b.mul(b.const(0.1), args[1]!)) }];
    const kernel = fuse(g, ctx()).kernels![0]!;
    const k = generateKernel(kernel, {});
    const bufs = [storage(n, "m"), storage(n, "g"), storage(n, "out")];
    const pipeline = await cache.get(k.wgsl);
    cases.push({ name: "update m' = 0.9 m + 0.1 g", elements: n, grid: k.workgroups, pipeline, bindGroup: bind(pipeline, bufs), times: [] });
    const check = await cache.get(checkShader([false]));
    const flag = storage(1, "flag");
    cases.push({ name: "non-finite check of the param", elements: n, grid: [Math.min(1024, Math.ceil(n / 64)), 1, 1], pipeline: check, bindGroup: bind(check, [bufs[2]!, flag]), times: [] });
  }
});

afterAll(() => {
  const lines = [`big kernels on ${gpu?.adapterName ?? "no adapter"}: median (best) of ${ROUNDS} interleaved rounds`];
  lines.push(["kernel".padEnd(32), "elements".padStart(11), "grid".padStart(16), "ms".padStart(16), "ns/element".padStart(12)].join(" "));
  for (const c of cases) {
    const s = [...c.times].sort((x, y) => x - y);
    const median = s[Math.floor(s.length / 2)] ?? NaN;
    lines.push(
      [c.name.padEnd(32), String(c.elements).padStart(11), c.grid.join("x").padStart(16), `${median.toFixed(1)} (${(s[0] ?? NaN).toFixed(1)})`.padStart(16), ((median * 1e6) / c.elements).toFixed(2).padStart(12)].join(" "),
    );
  }
  console.log(lines.join("\n"));
  for (const b of buffers) b.destroy();
  if (gpu) {
    if (gpu.errors.length) console.error(`GPU errors:\n${gpu.errors.join("\n")}`);
    releaseGpu(gpu);
  }
});

bench(
  "big update kernels and the non-finite check, interleaved rounds",
  async () => {
    const device = gpu.device;
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const c of cases) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(...c.grid);
        pass.end();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        // The first round compiles (llvmpipe compiles at a first dispatch) and is not recorded.
        if (round > 0) c.times.push(performance.now() - t0);
      }
    }
  },
  { time: 0, iterations: 1, warmupTime: 0, warmupIterations: 0 },
);
