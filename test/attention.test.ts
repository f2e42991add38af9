import { planOf } from "../src/codegen/plan.js";
import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { sharedGpu } from "../src/runtime/device.js";
import { batches, initialParams } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";
import { expectParamGradients } from "./util/gradcheck.js";

// Multi-head attention lowers to batched matmuls, reshapes, transposes and a softmax. Checked
// against attention written out in JS, by finite differences, and WebGPU against the CPU runner.

const [B, T, D, H] = [2, 3, 4, 2];
const rand = rng(31);
const X = Array.from({ length: B }, () => Array.from({ length: T }, () => Array.from({ length: D }, () => 2 * rand() - 1)));

const program = `network a {
  input x: f32[B, ${T}, ${D}]
  output y = x |> attn: attention(${H})
}
train {
  loss = mean(y * y)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data { x = ${JSON.stringify(X)} }
}`;

function setup(after?: string) {
  const c = compile(program, "attn.net", { after });
  expect(c.diagnostics.render()).toBe("");
  const g = c.graph!;
  const { dims } = bindBatch(g, B);
  const init = initialParams(g, dims, 2);
  for (const [k, v] of Object.entries(init)) if (k.endsWith("bias")) v.forEach((_, i) => (v[i] = 0.05 * (i - 1)));
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const src = init[a.arg!.name] ?? c.train!.data.find((d) => d.name === a.arg!.name)?.values ?? Float32Array.of(0.1);
    env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(src) });
  }
  return { c, g, dims, init, env };
}

/** Attention in plain JS for one sequence (rows of xs are time steps). */
function reference(xs: number[][], p: Record<string, Float32Array>): number[][] {
  const proj = (name: string, rows: number[][]) =>
    rows.map((r) => Array.from({ length: D }, (_, j) => r.reduce((s, v, i) => s + Math.fround(v) * p[`attn.${name}_weight`]![i * D + j]!, 0) + p[`attn.${name}_bias`]![j]!));
  const [q, k, v] = ["query", "key", "value"].map((n) => proj(n, xs));
  const dh = D / H;
  const merged = xs.map(() => new Array<number>(D).fill(0));
  for (let h = 0; h < H; h++) {
    const cols = (m: number[][], t: number) => m[t]!.slice(h * dh, (h + 1) * dh);
    for (let t = 0; t < T; t++) {
      const s = Array.from({ length: T }, (_, u) => cols(q!, t).reduce((a, qv, i) => a + qv * cols(k!, u)[i]!, 0) / Math.sqrt(dh));
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, x) => a + x, 0);
      for (let i = 0; i < dh; i++) merged[t]![h * dh + i] = e.reduce((a, w, u) => a + (w / z) * cols(v!, u)[i]!, 0);
    }
  }
  return proj("out", merged);
}

describe("multi-head attention", () => {
  it("params, shape, and values against attention written out in JS", () => {
    const { g, dims, init, env } = setup("infer-shapes");
    expect(g.params.map((p) => p.arg!.name)).toEqual([
      "attn.query_weight", "attn.query_bias", "attn.key_weight", "attn.key_bias",
      "attn.value_weight", "attn.value_bias", "attn.out_weight", "attn.out_bias",
    ]);
    expect(g.outputs[0]!.value.type.shape).toEqual(["B", T, D]);
    const y = interpret(g, env, { dims, precision: "f64" }).get(g.outputs[0]!.value)!.data;
    X.flatMap((seq) => reference(seq, init).flat()).forEach((v, i) => expect(y[i]!).toBeCloseTo(v, 6));
  });

  it("gradients of every weight (finite differences, f64)", () => {
    const { g, dims, env } = setup("autodiff");
    expectParamGradients(g, env, dims);
  });

  it("heads must divide the features", () => {
    const c = compile(`network a {\n  input x: f32[B, 3, 5]\n  output y = x |> attention(2)\n}\n`, "a.net");
    expect(c.diagnostics.items.map((d) => `${d.code} ${d.message}`)).toEqual([
      "NC2030 `attention1`: 5 features cannot be split into 2 heads of equal size",
    ]);
  });

  it("one training step on WebGPU matches the CPU runner", async () => {
    const gpu = await sharedGpu();
    if (!gpu) throw new Error("no WebGPU adapter: run `npm run setup`");
    const c = compile(program, "attn.net");
    const g = c.graph!;
    const { dims } = bindBatch(g, B);
    const init = initialParams(g, dims, 2);
    const batch = { ...batches(c.train!.data, B)[0]!, lr: Float32Array.of(0.1) };
    const cpu = new CpuRunner(g, dims, init);
    const gpuRunner = await WebGpuRunner.create(gpu, planOf(g), dims, init);
    expect((await gpuRunner.step(batch, true))!).toBeCloseTo((await cpu.step(batch, true))!, 5);
    const [pc, pg] = [await cpu.params(), await gpuRunner.params()];
    for (const name of Object.keys(pc)) pc[name]!.forEach((v, i) => expect(pg[name]![i]!, `${name}[${i}]`).toBeCloseTo(v, 5));
    gpuRunner.dispose();
    expect(gpu.errors).toEqual([]);
  });
});
