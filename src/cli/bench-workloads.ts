/**
 * The runtime workloads of `netc bench`: the peers' three (a square matmul, the MLP training
 * step, the small CNN's inference; same shapes, data, initial weights and timing, readback
 * included) and one training step of each example. Each compiles its network, makes a runner on
 * the chosen backend and hands back the call to time.
 */
import { readFileSync } from "node:fs";
import { planOf } from "../codegen/plan.js";
import { compile, type CompileOptions } from "../compile.js";
import type { CodegenOptions } from "../codegen/wgsl.js";
import type { Graph } from "../ir/graph.js";
import type { Plan, PlanTensor } from "../ir/plan.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import { dimsFor, type Backend } from "../runtime/backend.js";
import type { StepRunner } from "../runtime/runner.js";
import { planInitialValues } from "../runtime/train.js";
import { WebGpuRunner } from "../runtime/webgpu.js";
import { UsageError } from "./io.js";
import { cnnFlops, mlpStepFlops, randn, round, scaled, type Repetitions } from "./bench-timing.js";
import type { ProfileReport } from "../runtime/profiler.js";

/** A workload made ready to time on one backend. */
export interface Prepared {
  runner: StepRunner;
  /** One timed call: a step or an inference pass, through the readback of its result. */
  call(): Promise<void>;
  /** Nominal FLOPs of one call, for GFLOP/s (the peers' count). */
  flops?: number;
  /** Facts to report beside the timing (the loss at the first and last step, a checksum), read after the timed calls. */
  extra(): Record<string, unknown>;
}

/** Codegen options for a graph at its dims, matmuls tuned on the adapter (see MatmulTuner.codegenFor). */
export type Tune = (graph: Graph, dims: DimBindings) => Promise<CodegenOptions>;

/** A runtime workload: its name, how many calls to time by default, and how to prepare it (with tuned matmuls when `tune` is given). */
export interface RuntimeWorkload {
  name: string;
  reps: Repetitions;
  prepare(backend: Backend, tune?: Tune): Promise<Prepared>;
}

// NOTE: the peers' repetitions (tfjs_bench.mjs, jax_bench.mjs): matmul 3 + 15 in 30 s, the MLP
// step and CNN inference 5 + 30 in 20 s.
const MATMUL_REPS: Repetitions = { warmup: 3, reps: 15, minReps: 3, maxMs: 30000 };
const STEP_REPS: Repetitions = { warmup: 5, reps: 30, minReps: 3, maxMs: 20000 };
const EXAMPLE_REPS: Repetitions = { warmup: 2, reps: 10, minReps: 3, maxMs: 10000 };

/** The peers' MLP and CNN (harness.mjs). */
const MLP = { batch: 128, sizes: [784, 256, 256, 10] } as const;
const CNN = { batch: 64, c1: 32, c2: 64, classes: 10 } as const;

/** Compiles a built-in network for `rows` rows a batch; a failure is a bug in the benchmark, said as such. */
async function compiled(text: string, path: string, rows: number, tune: Tune | undefined, opts: CompileOptions = {}): Promise<Plan> {
  const c = compile(text, path, opts);
  if (!c.graph) throw new Error(`internal: the benchmark's ${path} does not compile:\n${c.diagnostics.render()}`);
  return tunedPlan(c.graph, c.train ? { train: c.train } : {}, rows, tune);
}

/** The plan of `graph`, with matmuls tuned for `rows` rows a batch when `tune` is given. */
async function tunedPlan(graph: Graph, opts: Parameters<typeof planOf>[1], rows: number, tune: Tune | undefined): Promise<Plan> {
  if (!tune) return planOf(graph, opts);
  const codegen = await tune(graph, dimsFor(planOf(graph, opts), rows));
  return planOf(graph, { ...opts, codegen });
}

/** `matmul-N`: C = A·B for N×N operands already on the device, read back to JavaScript. */
export function matmulWorkload(n: number): RuntimeWorkload {
  return {
    name: `matmul-${n}`,
    reps: MATMUL_REPS,
    async prepare(backend, tune) {
      const plan = await compiled(`network matmul {\n  input a: f32[${n}, ${n}]\n  input b: f32[${n}, ${n}]\n  output c = a @ b\n}\n`, `matmul-${n}.net`, 1, tune, { mode: "infer" });
      const runner = await backend.create(plan, 1, {});
      // NOTE: the same arrays every call: the runner uploads them once, as the peers keep theirs on the device.
      const feed = { a: randn(n * n, 1), b: randn(n * n, 2) };
      let checksum = 0;
      return {
        runner,
        flops: 2 * n ** 3,
        async call() {
          const got = await runner.run(feed, ["c"]);
          checksum = got["c"]![0]!;
        },
        extra: () => ({ c00: round(checksum, 4) }),
      };
    },
  };
}

/** `mlp-step`: the peers' MLP 784-256-256-10 training step at batch 128 (softmax cross-entropy, SGD 0.01), loss read back every step. */
export const mlpStep: RuntimeWorkload = {
  name: "mlp-step",
  reps: STEP_REPS,
  async prepare(backend, tune) {
    const [i0, h1, h2, o] = MLP.sizes;
    const plan = await compiled(
      `network mlp {\n  input x: f32[B, ${i0}]\n  input y: f32[B, ${o}]\n  output logits = x |> l1: dense(${h1}, activation = relu) |> l2: dense(${h2}, activation = relu) |> l3: dense(${o})\n}\n` +
        `train {\n  loss = cross_entropy(logits, y)\n  optimizer = sgd(lr = 0.01)\n  epochs = 1\n  batch = ${MLP.batch}\n}\n`,
      "mlp-step.net",
      MLP.batch,
      tune,
    );
    // NOTE: the peers' Glorot-uniform weights from seeds 11-13 and zero biases, so every system starts at loss 2.425.
    const glorot = (fi: number, fo: number, seed: number) => scaled(fi * fo, seed, Math.sqrt(6 / (fi + fo)));
    const initial = {
      "l1.weight": glorot(i0, h1, 11),
      "l1.bias": new Float32Array(h1),
      "l2.weight": glorot(h1, h2, 12),
      "l2.bias": new Float32Array(h2),
      "l3.weight": glorot(h2, o, 13),
      "l3.bias": new Float32Array(o),
    };
    const runner = await backend.create(plan, MLP.batch, initial);
    const y = new Float32Array(MLP.batch * o);
    for (let i = 0; i < MLP.batch; i++) y[i * o + ((i * 7) % o)] = 1;
    const feed = { x: randn(MLP.batch * i0, 14), y };
    return { runner, flops: mlpStepFlops(MLP.sizes, MLP.batch), ...lossTracking(runner, feed) };
  },
};

/** `cnn-infer`: the peers' conv32-pool-conv64-pool-dense10 inference on a batch of 64 28x28 images (NCHW, as jax-js and ONNX), logits read back. */
export const cnnInfer: RuntimeWorkload = {
  name: "cnn-infer",
  reps: STEP_REPS,
  async prepare(backend, tune) {
    const { batch, c1, c2, classes } = CNN;
    const plan = await compiled(
      `network cnn {\n  input x: f32[B, 1, 28, 28]\n  output logits = x\n` +
        `    |> c1: conv2d(${c1}, 3, padding = valid, activation = relu) |> maxpool2d(2)\n` +
        `    |> c2: conv2d(${c2}, 3, padding = valid, activation = relu) |> maxpool2d(2)\n` +
        `    |> flatten |> d: dense(${classes})\n}\n`,
      "cnn-infer.net",
      batch,
      tune,
      { mode: "infer" },
    );
    // NOTE: jax_bench.mjs's weights, seeds 21-26, in the same [out, in, kh, kw] layout.
    const initial = {
      "c1.weight": scaled(c1 * 9, 21, 0.5),
      "c1.bias": scaled(c1, 22, 0.1),
      "c2.weight": scaled(c2 * c1 * 9, 23, 0.1),
      "c2.bias": scaled(c2, 24, 0.1),
      "d.weight": scaled(5 * 5 * c2 * classes, 25, 0.05),
      "d.bias": scaled(classes, 26, 0.1),
    };
    const runner = await backend.create(plan, batch, initial);
    const feed = { x: randn(batch * 28 * 28, 27) };
    let sumAbs = 0;
    return {
      runner,
      flops: cnnFlops(batch, c1, c2, classes),
      async call() {
        const logits = (await runner.run(feed, ["logits"]))["logits"]!;
        sumAbs = 0;
        for (const v of logits) sumAbs += Math.abs(v);
      },
      // NOTE: the peers' coldstart.mjs prints the same checksum (sum of |logits|) for its CNN.
      extra: () => ({ checksum: round(sumAbs, 4) }),
    };
  },
};

/** `train-NAME`: one training step of examples/NAME.net at its batch size on synthetic data of its shapes, loss read back. */
export function exampleWorkload(name: string, file: string): RuntimeWorkload {
  return {
    name: `train-${name}`,
    reps: EXAMPLE_REPS,
    async prepare(backend, tune) {
      const c = compile(readFileSync(file, "utf8"), file);
      if (!c.graph || !c.train) throw new UsageError(`${file} does not compile: ${c.diagnostics.render().split("\n")[0]}`);
      const plan = await tunedPlan(c.graph, { train: c.train }, c.train.batch, tune);
      const batch = c.train.batch;
      const dims = dimsFor(plan, batch);
      const runner = await backend.create(plan, batch, planInitialValues(plan, c.train.seed));
      // NOTE: synthetic rows (no dataset download): the timing depends on shapes, not values.
      const feed: Record<string, Float32Array> = {};
      plan.inputs.forEach((t, i) => (feed[t.name] = synthetic(t, concreteShape(t.shape, dims), 100 + i, false)));
      plan.labels.forEach((t, i) => (feed[t.name] = synthetic(t, concreteShape(t.shape, dims), 200 + i, true)));
      return { runner, ...lossTracking(runner, feed) };
    },
  };
}

/** A training step's call with the loss read back, and the loss at the first and last call. */
function lossTracking(runner: StepRunner, feed: Record<string, Float32Array>): Pick<Prepared, "call" | "extra"> {
  const losses: number[] = [];
  return {
    async call() {
      const loss = await runner.step(feed, true);
      if (losses.length < 1) losses.push(loss ?? NaN);
      losses[1] = loss ?? NaN;
    },
    extra: () => ({ lossStart: round(losses[0] ?? NaN, 4), lossEnd: round(losses[1] ?? NaN, 4) }),
  };
}

/** Values for a fed tensor: ids 0 for integers, one-hot rows for a wide f32 label, uniform(-1, 1) otherwise. */
function synthetic(t: PlanTensor, shape: number[], seed: number, label: boolean): Float32Array {
  const n = numel(shape);
  if (t.dtype !== "f32") return new Float32Array(n);
  const width = shape[shape.length - 1] ?? 1;
  if (!label || width < 2) return randn(n, seed);
  const out = new Float32Array(n);
  for (let r = 0; r < n / width; r++) out[r * width + ((r * 7) % width)] = 1;
  return out;
}

/** Dispatches, compute passes and submits of one call, from the runner's own counter (WebGPU only). */
/** The profile of `reps` more calls (at least 3), kernel by kernel; undefined where the backend has no kernels to time. */
export async function profileCalls(p: Prepared, reps: number): Promise<ProfileReport | undefined> {
  if (!p.runner.startProfile) return undefined;
  const steps = Math.max(3, reps);
  const profiler = p.runner.startProfile(steps);
  for (let i = 0; i < steps; i++) await p.call();
  return profiler.report();
}

export async function countsOfCall(p: Prepared): Promise<{ dispatches: number | null; passes: number | null; submits: number | null }> {
  if (!(p.runner instanceof WebGpuRunner)) return { dispatches: null, passes: null, submits: null };
  const before = { ...p.runner.encoded };
  await p.call();
  const after = p.runner.encoded;
  return { dispatches: after.dispatches - before.dispatches, passes: after.passes - before.passes, submits: after.submits - before.submits };
}
