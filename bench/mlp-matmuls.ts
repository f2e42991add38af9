/**
 * Times the MLP step's five large matmuls (784-256-256-10 at batch 128, the `mlp-step` workload of
 * `netc bench`) each alone, with the epilogue the step fuses into it, for a list of template
 * parameter sets: the first dispatch (the shader compile on llvmpipe) and the warm time.
 *
 *   npx vite-node bench/mlp-matmuls.ts [-- --rounds 7 --reps 3 --only fwd1,wgrad1 --params 'JSON list']
 *   MESA_SHADER_CACHE_DISABLE=true npx vite-node bench/mlp-matmuls.ts   (first dispatch = a compile)
 *
 * Without --params, each shape is timed with its built-in llvmpipe choices (with subgroups when
 * the device has them, and without) and the candidates listed below. Rounds alternate the
 * parameter sets (the machine is shared, so neighbours see the same load); each round submits
 * --reps dispatches and waits. Prints median (best) ms per dispatch and GFLOP/s; the CPU time of
 * llvmpipe's worker threads per dispatch (steadier than wall time on a loaded machine: another
 * process's work delays a dispatch but does not add to it); and the first dispatch's wall and
 * process CPU ms.
 */
import { matmulKernel, type MatmulSpec } from "../src/codegen/kernels/matmul.js";
import { defaultMatmulChooser, paramsName, type MatmulParams, type MatmulShape } from "../src/codegen/matmul-choice.js";
import { takesSubgroupMatmuls } from "../src/codegen/matmul-tune.js";
import { releaseGpu, requireSharedGpu } from "../src/runtime/device.js";
import { createStorage, upload } from "../src/runtime/gpu-buffers.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { readdirSync, readFileSync } from "node:fs";

/** CPU ticks (1/100 s) of every thread but the main one: llvmpipe's workers, which run the dispatches. */
function workerTicks(): number {
  let sum = 0;
  for (const t of readdirSync("/proc/self/task")) {
    if (Number(t) === process.pid) continue;
    try {
      const f = readFileSync(`/proc/self/task/${t}/stat`, "utf8").split(") ")[1]!.split(" ");
      sum += Number(f[11]) + Number(f[12]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return sum;
}

/** One of the step's matmuls: its shape, the epilogue the step fuses into it and the epilogue inputs' lengths. */
interface StepMatmul {
  name: string;
  shape: MatmulShape;
  epilogue: string;
  extras: number[];
}

const BIAS_RELU = `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {\n  return max(acc + e0[j], 0.0);\n}`;
const RELU_MASK = (n: number) => `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {\n  let x0 = e0[i * ${n}u + j];\n  return select(0.0, acc, 0.0 < x0);\n}`;
const SGD = (n: number) => `fn epilogue(acc: f32, b: u32, i: u32, j: u32) -> f32 {\n  return e1[i * ${n}u + j] - e0[0u] * acc;\n}`;

/** The step's matmuls, largest first (netc bench --profile's order). */
const STEP: StepMatmul[] = [
  { name: "fwd1", shape: { batch: 1, m: 128, n: 256, k: 784, transA: false, transB: false }, epilogue: BIAS_RELU, extras: [256] },
  { name: "wgrad1", shape: { batch: 1, m: 784, n: 256, k: 128, transA: true, transB: false }, epilogue: SGD(256), extras: [1, 784 * 256] },
  { name: "dgrad2", shape: { batch: 1, m: 128, n: 256, k: 256, transA: false, transB: true }, epilogue: RELU_MASK(256), extras: [128 * 256] },
  { name: "wgrad2", shape: { batch: 1, m: 256, n: 256, k: 128, transA: true, transB: false }, epilogue: SGD(256), extras: [1, 256 * 256] },
  { name: "fwd2", shape: { batch: 1, m: 128, n: 256, k: 256, transA: false, transB: false }, epilogue: BIAS_RELU, extras: [256] },
  // The step's three small matmuls (the 10-wide last layer): compile time matters more than run time.
  { name: "fwd3", shape: { batch: 1, m: 128, n: 10, k: 256, transA: false, transB: false }, epilogue: BIAS_RELU, extras: [10] },
  { name: "dgrad3", shape: { batch: 1, m: 128, n: 256, k: 10, transA: false, transB: true }, epilogue: RELU_MASK(256), extras: [128 * 256] },
  { name: "wgrad3", shape: { batch: 1, m: 256, n: 10, k: 128, transA: true, transB: false }, epilogue: SGD(10), extras: [1, 256 * 10] },
  // A square one, for the l.l.l class (netc bench's matmul-1024).
  { name: "sq1024", shape: { batch: 1, m: 1024, n: 1024, k: 1024, transA: false, transB: false }, epilogue: "", extras: [] },
  // Probes of the cost outside the k loop: a k of 8, with and without the epilogue.
  { name: "k8", shape: { batch: 1, m: 128, n: 256, k: 8, transA: false, transB: false }, epilogue: BIAS_RELU, extras: [256] },
  { name: "k8plain", shape: { batch: 1, m: 128, n: 256, k: 8, transA: false, transB: false }, epilogue: "", extras: [] },
];

/** Candidates timed beside the built-in choices when --params is not given. */
const CANDIDATES: MatmulParams[] = [
  { tileM: 4, tileN: 4, workgroup: [8, 8] },
  { tileM: 8, tileN: 8, workgroup: [8, 1] },
  { tileM: 32, tileN: 4, workgroup: [8, 1], subgroups: true },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const rounds = Number(arg("rounds") ?? 7);
  const reps = Number(arg("reps") ?? 3);
  const only = arg("only")?.split(",");
  const given = arg("params");
  const gpu = await requireSharedGpu();
  const device = gpu.device;
  const cache = new PipelineCache(device);
  const buffers: GPUBuffer[] = [];
  const storage = (n: number) => {
    const b = createStorage(device, n * 4);
    upload(device, b, Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    buffers.push(b);
    return b;
  };
  const builtin = defaultMatmulChooser("llvmpipe");
  const sgBuiltin = defaultMatmulChooser("llvmpipe", true);
  for (const mm of STEP.filter((s) => !only || only.includes(s.name))) {
    const { m, n, k } = mm.shape;
    const flops = 2 * m * n * k;
    const withSubgroups = takesSubgroupMatmuls(gpu) ? [sgBuiltin(mm.shape)] : [];
    const paramSets = (given ? (JSON.parse(given) as MatmulParams[]) : [...withSubgroups, builtin(mm.shape), ...CANDIDATES]).filter((p) => !p.subgroups || takesSubgroupMatmuls(gpu));
    const seen = new Set<string>();
    const cases: { name: string; pipeline: GPUComputePipeline; bind: GPUBindGroup; grid: [number, number, number]; first: number; firstCpu: number; times: number[] }[] = [];
    const ins = [storage(m * k), storage(k * n), ...mm.extras.map(storage), storage(m * n)];
    for (const p of paramSets) {
      const name = paramsName(p);
      if (seen.has(name)) continue;
      seen.add(name);
      const spec: MatmulSpec = { ...mm.shape, ...p, ...(mm.epilogue ? { epilogue: { extraInputs: mm.extras.length, fn: mm.epilogue } } : {}) };
      const { wgsl, workgroups } = matmulKernel(spec);
      const pipeline = await cache.get(wgsl);
      const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: ins.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const c = { name, pipeline, bind, grid: workgroups, first: 0, firstCpu: 0, times: [] as number[] };
          const u0 = process.cpuUsage();
      c.first = await dispatch(device, c, 1);
      const u = process.cpuUsage(u0);
      c.firstCpu = (u.user + u.system) / 1000;
      cases.push(c);
    }
    const ticks = new Map<object, number>();
    for (let r = 0; r < rounds; r++)
      for (const c of cases) {
        const t0 = workerTicks();
        c.times.push((await dispatch(device, c, reps)) / reps);
        ticks.set(c, (ticks.get(c) ?? 0) + workerTicks() - t0);
      }
    console.log(`${mm.name}: ${m}x${n}x${k} ${mm.shape.transA ? "T" : "N"}${mm.shape.transB ? "T" : "N"} (${(flops / 1e6).toFixed(1)} MFLOP)`);
    for (const c of cases) {
      const sorted = [...c.times].sort((x, y) => x - y);
      const med = sorted[Math.floor(sorted.length / 2)]!;
      const best = sorted[0]!;
      console.log(
        `  ${c.name.padEnd(18)} grid ${c.grid.join("x").padEnd(8)} ${med.toFixed(2).padStart(7)} (${best.toFixed(2).padStart(6)}) ms  ${(flops / med / 1e6).toFixed(2).padStart(5)} (${(flops / best / 1e6).toFixed(2)}) GFLOP/s  workers ${((ticks.get(c)! * 10) / (rounds * reps)).toFixed(1)} cpu-ms  first ${c.first.toFixed(0)} ms (cpu ${c.firstCpu.toFixed(0)})`,
      );
    }
  }
  for (const b of buffers) b.destroy();
  releaseGpu(gpu);
}

async function dispatch(device: GPUDevice, c: { pipeline: GPUComputePipeline; bind: GPUBindGroup; grid: [number, number, number] }, count: number): Promise<number> {
  const t0 = performance.now();
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(c.pipeline);
  pass.setBindGroup(0, c.bind);
  for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...c.grid);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

await main();
