import { planOf } from "../src/codegen/plan.js";
import { afterAll, describe, expect, it } from "vitest";
import { bindBatch, compile, type CompileOptions } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { hyperValues } from "../src/ir/training.js";
import { concreteShape, numel, type DimBindings } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { releaseGpu, requireSharedGpu, sharedGpu } from "../src/runtime/device.js";
import { batches, initialParams } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { expectParamGradients } from "./util/gradcheck.js";

// The CNN-era layers (conv2d, pooling, batchnorm, dropout, embedding, causal attention) lower to
// conv/pool/gather/rand/iota primitives. Checked against the layers written out in plain JS, by
// finite differences, in training and inference mode, and WebGPU against the CPU runner.

const rand = rng(5);
const randoms = (n: number, scale = 1) => Array.from({ length: n }, () => scale * (2 * rand() - 1));
/** A nested array of the given shape filled from `values`, for data literals. */
function nest(values: number[], shape: number[]): unknown {
  if (shape.length === 1) return values.slice(0, shape[0]);
  const size = numel(shape.slice(1));
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.slice(i * size, (i + 1) * size), shape.slice(1)));
}

interface Built {
  g: Graph;
  dims: DimBindings;
  env: Map<Value, Tensor>;
  init: Record<string, Float32Array>;
  data: Record<string, Float32Array>;
}

/** Compiles `src`, binds batch `b`, fills params from the seed and per-step args from the data columns. */
function build(src: string, b: number, opts: CompileOptions = {}, precision: "f32" | "f64" = "f64"): Built {
  const c = compile(src, "layers.net", opts);
  expect(c.diagnostics.render()).toBe("");
  const g = c.graph!;
  const { dims } = bindBatch(g, b);
  const init = initialParams(g, dims, 3);
  const data = { ...batches(c.train!.data, b)[0]!, ...Object.fromEntries(Object.entries(hyperValues(c.train!, 0)).map(([k, v]) => [k, Float32Array.of(v)])) };
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const src = init[a.arg!.name] ?? data[a.arg!.name];
    if (!src) throw new Error(`no value for ${a.arg!.name}`);
    const shape = concreteShape(a.type.shape, dims);
    env.set(a, { shape, data: precision === "f64" ? Float64Array.from(src) : Float32Array.from(src) });
  }
  return { g, dims, env, init, data };
}

const output = (b: Built, name: string) => {
  const out = interpret(b.g, b.env, { dims: b.dims, precision: "f64" });
  return out.get(b.g.outputs.find((o) => o.name === name)!.value)!;
};

const train = (loss: string, data: Record<string, unknown>) => `
train {
  loss = ${loss}
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data { ${Object.entries(data).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")} }
}`;

describe("conv2d and pooling layers", () => {
  const [N, C, H, W, F] = [2, 2, 6, 5, 3];
  const X = randoms(N * C * H * W);
  const program = (layer: string) => `network n {
  input x: f32[B, ${C}, ${H}, ${W}]
  output y = x |> ${layer}
}${train("mean(y * y)", { x: nest(X, [N, C, H, W]) })}`;

  it("conv2d with stride 2, same padding, bias and relu matches a direct loop", () => {
    const b = build(program("c: conv2d(3, [3, 2], stride = 2, padding = same, activation = relu)"), N);
    const y = output(b, "y");
    const [OH, OW] = [Math.ceil(H / 2), Math.ceil(W / 2)];
    expect(y.shape).toEqual([N, F, OH, OW]);
    const w = b.init["c.weight"]!;
    const bias = b.init["c.bias"]!;
    // TensorFlow's SAME: total padding (out-1)*stride + k - in, the odd one after.
    const [padTop, padLeft] = [Math.floor(Math.max((OH - 1) * 2 + 3 - H, 0) / 2), Math.floor(Math.max((OW - 1) * 2 + 2 - W, 0) / 2)];
    for (let n = 0; n < N; n++)
      for (let f = 0; f < F; f++)
        for (let i = 0; i < OH; i++)
          for (let j = 0; j < OW; j++) {
            let s = bias[f]!;
            for (let c = 0; c < C; c++)
              for (let ki = 0; ki < 3; ki++)
                for (let kj = 0; kj < 2; kj++) {
                  const [r, q] = [i * 2 + ki - padTop, j * 2 + kj - padLeft];
                  if (r < 0 || r >= H || q < 0 || q >= W) continue;
                  s += Math.fround(X[((n * C + c) * H + r) * W + q]!) * w[((f * C + c) * 3 + ki) * 2 + kj]!;
                }
            expect(y.data[((n * F + f) * OH + i) * OW + j]!).toBeCloseTo(Math.max(s, 0), 6);
          }
  });

  it("maxpool2d(2) and avgpool2d(2) take the max and mean of each 2x2 window, dropping the odd edge", () => {
    for (const [layer, f] of [
      ["maxpool2d(2)", (xs: number[]) => Math.max(...xs)],
      ["avgpool2d(2)", (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length],
    ] as const) {
      const y = output(build(program(layer), N), "y");
      expect(y.shape).toEqual([N, C, 3, 2]);
      for (let p = 0; p < N * C; p++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 2; j++) {
            const win = [0, 1].flatMap((di) => [0, 1].map((dj) => Math.fround(X[(p * H + 2 * i + di) * W + 2 * j + dj]!)));
            expect(y.data[(p * 3 + i) * 2 + j]!).toBeCloseTo(f(win), 6);
          }
    }
  });

  it("a small CNN's gradients match finite differences", () => {
    const src = `network n {
  input x: f32[B, ${C}, ${H}, ${W}]
  output y = x |> c1: conv2d(3, 3, padding = 1, activation = tanh) |> maxpool2d(2) |> c2: conv2d(2, 2, dilation = 1) |> avgpool2d(2, padding = 1) |> flatten |> d: dense(2)
}${train("mean(y * y)", { x: nest(X, [N, C, H, W]) })}`;
    const b = build(src, N, { after: "autodiff" });
    expectParamGradients(b.g, b.env, b.dims, 5);
  });
});

describe("batchnorm", () => {
  const [N, C, L] = [4, 3, 5];
  const X = randoms(N * C * L, 3).map((x, i) => x + (Math.floor(i / L) % C)); // channels with different means
  const program = `network n {
  input x: f32[B, ${C}, ${L}]
  output y = x |> bn: batchnorm(momentum = 0.2)
}${train("mean(y * y * y)", { x: nest(X, [N, C, L]) })}`;

  it("training normalises each channel by the batch statistics and moves the running statistics", () => {
    const b = build(program, N);
    const out = interpret(b.g, b.env, { dims: b.dims, precision: "f64" });
    const y = out.get(b.g.outputs[0]!.value)!;
    for (let c = 0; c < C; c++) {
      const vals: number[] = [];
      for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) vals.push(y.data[(n * C + c) * L + l]!);
      const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
      const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / vals.length;
      expect(mean).toBeCloseTo(0, 6);
      expect(variance).toBeCloseTo(1, 3); // eps = 1e-5 in the denominator
    }
    const names = b.g.updates.map((u) => u.param.arg!.name).sort();
    expect(names).toEqual(["bn.beta", "bn.gamma", "bn.running_mean", "bn.running_var"]);
    const rm = out.get(b.g.updates.find((u) => u.param.arg!.name === "bn.running_mean")!.value)!;
    const rv = out.get(b.g.updates.find((u) => u.param.arg!.name === "bn.running_var")!.value)!;
    for (let c = 0; c < C; c++) {
      const vals: number[] = [];
      for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) vals.push(Math.fround(X[(n * C + c) * L + l]!));
      const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
      const unbiased = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / (vals.length - 1);
      expect(rm.data[c]!).toBeCloseTo(0.2 * mean, 6);
      expect(rv.data[c]!).toBeCloseTo(0.8 + 0.2 * unbiased, 6);
    }
  });

  it("inference uses the running statistics and updates nothing", () => {
    const b = build(program, N, { mode: "infer" });
    expect(b.g.updates).toEqual([]);
    const y = output(b, "y");
    // Fresh running statistics are mean 0, variance 1: y = x / sqrt(1 + eps).
    y.data.forEach((v, i) => expect(v).toBeCloseTo(Math.fround(X[i]!) / Math.sqrt(1 + 1e-5), 6));
  });

  it("gradients through the batch statistics match finite differences", () => {
    const b = build(program, N, { after: "autodiff" });
    expectParamGradients(b.g, b.env, b.dims, 5);
  });
});

describe("dropout", () => {
  const [N, D] = [8, 64];
  const program = (rate: number) => `network n {
  input x: f32[B, ${D}]
  output y = x |> drop: dropout(${rate})
}${train("mean(y)", { x: nest(new Array(N * D).fill(1), [N, D]) })}`;

  it("zeroes about `rate` of the elements in training and scales the rest by 1/(1 - rate)", () => {
    const b = build(program(0.25), N);
    const y = output(b, "y");
    const zeros = y.data.filter((v) => v === 0).length / y.data.length;
    expect(zeros).toBeGreaterThan(0.18);
    expect(zeros).toBeLessThan(0.32);
    for (const v of y.data) if (v !== 0) expect(v).toBeCloseTo(1 / 0.75, 6);
  });

  it("draws a new mask each step (the seed is a per-step scalar) and repeats it for the same step", () => {
    const b = build(program(0.5), N);
    const seed = b.g.argNamed("step.seed")!;
    const mask = (s: number) => {
      b.env.set(seed, { shape: [], data: Float64Array.of(s) });
      return Array.from(output(b, "y").data);
    };
    expect(mask(11)).toEqual(mask(11));
    expect(mask(11)).not.toEqual(mask(12));
  });

  it("is the identity in inference", () => {
    const b = build(program(0.5), N, { mode: "infer" });
    expect(b.g.nodes.some((n) => n.op === "rand")).toBe(false);
    expect(Array.from(output(b, "y").data).every((v) => v === 1)).toBe(true);
  });
});

describe("embedding", () => {
  const ids = [
    [0, 3, 3],
    [4, 1, 0],
  ];
  const program = `network n {
  input ids: i32[B, 3]
  output y = ids |> emb: embedding(5, 2)
}${train("mean(y * y * y)", { ids })}`;

  it("looks up rows of its table", () => {
    const b = build(program, 2);
    const y = output(b, "y");
    expect(y.shape).toEqual([2, 3, 2]);
    const w = b.init["emb.weight"]!;
    ids.flat().forEach((id, k) => {
      expect(y.data[2 * k]!).toBeCloseTo(w[2 * id]!, 7);
      expect(y.data[2 * k + 1]!).toBeCloseTo(w[2 * id + 1]!, 7);
    });
  });

  it("its gradient adds up the rows used (repeated ids twice), matching finite differences", () => {
    const b = build(program, 2, { after: "autodiff" });
    expectParamGradients(b.g, b.env, b.dims, 6);
  });
});

describe("causal attention", () => {
  const [N, T, D] = [1, 4, 4];
  const X = randoms(N * T * D);
  const program = `network n {
  input x: f32[B, ${T}, ${D}]
  output y = x |> attn: attention(2, causal = true)
}${train("mean(y * y)", { x: nest(X, [N, T, D]) })}`;

  it("step t does not see later steps", () => {
    const b = build(program, N);
    const before = Array.from(output(b, "y").data);
    const x = b.env.get(b.g.argNamed("x")!)!;
    for (let k = 2 * D; k < T * D; k++) x.data[k] = x.data[k]! + 1; // change steps 2 and 3
    const after = Array.from(output(b, "y").data);
    expect(after.slice(0, 2 * D)).toEqual(before.slice(0, 2 * D));
    expect(after.slice(2 * D)).not.toEqual(before.slice(2 * D));
  });
});

describe("a CNN training step on WebGPU", () => {
  afterAll(async () => {
    const gpu = await sharedGpu();
    if (gpu) releaseGpu(gpu);
  });
  const [N, C, H, W] = [3, 1, 9, 7];
  const X = randoms(N * C * H * W);
  const labels = [
    [1, 0, 0],
    [0, 0, 1],
    [0, 1, 0],
  ];
  const src = `network n {
  input x: f32[B, ${C}, ${H}, ${W}]
  output logits = x
    |> c1: conv2d(4, 3, padding = same, use_bias = false)
    |> bn: batchnorm
    |> relu
    |> maxpool2d(2, ceil = true)
    |> drop: dropout(0.3)
    |> flatten
    |> out: dense(3)
}
train {
  loss = cross_entropy(logits, labels)
  optimizer = adam(lr = 0.01)
  epochs = 1
  data { x = ${JSON.stringify(nest(X, [N, C, H, W]))}
         labels = ${JSON.stringify(labels)} }
}`;

  it("matches the CPU runner: loss, every param and the batchnorm statistics after two steps", async () => {
    const c = compile(src, "cnn.net");
    expect(c.diagnostics.render()).toBe("");
    const g = c.graph!;
    const { dims } = bindBatch(g, N);
    const init = initialParams(g, dims, 4);
    const gpu = await WebGpuRunner.create(await requireSharedGpu(), planOf(g), dims, init);
    const cpu = new CpuRunner(g, dims, init);
    for (let step = 0; step < 2; step++) {
      const hyper = Object.fromEntries(Object.entries(hyperValues(c.train!, step)).map(([k, v]) => [k, Float32Array.of(v)]));
      const batch = { ...batches(c.train!.data, N)[0]!, ...hyper };
      const [lc, lg] = [await cpu.step(batch, true), await gpu.step(batch, true)];
      expect(lg!).toBeCloseTo(lc!, 4);
    }
    const [pc, pg] = [await cpu.params(), await gpu.params()];
    for (const name of Object.keys(pc)) pc[name]!.forEach((v, i) => expect(pg[name]![i]!, `${name}[${i}]`).toBeCloseTo(v, 4));
    gpu.dispose();
  });
});
