import { afterAll, describe, expect, it } from "vitest";
import { NetcError } from "../src/base/errors.js";
import { planOf } from "../src/codegen/plan.js";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape, type DimBindings } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { releaseGpu, sharedGpu } from "../src/runtime/device.js";
import { batches, initialParams } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { expectFiniteDifferences } from "./util/gradcheck.js";

// `compile(..., { read })`: gradients of the loss with respect to params and inputs, and lets
// (also inside block instances), read back from a step. Gradients are checked against central
// finite differences of the loss (f64 interpreter), and WebGPU against the CPU runner.

const program = `block Gate(width: int) {
  input x: f32[B, width]
  param s: f32[width] = normal(std = 0.5)
  g = sigmoid(x * s)
  output y = x * g
}

network mlp {
  input x: f32[B, 3]
  h1 = x |> fc1: dense(4, activation = tanh)
  h2 = h1 |> gate: Gate(4)
  output y = h2 |> fc2: dense(2)
}
train {
  loss = mse(y, t)
  optimizer = adam(lr = 0.01)
  epochs = 1
  data {
    x = [[0.5, -1, 2], [1, 0.25, -0.5], [-1.5, 1, 0.75]]
    t = [[0.3, -0.2], [0.9, 0.1], [-0.4, 0.5]]
  }
}`;

const READ = ["grad.fc1.weight", "grad.fc2.bias", "grad.gate.s", "grad.x", "h1", "gate.g", "loss"];

/** Every arg's value for a batch of 3: random params, the data columns, the step's hyper scalars. */
function environment(g: Graph, dims: DimBindings, data: { name: string; values: Float32Array }[]): Map<Value, Tensor> {
  const init = initialParams(g, dims, 7);
  // Biases start at zero; give them values so their gradients depend on them.
  for (const [k, v] of Object.entries(init)) if (k.endsWith("bias")) v.forEach((_, i) => (v[i] = 0.1 * (i + 1)));
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const src = init[a.arg!.name] ?? data.find((d) => d.name === a.arg!.name)?.values ?? Float32Array.of(1);
    env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(src) });
  }
  return env;
}

describe("reading gradients and lets", () => {
  for (const mode of ["train", "eval"] as const)
    it(`${mode}: each grad.NAME equals the finite difference of the loss; lets are the forward values`, () => {
      const c = compile(program, "mlp.net", { read: READ, mode, after: "autodiff" });
      expect(c.diagnostics.render()).toBe("");
      const g = c.graph!;
      const { dims } = bindBatch(g, 3);
      const env = environment(g, dims, c.train!.data);
      const run = () => interpret(g, env, { dims, precision: "f64" });
      const out = run();
      const value = (name: string) => out.get(g.outputs.find((o) => o.name === name)!.value)!;
      for (const name of READ.filter((n) => n.startsWith("grad."))) {
        const arg = g.argNamed(name.slice(5))!;
        const analytic = value(name);
        expect(analytic.shape).toEqual(concreteShape(arg.type.shape, dims));
        expectFiniteDifferences(g, env, dims, arg, analytic.data, name);
        expect(analytic.data.some((v) => Math.abs(v) > 1e-4), `${name} is not all zero`).toBe(true);
      }
      // h1 = tanh(x @ W + b), by hand.
      const x = env.get(g.argNamed("x")!)!.data;
      const w = env.get(g.argNamed("fc1.weight")!)!.data;
      const b = env.get(g.argNamed("fc1.bias")!)!.data;
      const h1 = value("h1").data;
      for (let r = 0; r < 3; r++)
        for (let j = 0; j < 4; j++) {
          let z = b[j]!;
          for (let i = 0; i < 3; i++) z += x[r * 3 + i]! * w[i * 4 + j]!;
          expect(h1[r * 4 + j]!).toBeCloseTo(Math.tanh(z), 9);
        }
      expect(value("gate.g").shape).toEqual([3, 4]);
      // Asking for gradients adds no optimizer work in evaluation, and changes none in training.
      if (mode === "eval") expect(g.grads).toEqual([]);
      else expect(g.grads.map((x) => x.param.arg!.name)).toEqual(g.params.map((p) => p.arg!.name));
    });

  it("training with reads updates the params exactly as without them", async () => {
    const plain = compile(program, "mlp.net");
    const reading = compile(program, "mlp.net", { read: READ });
    const { dims } = bindBatch(plain.graph!, 3);
    const init = initialParams(plain.graph!, dims, 3);
    const batch = batches(plain.train!.data, 3)[0]!;
    const hyper = { lr: Float32Array.of(0.01), "adam.bc1": Float32Array.of(10), "adam.bc2": Float32Array.of(1000) };
    const a = new CpuRunner(plain.graph!, dims, init);
    const b = new CpuRunner(reading.graph!, dims, init);
    for (let i = 0; i < 2; i++) {
      await a.run({ ...batch, ...hyper }, ["loss"]);
      const got = await b.run({ ...batch, ...hyper }, READ);
      expect(Object.keys(got).sort()).toEqual([...READ].sort());
      expect(got["grad.x"]!.length).toBe(9);
    }
    const [pa, pb] = [await a.params(), await b.params()];
    for (const name of Object.keys(pa)) expect(Array.from(pb[name]!)).toEqual(Array.from(pa[name]!));
  });

  it("an unknown name is a NetcError that lists what can be read", () => {
    const read = (names: string[], mode?: "train" | "eval" | "infer") => () => compile(program, "mlp.net", { read: names, mode });
    expect(read(["h3"])).toThrow(NetcError);
    expect(read(["h3"])).toThrow(
      'mlp has no value "h3" to read; did you mean `h1`? (readable: loss, y, h1, gate.g, h2, grad.x, grad.fc1.weight, grad.fc1.bias, grad.gate.s, grad.fc2.weight, grad.fc2.bias)',
    );
    expect(read(["grad.fc1.weights"])).toThrow("did you mean `grad.fc1.weight`?");
    expect(read(["grad.h1"])).toThrow('mlp has no value "grad.h1" to read');
    expect(read(["grad.x"], "infer")).toThrow('mlp: "grad.x" is a gradient of the loss, and mode "infer" has no loss (compile with mode "train" or "eval")');
    expect(read(["loss"], "infer")).toThrow('mlp has no value "loss" to read (readable: y, h1, gate.g, h2)');
    expect(() => compile("network n {\n  input x: f32[B, 2]\n  output y = x * 2\n}\n", "n.net", { read: ["grad.x"] })).toThrow(
      "the network has no training section with a loss",
    );
    // Lets are readable in inference too.
    const c = compile(program, "mlp.net", { read: ["h2"], mode: "infer" });
    expect(c.graph!.outputs.map((o) => o.name)).toEqual(["y", "h2"]);
  });
});

describe("reading gradients on WebGPU", () => {
  afterAll(async () => {
    const gpu = await sharedGpu();
    if (gpu) releaseGpu(gpu);
  });

  it("a training step's grads and lets match the CPU runner", async () => {
    const gpu = await sharedGpu();
    if (!gpu) throw new Error("no WebGPU adapter: run `npm run setup`");
    const c = compile(program, "mlp.net", { read: READ });
    const g = c.graph!;
    const { dims } = bindBatch(g, 3);
    const init = initialParams(g, dims, 5);
    const batch = batches(c.train!.data, 3)[0]!;
    const cpu = new CpuRunner(g, dims, init);
    const gpuRunner = await WebGpuRunner.create(gpu, planOf(g), dims, init);
    const hyper = { lr: Float32Array.of(0.01), "adam.bc1": Float32Array.of(10), "adam.bc2": Float32Array.of(1000) };
    const want = await cpu.run({ ...batch, ...hyper }, READ);
    const got = await gpuRunner.run({ ...batch, ...hyper }, READ);
    for (const name of READ) {
      expect(got[name]!.length, name).toBe(want[name]!.length);
      want[name]!.forEach((v, i) => expect(got[name]![i]!, `${name}[${i}]`).toBeCloseTo(v, 5));
    }
    gpuRunner.dispose();
    expect(gpu.errors).toEqual([]);
  });
});
