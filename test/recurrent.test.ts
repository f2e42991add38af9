import { planOf } from "../src/codegen/plan.js";
import { afterAll, describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { releaseGpu, sharedGpu } from "../src/runtime/device.js";
import { batches, initialParams } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { expectParamGradients } from "./util/gradcheck.js";

// Recurrent layers lower to primitives (an unrolled time loop). Checked against a plain JS cell,
// by finite differences, and WebGPU against the CPU reference for a whole training step.

const T = 3;
const F = 2;
const U = 2;
const rand = rng(21);
const X = [0, 1].map(() => Array.from({ length: T }, () => Array.from({ length: F }, () => 2 * rand() - 1)));
const TARGET = [[0.5, -0.5], [-0.2, 0.3]];

/** `gru-v1` is the GRU with `reset_after = false`. */
const layerCall = (kind: string) => (kind === "gru-v1" ? `gru(${U}, reset_after = false` : `${kind}(${U}`);

const program = (layer: string, seq = false) => `network r {
  input x: f32[B, ${T}, ${F}]
  output y = x |> cell: ${layerCall(layer)}${seq ? ", return_sequences = true" : ""})
}
train {
  loss = ${seq ? "mean(y * y)" : "mse(y, t)"}
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data {
    x = ${JSON.stringify(X)}
    t = ${JSON.stringify(TARGET)}
  }
}`;

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** h·W for a row vector h and a [n, m] row-major W. */
const vecMat = (h: number[], w: Float32Array | number[], m: number) =>
  Array.from({ length: m }, (_, j) => h.reduce((s, hv, i) => s + hv * w[i * m + j]!, 0));

/** The JS reference: the last state of each sequence. */
function reference(kind: string, p: Record<string, Float32Array>): number[][] {
  const wx = p["cell.input_weight"]!;
  const wh = p["cell.recurrent_weight"]!;
  const b = p["cell.bias"]!;
  const bh = p["cell.recurrent_bias"];
  const gates = kind === "lstm" ? 4 : kind.startsWith("gru") ? 3 : 1;
  return X.map((seq) => {
    let h = new Array<number>(U).fill(0);
    let c = new Array<number>(U).fill(0);
    for (const xt of seq) {
      const xz = vecMat(xt, wx, gates * U).map((v, j) => v + b[j]!);
      const hz = vecMat(h, wh, gates * U);
      const g = (k: number, src: number[]) => src.slice(k * U, (k + 1) * U);
      if (kind === "rnn") h = xz.map((v, j) => Math.tanh(v + hz[j]!));
      else if (kind === "lstm") {
        const z = xz.map((v, j) => v + hz[j]!);
        const [i, f, gg, o] = [0, 1, 2, 3].map((k) => g(k, z));
        c = c.map((cv, j) => sig(f![j]!) * cv + sig(i![j]!) * Math.tanh(gg![j]!));
        h = c.map((cv, j) => sig(o![j]!) * Math.tanh(cv));
      } else if (kind === "gru") {
        // PyTorch's GRU: gates r, z, n; the reset gate scales the recurrent term with its bias.
        const hb = hz.map((v, j) => v + bh![j]!);
        const r = g(0, xz).map((v, j) => sig(v + g(0, hb)[j]!));
        const zg = g(1, xz).map((v, j) => sig(v + g(1, hb)[j]!));
        const n = g(2, xz).map((v, j) => Math.tanh(v + r[j]! * g(2, hb)[j]!));
        h = h.map((hv, j) => (1 - zg[j]!) * n[j]! + zg[j]! * hv);
      } else {
        // reset_after = false: the reset gate scales h before its matmul; no recurrent bias.
        const r = g(0, xz).map((v, j) => sig(v + g(0, hz)[j]!));
        const zg = g(1, xz).map((v, j) => sig(v + g(1, hz)[j]!));
        const rh = h.map((hv, j) => r[j]! * hv);
        const wn = Array.from({ length: U * U }, (_, k) => wh[Math.floor(k / U) * 3 * U + 2 * U + (k % U)]!);
        const n = g(2, xz).map((v, j) => Math.tanh(v + vecMat(rh, wn, U)[j]!));
        h = h.map((hv, j) => (1 - zg[j]!) * n[j]! + zg[j]! * hv);
      }
    }
    return h;
  });
}

function setup(text: string, after?: string) {
  const c = compile(text, "rec.net", { after });
  expect(c.diagnostics.render()).toBe("");
  const g = c.graph!;
  const { dims } = bindBatch(g, 2);
  const init = initialParams(g, dims, 4);
  // Biases start at zero; give them values so the test sees them.
  for (const [k, v] of Object.entries(init)) if (k.endsWith("bias")) v.forEach((_, i) => (v[i] = (k.endsWith("recurrent_bias") ? -0.05 : 0.1) * (i + 1)));
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const shape = concreteShape(a.type.shape, dims);
    const src = init[a.arg!.name] ?? c.train!.data.find((d) => d.name === a.arg!.name)?.values ?? Float32Array.of(0.1);
    env.set(a, { shape, data: Float64Array.from(src) });
  }
  return { c, g, dims, init, env };
}

describe("recurrent layers", () => {
  for (const kind of ["rnn", "lstm", "gru", "gru-v1"]) {
    it(`${kind}: params, output shapes, and values against a plain JS cell`, () => {
      const { g, dims, init, env } = setup(program(kind), "infer-shapes");
      const gates = { rnn: 1, lstm: 4, gru: 3, "gru-v1": 3 }[kind]!;
      expect(g.params.map((p) => `${p.arg!.name}: [${p.type.shape}]`)).toEqual([
        `cell.input_weight: [${F},${gates * U}]`,
        `cell.bias: [${gates * U}]`,
        `cell.recurrent_weight: [${U},${gates * U}]`,
        ...(kind === "gru" ? [`cell.recurrent_bias: [${gates * U}]`] : []),
      ]);
      expect(g.outputs[0]!.value.type.shape).toEqual(["B", U]);
      const y = interpret(g, env, { dims, precision: "f64" }).get(g.outputs[0]!.value)!.data;
      reference(kind, init).flat().forEach((v, i) => expect(y[i]!).toBeCloseTo(v, 6));
    });

    it(`${kind}: gradient of the loss through time (finite differences, f64)`, () => {
      const { g, dims, env } = setup(program(kind, true), "autodiff");
      expect(g.outputs[0]!.value.type.shape).toEqual(["B", T, U]);
      expectParamGradients(g, env, dims);
    });
  }

  it("an unknown sequence length is an error at the layer", () => {
    const c = compile("network r {\n  input x: f32[B, T, 3]\n  output y = x |> lstm(4)\n}\n", "t.net");
    expect(c.diagnostics.items.map((d) => `${d.code} ${d.message}`)).toEqual([
      "NC2029 `lstm1` unrolls over time, so the sequence length must be a number, got T",
    ]);
  });
});

describe("recurrent layers on WebGPU", () => {
  afterAll(async () => {
    const gpu = await sharedGpu();
    if (gpu) releaseGpu(gpu);
  });
  for (const kind of ["lstm", "gru", "gru-v1"])
    it(`${kind}: one training step matches the CPU runner`, async () => {
      const gpu = await sharedGpu();
      if (!gpu) throw new Error("no WebGPU adapter: run `npm run setup`");
      const c = compile(program(kind), "rec.net");
      const g = c.graph!;
      const { dims } = bindBatch(g, 2);
      const init = initialParams(g, dims, 4);
      const batch = { ...batches(c.train!.data, 2)[0]!, lr: Float32Array.of(0.1) };
      const cpu = new CpuRunner(g, dims, init);
      const gpuRunner = await WebGpuRunner.create(gpu, planOf(g), dims, init);
      const lossCpu = await cpu.step(batch, true);
      const lossGpu = await gpuRunner.step(batch, true);
      expect(lossGpu!).toBeCloseTo(lossCpu!, 5);
      const [pc, pg] = [await cpu.params(), await gpuRunner.params()];
      for (const name of Object.keys(pc)) pc[name]!.forEach((v, i) => expect(pg[name]![i]!, `${name}[${i}]`).toBeCloseTo(v, 5));
      gpuRunner.dispose();
      expect(gpu.errors).toEqual([]);
    });
});
