/**
 * Times conv, conv_grad_input and conv_grad_weight of the example CNNs with each codegen choice
 * for window ops that are implicit matrix products (the one-thread-per-element "direct" loop, and
 * register-blocked tilings), and prints milliseconds per dispatch side by side.
 *
 *   npx vitest bench --run bench/conv.bench.ts
 *
 * The variants run in interleaved rounds (every variant of a layer once per round), so load from
 * other work on the machine shifts them alike; the table gives the median and, in brackets, the
 * best of the rounds.
 */
import { afterAll, beforeAll, bench } from "vitest";
import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions } from "../src/codegen/wgsl.js";
import { numel } from "../src/ir/types.js";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../src/runtime/device.js";
import { createStorage, upload } from "../src/runtime/gpu-buffers.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { convAndGradients, type ConvLayer } from "./conv-graph.js";

const VARIANTS: { name: string; conv: CodegenOptions["conv"] }[] = [
  { name: "direct", conv: "direct" },
  { name: "gemm 1x1", conv: { tileM: 1, tileN: 1, threads: 64 } },
  { name: "gemm 2x2", conv: { tileM: 2, tileN: 2, threads: 64 } },
  { name: "gemm 4x4", conv: { tileM: 4, tileN: 4, threads: 64 } },
  { name: "gemm 4x4/16", conv: { tileM: 4, tileN: 4, threads: 16 } },
  { name: "gemm 8x4", conv: { tileM: 8, tileN: 4, threads: 64 } },
];

/** The conv layers of examples/fashion-cnn2.net and mnist-cnn.net at batch 64 (valid padding). */
const LAYERS: ConvLayer[] = [
  { name: "1->16 3x3 on 28x28", x: [64, 1, 28, 28], w: [16, 1, 3, 3], attrs: {} },
  { name: "16->32 3x3 on 13x13", x: [64, 16, 13, 13], w: [32, 16, 3, 3], attrs: {} },
  { name: "16->32 3x3 'same' on 14x14", x: [64, 16, 14, 14], w: [32, 16, 3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { name: "32->64 3x3 on 13x13", x: [64, 32, 13, 13], w: [64, 32, 3, 3], attrs: {} },
];
const OPS = ["conv", "conv_grad_input", "conv_grad_weight"] as const;
const ROUNDS = 5;

interface Case {
  layer: string;
  op: string;
  variant: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  times: number[];
}

let gpu: GpuContext;
const cases: Case[] = [];
const buffers: GPUBuffer[] = [];

beforeAll(async () => {
  gpu = await requireSharedGpu();
  const device = gpu.device;
  const cache = new PipelineCache(device);
  for (const layer of LAYERS) {
    const { fused } = convAndGradients(layer);
    for (const kernel of fused.kernels!) {
      const values = [...kernel.inputs, kernel.output];
      const bufs = values.map((v) => {
        const n = numel(v.type.shape as number[]);
        const buf = createStorage(device, n * 4, `v${v.id}`);
        upload(device, buf, Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
        buffers.push(buf);
        return buf;
      });
      const op = kernel.nodes.find((n) => (OPS as readonly string[]).includes(n.op))!.op;
      for (const v of VARIANTS) {
        const k = generateKernel(kernel, {}, { ...DEFAULT_CODEGEN, conv: v.conv });
        const pipeline = await cache.get(k.wgsl);
        const bindGroup = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
        });
        cases.push({ layer: layer.name, op, variant: v.name, pipeline, bindGroup, workgroups: k.workgroups, times: [] });
      }
    }
  }
});

afterAll(() => {
  const cell = (c: Case | undefined) => {
    if (!c?.times.length) return "-";
    const s = [...c.times].sort((x, y) => x - y);
    return `${s[Math.floor(s.length / 2)]!.toFixed(1)} (${s[0]!.toFixed(1)})`;
  };
  const lines = [`conv kernels on ${gpu?.adapterName ?? "no adapter"}, ms per dispatch at batch 64: median (best) of ${ROUNDS} interleaved rounds`];
  lines.push(["layer".padEnd(28), "op".padEnd(17), ...VARIANTS.map((v) => v.name.padStart(14))].join(" "));
  for (const layer of LAYERS) {
    for (const op of OPS) {
      const row = VARIANTS.map((v) => cell(cases.find((c) => c.layer === layer.name && c.op === op && c.variant === v.name)).padStart(14));
      lines.push([layer.name.padEnd(28), op.padEnd(17), ...row].join(" "));
    }
  }
  console.log(lines.join("\n"));
  for (const b of buffers) b.destroy();
  if (gpu) {
    if (gpu.errors.length) console.error(`GPU errors:\n${gpu.errors.join("\n")}`);
    releaseGpu(gpu);
  }
});

bench(
  "conv kernels, every variant, interleaved rounds",
  async () => {
    const device = gpu.device;
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const c of cases) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(c.pipeline);
        pass.setBindGroup(0, c.bindGroup);
        pass.dispatchWorkgroups(...c.workgroups);
        pass.end();
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        // The first round warms caches and is not recorded.
        if (round > 0) c.times.push(performance.now() - t0);
      }
    }
  },
  { time: 0, iterations: 1, warmupTime: 0, warmupIterations: 0 },
);
