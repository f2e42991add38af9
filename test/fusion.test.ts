import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { unfusedKernelCount } from "../src/ir/passes/fuse.js";
import { concreteShape } from "../src/ir/types.js";
import { initialParams } from "../src/runtime/train.js";
import { randomTensor, rng } from "./util/build.js";

const ROOT = join(import.meta.dirname, "..");
const load = (rel: string, after?: string) => {
  const c = compile(readFileSync(join(ROOT, rel), "utf8"), rel, { after });
  expect(c.diagnostics.render()).toBe("");
  return c;
};

/** Runs a graph on the CPU reference with seeded params and random batch data; values by print name. */
function runByName(g: Graph, batch: number): Map<string, Float64Array | Float32Array> {
  const { dims } = bindBatch(g, batch);
  const params = initialParams(g, dims, 1);
  const rand = rng(4);
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const shape = concreteShape(a.type.shape, dims);
    env.set(a, a.arg!.role === "param" ? { shape, data: Float64Array.from(params[a.arg!.name]!) } : randomTensor(shape, rand));
  }
  const out = interpret(g, env, { dims, precision: "f64" });
  const named = new Map<string, Float64Array | Float32Array>();
  g.outputs.forEach((o) => named.set(`out:${o.name}`, out.get(o.value)!.data));
  if (g.loss) named.set("loss", out.get(g.loss)!.data);
  g.grads.forEach((x) => named.set(`grad:${x.param.arg!.name}`, out.get(x.grad)!.data));
  g.updates.forEach((u) => named.set(`update:${u.param.arg!.name}`, out.get(u.value)!.data));
  return named;
}

describe("fusion", () => {
  for (const file of ["examples/xor.net", "test/golden/inputs/mlp-relu.net"]) {
    it(`${file}: fused and unfused graphs compute the same values on the CPU reference`, () => {
      const before = runByName(load(file, "simplify").graph!, 5);
      const after = runByName(load(file, "fuse").graph!, 5);
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [k, v] of before) expect([...after.get(k)!], k).toEqual([...v]);
    });
  }

  it("xor: fusion cuts the kernels of a training step", () => {
    const g = load("examples/xor.net").graph!;
    const kernels = g.kernels!;
    expect(kernels.length).toBeLessThan(unfusedKernelCount(g) / 2);
    // x@w1, h@w2 forward; g@w2ᵀ, hᵀ@g, xᵀ@g backward (x needs no gradient).
    expect(kernels.filter((k) => k.kind === "contraction").length).toBe(5);
    // Every kernel binds at most 8 storage buffers.
    for (const k of kernels) expect(k.inputs.length + 1).toBeLessThanOrEqual(8);
  });

  it("autodiff gives one gradient and one update per param", () => {
    const g = load("examples/xor.net").graph!;
    expect(g.grads.map((x) => x.param.arg!.name)).toEqual(["w1", "b1", "w2", "b2"]);
    expect(g.updates.map((x) => x.param.arg!.name)).toEqual(["w1", "b1", "w2", "b2"]);
  });
});
