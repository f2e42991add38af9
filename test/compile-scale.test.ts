import { describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { bindBatch, compile, type Compiled } from "../src/compile.js";
import { MAX_NESTING } from "../src/frontend/nesting.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { printGraph } from "../src/ir/print.js";
import { concreteShape } from "../src/ir/types.js";
import { initialParams } from "../src/runtime/train.js";
import { randomTensor, rng } from "./util/build.js";

// Programs far longer than anyone writes by hand (generated ones are not): every stage must walk
// them without recursing on their length and give what a short equivalent gives. Timings are in
// bench/compile.mjs, not here.

const TRAIN = `
train {
  loss = mse(y, target)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  batch = 3
  data {
    x = [[1, -2, 3, -4], [0.5, 0.25, -1, 2], [-3, 1, 1, 0]]
    target = [[0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 0, 0]]
  }
}
`;

function compiled(text: string): Compiled {
  const c = compile(text, "scale.net");
  expect(c.diagnostics.render()).toBe("");
  return c;
}

/** One training step's values on the CPU reference (f64): loss, gradients, updates, outputs. */
function step(g: Graph): Map<string, number[]> {
  const { dims } = bindBatch(g, 3);
  const params = initialParams(g, dims, 7);
  const rand = rng(11);
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const shape = concreteShape(a.type.shape, dims);
    const data = a.arg!.role === "hyper" ? new Float64Array([0.1]) : a.arg!.role === "param" || a.arg!.role === "state" ? Float64Array.from(params[a.arg!.name]!) : randomTensor(shape, rand).data;
    env.set(a, { shape, data });
  }
  const out = interpret(g, env, { dims, precision: "f64" });
  const named = new Map<string, number[]>();
  g.outputs.forEach((o) => named.set(`out:${o.name}`, [...out.get(o.value)!.data]));
  if (g.loss) named.set("loss", [...out.get(g.loss)!.data]);
  g.grads.forEach((x) => named.set(`grad:${x.param.arg!.name}`, [...out.get(x.grad)!.data]));
  g.updates.forEach((u) => named.set(`update:${u.param.arg!.name}`, [...out.get(u.value)!.data]));
  return named;
}

describe("compiling at scale", () => {
  it("a 3,000-layer |> chain trains like its one layer (relu after relu is relu, gradient masks included)", () => {
    const chain = (n: number) => `network n {\n  input x: f32[B, 4]\n  param w: f32[4] = normal(std = 1)\n  output y = x * w\n${"    |> relu()\n".repeat(n)}}\n${TRAIN}`;
    const long = compiled(chain(3000));
    const short = compiled(chain(1));
    expect(long.graph!.nodes.length).toBeGreaterThan(6000);
    const got = step(long.graph!);
    const want = step(short.graph!);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k), k).toEqual(v);
    // Relu results are kept for the gradient masks (which read them), so the step is still
    // thousands of kernels, a plan at scale (about one per two relus since masks fuse with them).
    expect(planOf(long.graph!, { batches: [3] }).variants[0]!.kernels.length).toBeGreaterThan(1500);
  });

  it("a 10,000-term sum x + x + ... computes 10,000 x, and its gradient", () => {
    const sum = (terms: string) => `network n {\n  input x: f32[B, 4]\n  param w: f32[4] = normal(std = 1)\n  output y = w * (${terms})\n}\n${TRAIN}`;
    const rows = Array.from({ length: 500 }, () => Array(20).fill("x").join(" + "));
    const long = compiled(sum(rows.join("\n    + ")));
    const short = compiled(sum("x * 10000"));
    const got = step(long.graph!);
    const want = step(short.graph!);
    for (const [k, v] of want) {
      const g = got.get(k)!;
      expect(g.length, k).toBe(v.length);
      v.forEach((x, i) => expect(Math.abs(g[i]! - x), `${k}[${i}]`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(x))));
    }
    // The whole sum fuses into one kernel that names 10,000 values in a row.
    expect(Math.max(...planOf(long.graph!, { batches: [3] }).shaders.map((wgsl) => wgsl.split("\n").length))).toBeGreaterThan(10_000);
  });

  it("1,500 dense layers written as lets compile to the same IR as the same layers in one |> chain", () => {
    const n = 1500;
    const lets = Array.from({ length: n }, (_, i) => `  h${i + 1} = h${i} |> dense(4, activation = relu)`).join("\n");
    const asLets = compiled(`network n {\n  input h0: f32[B, 4]\n${lets}\n  output y = h${n}\n}\n${TRAIN.replace("x = ", "h0 = ")}`);
    const asPipe = compiled(`network n {\n  input h0: f32[B, 4]\n  output y = h0\n${"    |> dense(4, activation = relu)\n".repeat(n)}}\n${TRAIN.replace("x = ", "h0 = ")}`);
    expect(asLets.graph!.params.length).toBe(2 * n);
    expect(printGraph(asLets.graph!)).toBe(printGraph(asPipe.graph!));
  });

  it(`expressions nested ${MAX_NESTING} deep compile; deeper is NC1006 at the bracket or sign that goes too deep`, () => {
    const net = (expr: string) => `network n {\n  input x: f32[B, 4]\n  output y = ${expr}\n}\n`;
    const nested = (depth: number) => ({
      calls: "relu(".repeat(depth) + "x" + ")".repeat(depth),
      groups: "(".repeat(depth) + "x" + ")".repeat(depth),
      signs: "- ".repeat(depth) + "x",
      mixed: "-(".repeat(depth / 2) + "x" + ")".repeat(depth / 2),
      keywords: "sum(keepdims = true, x = ".repeat(depth) + "x" + ")".repeat(depth),
    });
    for (const [kind, expr] of Object.entries(nested(MAX_NESTING))) {
      const c = compile(net(expr), "deep.net");
      expect(c.diagnostics.items.filter((d) => d.code.startsWith("NC1")), kind).toEqual([]);
    }
    for (const depth of [MAX_NESTING + 2, 20_000]) {
      for (const [kind, expr] of Object.entries(nested(depth))) {
        const c = compile(net(expr), "deep.net");
        expect(c.diagnostics.items.map((d) => d.code), kind).toEqual(["NC1006"]);
        const d = c.diagnostics.items[0]!;
        // At the token where the depth first exceeds the limit: an opening bracket or a sign.
        expect(["(", "-"], kind).toContain(net(expr)[d.span!.start]);
        expect(d.message, kind).toContain(`nests ${MAX_NESTING + 1} deep`);
      }
    }
  });
});
