/**
 * Per conv kernel of the example CNNs and the peers' CNN: the first dispatch (where llvmpipe
 * compiles the shader), the warm time per dispatch, its GFLOP/s, and a matmul of the same M, N, K
 * beside it. Run with the shader cache off so the first dispatch compiles:
 *
 *   MESA_SHADER_CACHE_DISABLE=true npx vite-node bench/conv-kernels.ts [--variants a,b] [--layers i,j] [--ops conv,...] [--wgsl]
 *
 * Variants are the conv tilings below (names as in VARIANTS; "adapter" is the default with what
 * the device allows, see forAdapter); layers index LAYERS. Cases run in
 * interleaved rounds so load from other work shifts them alike; times are median (best).
 */
import { DEFAULT_CODEGEN, forAdapter, generateKernel, type CodegenOptions } from "../src/codegen/wgsl.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { numel } from "../src/ir/types.js";
import { releaseGpu, requireSharedGpu } from "../src/runtime/device.js";
import { createStorage, upload } from "../src/runtime/gpu-buffers.js";
import { ctx, graphWith } from "../test/util/build.js";
import { convAndGradients, type ConvLayer } from "./conv-graph.js";

const VARIANTS: Record<string, CodegenOptions["conv"]> = {
  default: DEFAULT_CODEGEN.conv,
  adapter: DEFAULT_CODEGEN.conv,
  direct: "direct",
  "8x4/64": { tileM: 8, tileN: 4, threads: 64 },
  "4x4/64": { tileM: 4, tileN: 4, threads: 64 },
  "8x8/64": { tileM: 8, tileN: 8, threads: 64 },
  "16x4/64": { tileM: 16, tileN: 4, threads: 64 },
  "8x4/32": { tileM: 8, tileN: 4, threads: 32 },
  "8x4/64 one group": { tileM: 8, tileN: 4, threads: 64, minWorkgroups: 1 },
  "8x4/64 unrolled stores": { tileM: 8, tileN: 4, threads: 64, storeLoop: false },
  "4x4/16 unrolled stores": { tileM: 4, tileN: 4, threads: 16, storeLoop: false },
  "8x4/64u3": { tileM: 8, tileN: 4, threads: 64, unroll: 3 },
  "4x4/64u3": { tileM: 4, tileN: 4, threads: 64, unroll: 3 },
  "4x8/64": { tileM: 4, tileN: 8, threads: 64 },
  "8x2/64": { tileM: 8, tileN: 2, threads: 64 },
  "2x2/64": { tileM: 2, tileN: 2, threads: 64 },
  "4x4/16": { tileM: 4, tileN: 4, threads: 16 },
  "8x8/16": { tileM: 8, tileN: 8, threads: 16 },
  "8x8/32": { tileM: 8, tileN: 8, threads: 32 },
  "4x8/32": { tileM: 4, tileN: 8, threads: 32 },
  "16x4/32": { tileM: 16, tileN: 4, threads: 32 },
  "4x16/64": { tileM: 4, tileN: 16, threads: 64 },
  "8x4/64 sg8": { tileM: 8, tileN: 4, threads: 64, minWorkgroups: 4, subgroup: 8 },
  "8x8/64 sg8": { tileM: 8, tileN: 8, threads: 64, minWorkgroups: 4, subgroup: 8 },
  "16x4/64 sg8": { tileM: 16, tileN: 4, threads: 64, minWorkgroups: 4, subgroup: 8 },
  "8x2/64 sg8": { tileM: 8, tileN: 2, threads: 64, minWorkgroups: 4, subgroup: 8 },
  "16x8/16": { tileM: 16, tileN: 8, threads: 16 },
  "8x16/16": { tileM: 8, tileN: 16, threads: 16 },
  "16x16/16": { tileM: 16, tileN: 16, threads: 16 },
  "16x16/8": { tileM: 16, tileN: 16, threads: 8 },
  "12x12/16": { tileM: 12, tileN: 12, threads: 16 },
};

const LAYERS: ConvLayer[] = [
  // mnist-cnn.net's only conv (its weight gradient is a 32 x 9 output over a k of 64·26·26).
  { name: "1->32 3x3 on 28x28", x: [64, 1, 28, 28], w: [32, 1, 3, 3], attrs: {} },
  { name: "32->64 3x3 on 13x13", x: [64, 32, 13, 13], w: [64, 32, 3, 3], attrs: {} },
  { name: "16->32 3x3 on 13x13", x: [64, 16, 13, 13], w: [32, 16, 3, 3], attrs: {} },
  { name: "16->32 3x3 same 14x14", x: [64, 16, 14, 14], w: [32, 16, 3, 3], attrs: { pads: [1, 1, 1, 1] } },
];
const OPS = ["conv", "conv_grad_input", "conv_grad_weight"];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const variants = (arg("variants") ?? Object.keys(VARIANTS).join(",")).split(",");
const layers = (arg("layers") ?? "0,1,2,3").split(",").map(Number);
const ops = (arg("ops") ?? OPS.join(",")).split(",");
const rounds = Number(arg("rounds") ?? 5);
const showWgsl = process.argv.includes("--wgsl");

interface Case {
  label: string;
  flops: number;
  run: () => Promise<number>;
  first?: number;
  times: number[];
  /** CPU time of the process per dispatch (all llvmpipe threads): less shifted by other load than wall time. */
  cpu: number[];
}

const gpu = await requireSharedGpu();
const device = gpu.device;
const buffers: GPUBuffer[] = [];
const cases: Case[] = [];

function caseFor(label: string, kernel: Parameters<typeof generateKernel>[0], opts: CodegenOptions, flops: number): Case {
  const k = generateKernel(kernel, {}, opts);
  if (showWgsl) console.log(`=== ${label}\n${k.wgsl}`);
  const bufs = [...kernel.inputs, kernel.output].map((v) => {
    const n = numel(v.type.shape as number[]);
    const buf = createStorage(device, n * 4, `v${v.id}`);
    upload(device, buf, Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    buffers.push(buf);
    return buf;
  });
  let pipeline: GPUComputePipeline | undefined;
  let bindGroup: GPUBindGroup | undefined;
  return {
    label,
    flops,
    times: [],
    cpu: [],
    async run() {
      const t0 = performance.now();
      if (!pipeline) {
        pipeline = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: k.wgsl }), entryPoint: "main" } });
        bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      }
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup!);
      pass.dispatchWorkgroups(...k.workgroups);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    },
  };
}

for (const li of layers) {
  const layer = LAYERS[li]!;
  const { fused, y } = convAndGradients(layer);
  const yShape = y.type.shape as number[];
  // M, N, K of each op seen as a matrix product (rows x cols, k).
  const [nb, cin] = [layer.x[0]!, layer.x[1]!];
  const [cout, , kh, kw] = layer.w as [number, number, number, number];
  const pix = yShape[2]! * yShape[3]!;
  const mnk: Record<string, [number, number, number]> = {
    conv: [nb * pix, cout, cin * kh * kw],
    conv_grad_input: [nb * layer.x[2]! * layer.x[3]!, cin, cout * kh * kw],
    conv_grad_weight: [cout, cin * kh * kw, nb * pix],
  };
  for (const kernel of fused.kernels!) {
    const op = kernel.nodes.find((n) => OPS.includes(n.op))!.op;
    if (!ops.includes(op)) continue;
    const [m, n, kk] = mnk[op]!;
    const flops = 2 * m * n * kk;
    for (const v of variants) {
      // "adapter": the default with what this device allows (forAdapter: subgroup-shared loads).
      const opts = v === "adapter" ? forAdapter(DEFAULT_CODEGEN, gpu.subgroupSize) : { ...DEFAULT_CODEGEN, conv: VARIANTS[v]! };
      cases.push(caseFor(`${layer.name.padEnd(22)} ${op.padEnd(17)} ${v.padEnd(10)}`, kernel, opts, flops));
    }
    // A matmul of the same M, N, K.
    const mm = graphWith([[m, kk], [kk, n]], "input");
    mm.g.outputs = [{ name: "o", value: mm.b.op("matmul", mm.args) }];
    const mk = fuse(mm.g, ctx()).kernels![0]!;
    cases.push(caseFor(`${layer.name.padEnd(22)} ${op.padEnd(17)} ${`matmul`.padEnd(10)}`, mk, DEFAULT_CODEGEN, flops));
  }
}

for (const c of cases) c.first = await c.run();
for (let r = 0; r < rounds; r++)
  for (const c of cases) {
    const u0 = process.cpuUsage();
    c.times.push(await c.run());
    const u = process.cpuUsage(u0);
    c.cpu.push((u.user + u.system) / 1000);
  }
console.log(`${gpu.adapterName}; ms per dispatch, median (best) of ${rounds} interleaved rounds; first = first dispatch incl. compile`);
console.log(`${"layer".padEnd(22)} ${"op".padEnd(17)} ${"variant".padEnd(10)} ${"first ms".padStart(9)} ${"warm ms".padStart(15)} ${"GFLOP/s".padStart(8)} ${"cpu ms".padStart(8)}`);
for (const c of cases) {
  const s = [...c.times].sort((x, y) => x - y);
  const med = s[Math.floor(s.length / 2)]!;
  console.log(`${c.label} ${c.first!.toFixed(0).padStart(9)} ${`${med.toFixed(1)} (${s[0]!.toFixed(1)})`.padStart(15)} ${(c.flops / med / 1e6).toFixed(2).padStart(8)} ${[...c.cpu].sort((x, y) => x - y)[Math.floor(c.cpu.length / 2)]!.toFixed(0).padStart(8)}`);
}
if (gpu.errors.length) console.error(`GPU errors:\n${gpu.errors.join("\n")}`);
for (const b of buffers) b.destroy();
releaseGpu(gpu);
