import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { autodiff } from "../src/ir/passes/autodiff.js";
import { fuse, unfusedKernelCount } from "../src/ir/passes/fuse.js";
import { concreteShape } from "../src/ir/types.js";
import { initialParams } from "../src/runtime/train.js";
import { ctx, graphWith, randomTensor, rng } from "./util/build.js";

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

  it("an MLP 784-256-256-10 SGD step with softmax cross-entropy: 11 kernels, the loss one row kernel", () => {
    const source = `network mlp {
  input x: f32[B, 784]
  input y: f32[B, 10]
  output logits = x |> l1: dense(256, activation = relu) |> l2: dense(256, activation = relu) |> l3: dense(10)
}
train {
  loss = cross_entropy(logits, y)
  optimizer = sgd(lr = 0.01)
  epochs = 1
  batch = 128
}
`;
    const c = compile(source, "mlp.net");
    expect(c.diagnostics.render()).toBe("");
    const kernels = c.graph!.kernels!;
    const ops = kernels.map((k) => k.nodes.filter((n) => n.op !== "broadcast").map((n) => n.op).join(" "));
    // Forward: relu is the matmul's epilogue (its gradient mask reads its result).
    expect(ops.slice(0, 3)).toEqual(["matmul add max", "matmul add max", "matmul add"]);
    // Each weight's SGD update is the epilogue of its matmul.
    expect(ops.filter((o) => o === "matmul mul sub").length).toBe(3);
    // The loss and its gradient over the logits' rows: the max, the sum of exps, each row's
    // cross-entropy, the sum of the labels' gradient and the logits' gradient, one thread a row.
    const rows = kernels.filter((k) => k.kind === "row");
    const loss = rows.find((k) => k.nodes.some((n) => n.op === "max_reduce"))!;
    expect(loss.nodes.filter((n) => n.op === "sum" || n.op === "max_reduce").length).toBe(4);
    expect(loss.nodes.some((n) => n.op === "exp")).toBe(true);
    // The two hidden biases' gradient sums (over the same [B, 256] columns) share a row kernel;
    // the loss's mean and the last bias's gradient sum are segments of one multi kernel.
    expect(rows.filter((k) => k !== loss).map((k) => k.nodes.filter((n) => n.op === "sum").length)).toEqual([2]);
    const multi = kernels.filter((k) => k.kind === "multi");
    expect(multi.map((k) => k.nodes.filter((n) => n.op !== "broadcast").map((n) => n.op).join(" "))).toEqual(["mean neg sum mul sub"]);
    // Only the loss is a scalar result (-1/B, the mean's gradient, is computed where it is read).
    expect(kernels.flatMap((k) => [k.output, ...(k.extraOutputs ?? [])]).filter((v) => v.type.shape.length === 0)).toEqual([c.graph!.loss]);
    expect(kernels.length).toBe(11);
  });

  it("autodiff gives one gradient and one update per param", () => {
    const g = load("examples/xor.net").graph!;
    expect(g.grads.map((x) => x.param.arg!.name)).toEqual(["w1", "b1", "w2", "b2"]);
    expect(g.updates.map((x) => x.param.arg!.name)).toEqual(["w1", "b1", "w2", "b2"]);
  });

  it("conv -> add bias -> relu is one window kernel, computing what the unfused graph does", () => {
    const { g, b, args } = graphWith([["B", 3, 7, 9], [5, 3, 3, 2], [5, 1, 1]], "input");
    const [x, w, bias] = args as [Value, Value, Value];
    const y = b.op("max", [b.add(b.op("conv", [x, w], { strides: [2, 2], pads: [1, 0, 2, 1] }), bias), b.const(0)]);
    g.outputs = [{ name: "y", value: y }];
    const fused = fuse(g, ctx());
    expect(fused.kernels!.map((k) => [k.kind, k.nodes.map((n) => n.op)])).toEqual([["window", ["conv", "add", "max"]]]);
    expect(fused.kernels![0]!.inputs.map((v) => v.arg!.name)).toEqual(["p0", "p1", "p2"]);
    const dims = { B: 2 };
    const rand = rng(3);
    const env = new Map<Value, Tensor>(args.map((a) => [a, randomTensor(concreteShape(a.type.shape, dims), rand)]));
    const want = interpret(g, env, { dims, precision: "f64" }).get(y)!.data;
    const fusedEnv = new Map([...env].map(([a, v]) => [fused.args[g.args.indexOf(a)]!, v]));
    expect([...interpret(fused, fusedEnv, { dims, precision: "f64" }).get(fused.outputs[0]!.value)!.data]).toEqual([...want]);
  });

  it("a conv net's training step: window ops head their kernels, their operands stay outside, values unchanged", () => {
    const { g, b, args } = graphWith([[2, 3, 8, 8], [4, 3, 3, 3], [4, 1, 1], [2, 4, 3, 3], [2]], "param");
    const [x, w, bias, t, seed] = args as [Value, Value, Value, Value, Value];
    const h = b.op("max", [b.add(b.op("conv", [x, w], { pads: [1, 1, 1, 1] }), bias), b.const(0)]);
    const p = b.op("pool", [h], { mode: "max", kernel: [3, 3], strides: [3, 3], ceil: true });
    const keep = b.op("select", [b.op("lt", [b.op("rand", [b.op("slice", [seed], { starts: [0], ends: [1] })], { shape: [2, 4, 3, 3] }), b.const(0.2)]), b.const(0), b.const(1.25)]);
    g.loss = b.op("sum", [b.mul(b.sub(b.mul(p, keep), t), b.sub(b.mul(p, keep), t))], {});
    const dg = autodiff(g, ctx());
    const fused = fuse(dg, ctx());
    const heads = fused.kernels!.filter((k) => k.kind === "window").map((k) => k.nodes[0]!.op).sort();
    expect(heads).toEqual(["conv", "conv_grad_input", "conv_grad_weight", "pool", "pool_grad"]);
    for (const k of fused.kernels!) {
      expect(k.inputs.length + 1).toBeLessThanOrEqual(8);
      // Nothing inside a kernel feeds a window op's operands.
      const inside = new Set(k.nodes.map((n) => n.out));
      for (const n of k.nodes) if (n.op === "conv" || n.op === "pool" || n.op === "rand") expect(n.inputs.some((v) => inside.has(v))).toBe(false);
    }
    const rand = rng(8);
    const env = new Map<Value, Tensor>(dg.args.map((a) => [a, randomTensor(a.type.shape as number[], rand)]));
    const before = interpret(dg, env, { dims: {}, precision: "f64" });
    const after = interpret(fused, new Map([...env].map(([a, v]) => [fused.args[dg.args.indexOf(a)]!, v])), { dims: {}, precision: "f64" });
    dg.grads.forEach((gr, i) => expect([...after.get(fused.grads[i]!.grad)!.data]).toEqual([...before.get(gr.grad)!.data]));
  });
});
