import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { DEFAULT_CODEGEN, forAdapter } from "../src/codegen/wgsl.js";
import { bindBatch, compile } from "../src/compile.js";
import { hyperValues } from "../src/ir/training.js";
import { concreteShape, numel } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { requireSharedGpu } from "../src/runtime/device.js";
import { initialParams } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";

// One training step of each network whose kernels fusion reshapes most (relu as a matmul epilogue,
// reductions with epilogues, the cross-entropy's kernels, the optimizer's updates): WebGPU's fused
// kernels against the CPU reference interpreting the graph node by node. Loss and every updated
// param and optimizer moment must agree up to float rounding.

const MLP = (optimizer: string) => `network mlp {
  input x: f32[B, 784]
  input y: f32[B, 10]
  output logits = x |> l1: dense(256, activation = relu) |> l2: dense(256, activation = relu) |> l3: dense(10)
}
train {
  loss = cross_entropy(logits, y)
  optimizer = ${optimizer}
  epochs = 1
  batch = 128
}
`;

const example = (file: string) => readFileSync(join(import.meta.dirname, "..", "examples", file), "utf8");
/** Name, source, and the relative error allowed in each state value (a few with their own). */
// The last field: compile with the codegen for the shared device's adapter (forAdapter: implicit
// GEMMs sharing loads across subgroups where it has them) instead of the portable defaults.
const CASES: [string, () => string, number, Record<string, number>?, boolean?][] = [
  ["mlp 784-256-256-10, sgd", () => MLP("sgd(lr = 0.01)"), 2e-3],
  ["mlp 784-256-256-10, adam", () => MLP("adam(lr = 0.001)"), 2e-3],
  // Each velocity is written by the kernel updating its param (an extra output).
  ["mlp 784-256-256-10, sgd with momentum", () => MLP("sgd(lr = 0.01, momentum = 0.9)"), 2e-3],
  ["examples/iris.net", () => example("iris.net"), 2e-3],
  ["examples/mnist-cnn.net", () => example("mnist-cnn.net"), 2e-3],
  ["examples/mnist-cnn.net, codegen for the adapter", () => example("mnist-cnn.net"), 2e-3, undefined, true],
  ["examples/fashion-cnn2.net, codegen for the adapter", () => example("fashion-cnn2.net"), 2e-3, undefined, true],
  // NOTE: a bias added to every key leaves each query's softmax as it was, so the keys' biases have
  // a zero gradient in exact arithmetic; Adam turns its rounding noise into full steps of lr.
  ["examples/transformer-encoder.net", () => example("transformer-encoder.net"), 2e-3, { "layers.0.attn.key_bias": 1, "layers.1.attn.key_bias": 1 }],
  // 32 time steps of rounding in the recurrent weight's gradient (as before fusion changed).
  ["examples/char-lstm.net", () => example("char-lstm.net"), 5e-3],
];
const ROWS = 4;

describe("one training step on WebGPU matches the CPU reference", () => {
  for (const [name, source, tol, own, adapter] of CASES) {
    it(name, async () => {
      const c = compile(source(), name);
      expect(c.diagnostics.render()).toBe("");
      const g = c.graph!;
      const { dims } = bindBatch(g, ROWS);
      const init = initialParams(g, dims, 5);
      const rand = rng(9);
      const batch: Record<string, Float32Array> = {};
      for (const a of g.args) {
        const role = a.arg!.role;
        if (role !== "input" && role !== "label") continue;
        const shape = concreteShape(a.type.shape, dims);
        const n = numel(shape);
        // Ids index small vocabularies; class targets are rows of probabilities (one-hot-like).
        if (a.type.dtype === "i32") batch[a.arg!.name] = Float32Array.from({ length: n }, () => Math.floor(rand() * 3));
        else if (role === "label" && shape.length === 2) {
          const w = shape[1]!;
          batch[a.arg!.name] = Float32Array.from({ length: n }, (_, i) => (i % w === Math.floor(i / w) % w ? 1 : 0));
        } else batch[a.arg!.name] = Float32Array.from({ length: n }, () => 2 * rand() - 1);
      }
      for (const [k, v] of Object.entries(hyperValues(c.train!, 0))) batch[k] = Float32Array.of(v);
      const device = await requireSharedGpu();
      const plan = adapter ? planOf(g, { codegen: forAdapter(DEFAULT_CODEGEN, device.subgroupSize) }) : planOf(g);
      const gpu = await WebGpuRunner.create(device, plan, dims, init);
      const cpu = new CpuRunner(g, dims, init);
      try {
        const [want, got] = [await cpu.run(batch, ["loss"]), await gpu.run(batch, ["loss"])];
        expect(got["loss"]![0]!).toBeCloseTo(want["loss"]![0]!, 4);
        const [after, gotAfter] = [await cpu.state(), await gpu.state()];
        expect(Object.keys(gotAfter).sort()).toEqual(Object.keys(after).sort());
        for (const [k, v] of Object.entries(after)) {
          const w = gotAfter[k]!;
          let worst = 0;
          for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(w[i]! - v[i]!) / Math.max(1e-2, Math.abs(v[i]!)));
          expect(worst, `${name}: ${k}`).toBeLessThan(own?.[k] ?? tol);
        }
      } finally {
        gpu.dispose();
      }
    }, 300_000);
  }
});
