/**
 * Times every matmul variant (register blocks, vec4 reads, k unrolling, split-K) on 256³ and 512³
 * and prints GFLOP/s side by side. `netc bench` tunes per adapter and shape class instead (see
 * src/codegen/matmul-tune.ts); this is for looking at all variants at once.
 *
 *   npx vitest bench --run bench/matmul.bench.ts
 *
 * Each measured iteration submits N dispatches in one command buffer and waits for
 * `queue.onSubmittedWorkDone()`; tinybench's warm-up iterations run first. The table reports the
 * median over iterations and, in brackets, the best (the best is the steadier number on a
 * machine shared with other work).
 */
import { afterAll, beforeAll, bench, describe } from "vitest";
import { MATMUL_TEMPLATE_VARIANTS, MATMUL_VARIANTS as PLAIN_VARIANTS, matmulKernel } from "../src/codegen/kernels/matmul.js";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../src/runtime/device.js";
import { createStorage, upload } from "../src/runtime/gpu-buffers.js";
import { PipelineCache } from "../src/runtime/pipelines.js";

/** The plain register blocks and the vec4 / k-unroll / split-K variants. */
const MATMUL_VARIANTS = [...PLAIN_VARIANTS, ...MATMUL_TEMPLATE_VARIANTS];

/** Square sizes, and dispatches per timed submit for each. */
const SIZES: { size: number; dispatches: number }[] = [
  { size: 256, dispatches: 4 },
  { size: 512, dispatches: 1 },
];
const OPTIONS = { time: 0, iterations: 5, warmupTime: 0, warmupIterations: 2 };

interface Case {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  /** Milliseconds per dispatch, one entry per measured or warm-up iteration. */
  times: number[];
}

let gpu: GpuContext;
const cases = new Map<string, Case>();
const buffers: GPUBuffer[] = [];
let compileMs = 0;

const key = (variant: string, size: number) => `${variant}@${size}`;

beforeAll(async () => {
  gpu = await requireSharedGpu();
  const device = gpu.device;
  const cache = new PipelineCache(device);
  const jobs: Promise<void>[] = [];
  for (const { size } of SIZES) {
    const data = Float32Array.from({ length: size * size }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const [a, b, out] = ["a", "b", "out"].map((label) => createStorage(device, size * size * 4, `${label}${size}`)) as [GPUBuffer, GPUBuffer, GPUBuffer];
    upload(device, a, data);
    upload(device, b, data);
    buffers.push(a, b, out);
    for (const v of MATMUL_VARIANTS) {
      const { name: _, ...params } = v;
      const { wgsl, workgroups } = matmulKernel({ batch: 1, m: size, n: size, k: size, transA: false, transB: false, ...params });
      jobs.push(
        cache.get(wgsl).then((pipeline) => {
          const bindGroup = device.createBindGroup({
            layout: pipeline.getBindGroupLayout(0),
            entries: [a, b, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
          });
          cases.set(key(v.name, size), { pipeline, bindGroup, workgroups, times: [] });
        }),
      );
    }
  }
  await Promise.all(jobs);
  compileMs = cache.compileMs;
});

afterAll(() => {
  const cell = (v: string, size: number) => {
    const times = cases.get(key(v, size))?.times.slice(OPTIONS.warmupIterations) ?? [];
    if (!times.length) return "-";
    const sorted = [...times].sort((x, y) => x - y);
    const gflops = (ms: number) => (2 * size ** 3) / (ms * 1e6);
    return `${gflops(sorted[Math.floor(sorted.length / 2)]!).toFixed(2)} (${gflops(sorted[0]!).toFixed(2)})`;
  };
  const header = ["variant".padEnd(10), "tile", "workgroup", ...SIZES.map(({ size }) => `${size}³ GFLOP/s`.padStart(20))];
  const rows = MATMUL_VARIANTS.map((v) => [
    v.name.padEnd(10),
    `${v.tileM}x${v.tileN}`.padEnd(4),
    v.workgroup.join("x").padEnd(9),
    ...SIZES.map(({ size }) => cell(v.name, size).padStart(20)),
  ]);
  const lines = [
    `matmul on ${gpu?.adapterName ?? "no adapter"} (median (best) of ${OPTIONS.iterations}; ${MATMUL_VARIANTS.length * SIZES.length} pipelines compiled in ${compileMs.toFixed(0)} ms summed)`,
    header.join("  "),
    ...rows.map((r) => r.join("  ")),
  ];
  console.log(lines.join("\n"));
  for (const b of buffers) b.destroy();
  if (gpu) {
    if (gpu.errors.length) console.error(`GPU errors:\n${gpu.errors.join("\n")}`);
    releaseGpu(gpu);
  }
});

for (const { size, dispatches } of SIZES) {
  describe(`matmul ${size}x${size}x${size} (${dispatches} dispatch${dispatches > 1 ? "es" : ""} per iteration)`, () => {
    for (const v of MATMUL_VARIANTS) {
      bench(
        v.name,
        async () => {
          const c = cases.get(key(v.name, size))!;
          const device = gpu.device;
          const t0 = performance.now();
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(c.pipeline);
          pass.setBindGroup(0, c.bindGroup);
          for (let i = 0; i < dispatches; i++) pass.dispatchWorkgroups(...c.workgroups);
          pass.end();
          device.queue.submit([enc.finish()]);
          await device.queue.onSubmittedWorkDone();
          c.times.push((performance.now() - t0) / dispatches);
        },
        OPTIONS,
      );
    }
  });
}
