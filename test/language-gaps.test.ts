import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape, type DimBindings } from "../src/ir/types.js";
import { DataError } from "../src/data/errors.js";
import { prepareData, targetClasses } from "../src/runtime/data-source.js";
import { initialParams } from "../src/runtime/train.js";
import { expectParamGradients } from "./util/gradcheck.js";

// What porting PyTorch code needs of the language: class ids as targets, constant tensors of a
// shape, and integer arithmetic where integers are expected.

/** Every arg's value (params from the seed, the rest from `given`), and the interpreter's result. */
function evaluate(g: Graph, dims: DimBindings, given: Record<string, number[]>, seed = 3) {
  const init = initialParams(g, dims, seed);
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const src = init[a.arg!.name] ?? given[a.arg!.name];
    if (!src) throw new Error(`no value for ${a.arg!.name}`);
    env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(src) });
  }
  const out = interpret(g, env, { dims, precision: "f64" });
  return { env, out, value: (v: Value) => Array.from(out.get(v)!.data) };
}

const classifier = (target: string, labels: string, input = "") => `network n {
  input x: f32[B, 2]
  ${input}
  output logits = x |> fc: dense(3)
}
train {
  loss = cross_entropy(logits, ${target})
  optimizer = sgd(lr = 0.5)
  epochs = 1
  metrics = [accuracy]
  data {
    x = [[1, 0], [0, 1], [-1, -1], [2, 0.5]]
    ${labels}
  }
}`;

describe("class ids as cross_entropy targets", () => {
  const ids = [0, 2, 2, 1];
  const oneHot = ids.map((k) => [0, 1, 2].map((j) => (j === k ? 1 : 0)));
  const x = [1, 0, 0, 1, -1, -1, 2, 0.5];
  const cases = {
    "one-hot rows": classifier("t", `t = ${JSON.stringify(oneHot)}`),
    "a label data column of ids": classifier("t", `t = ${JSON.stringify(ids)}`),
    "an i32 input of ids": classifier("ids", `ids = ${JSON.stringify(ids)}`, "input ids: i32[B]"),
  };
  const results = Object.entries(cases).map(([name, text]) => {
    const c = compile(text, "ce.net", { after: "autodiff" });
    expect(c.diagnostics.render(), name).toBe("");
    const g = c.graph!;
    const { dims } = bindBatch(g, 4);
    const r = evaluate(g, dims, { x, t: name === "one-hot rows" ? oneHot.flat() : ids, ids });
    return { name, g, dims, ...r };
  });

  it("the loss, its gradients and the accuracy equal those of one-hot rows", () => {
    const [ref, ...rest] = results;
    const accuracy = (r: (typeof results)[number]) => r.value(r.g.outputs.find((o) => o.name === "metric.accuracy")!.value)[0]!;
    // The loss by hand: mean over rows of -log softmax(logits)[id].
    const logits = ref!.value(ref!.g.outputs.find((o) => o.name === "logits")!.value);
    const want = ids.reduce((s, k, r) => {
      const row = logits.slice(3 * r, 3 * r + 3);
      return s - (row[k]! - Math.log(row.reduce((a, v) => a + Math.exp(v), 0)));
    }, 0) / 4;
    expect(ref!.value(ref!.g.loss!)[0]!).toBeCloseTo(want, 10);
    for (const r of rest) {
      expect(r.value(r.g.loss!)[0]!, r.name).toBeCloseTo(want, 10);
      expect(accuracy(r), r.name).toBe(accuracy(ref!));
      for (const [k, { grad }] of r.g.grads.entries()) {
        const a = r.value(grad);
        ref!.value(ref!.g.grads[k]!.grad).forEach((v, i) => expect(a[i]!, `${r.name} ${r.g.grads[k]!.param.arg!.name}[${i}]`).toBeCloseTo(v, 10));
      }
    }
  });

  it("gradients with ids against finite differences", () => {
    for (const r of results.slice(1)) expectParamGradients(r.g, r.env, r.dims);
  });

  it("an id outside the classes adds nothing (a row of zeros), as the one-hot form would", () => {
    const text = classifier("t", "t = [0, 2, 7, 1]");
    const c = compile(text, "ce.net", { after: "autodiff" });
    const { dims } = bindBatch(c.graph!, 4);
    const r = evaluate(c.graph!, dims, { x, t: [0, 2, 7, 1] });
    const logits = r.value(c.graph!.outputs.find((o) => o.name === "logits")!.value);
    const nll = (row: number, k: number) => -(logits[3 * row + k]! - Math.log([0, 1, 2].reduce((a, j) => a + Math.exp(logits[3 * row + j]!), 0)));
    expect(r.value(c.graph!.loss!)[0]!).toBeCloseTo((nll(0, 0) + nll(1, 2) + nll(3, 1)) / 4, 10);
  });
});

describe("a label data column of class ids in training and evaluation", () => {
  it("is the classifier's target (confusion matrix by id); an id out of range is a DataError naming it", async () => {
    const text = classifier("t", "t = [0, 2, 2, 1]");
    const c = compile(text, "ce.net");
    expect(c.prediction).toEqual({ output: "logits", width: 3 });
    const data = await prepareData(c.train!, c.graph!, { seed: 1 });
    expect(data.task).toEqual({ label: "t", output: "logits", classes: 3, width: 3, ids: true });
    expect(Array.from(targetClasses(data.test, data.task!, { start: 0, end: 4 }))).toEqual([0, 2, 2, 1]);
    const bad = compile(classifier("t", "t = [0, 2, 3, 1]"), "ce.net");
    await expect(prepareData(bad.train!, bad.graph!, { seed: 1 })).rejects.toThrow(
      new DataError("", "the data column `t` holds class ids of `logits`, whole numbers from 0 to 2, but value 3 is 3"),
    );
  });
});

describe("zeros, ones, full", () => {
  it("constant tensors of a shape, symbolic dims bound by the batch, also inside a block", () => {
    const text = `block Cell(hidden: int) {
  input x: f32[B, 3]
  h0 = zeros([B, hidden])
  output y = x @ full([3, hidden], 0.5) + h0 + ones([2 * hidden / 2])
}
network n {
  input x: f32[B, 3]
  output y = x |> c: Cell(4)
  output z = full([B, 2], 1.5) * ones([2])
}`;
    const c = compile(text, "k.net", { after: "infer-shapes" });
    expect(c.diagnostics.render()).toBe("");
    const g = c.graph!;
    expect(g.outputs.map((o) => o.value.type.shape)).toEqual([["B", 4], ["B", 2]]);
    const { dims } = bindBatch(g, 2);
    const r = evaluate(g, dims, { x: [1, 2, 3, -1, 0, 4] });
    expect(r.value(g.outputs[0]!.value)).toEqual([4, 4, 4, 4, 2.5, 2.5, 2.5, 2.5]);
    expect(r.value(g.outputs[1]!.value)).toEqual([1.5, 1.5, 1.5, 1.5]);
  });
});

describe("integer arithmetic in dims and integer arguments", () => {
  it("f32[F, 3 * hidden] and slice(..., end = 2 * hidden) in a block; (1 + 2) * 2 in a network", () => {
    const text = `block Gates(hidden: int, F: int = 2) {
  input x: f32[B, F]
  param w: f32[F, 3 * hidden] = ones
  z = x @ w
  rz = slice(z, 0, end = 2 * hidden, axis = 1)
  output n = slice(z, 2 * hidden, (1 + 2) * hidden, axis = 1) + rz[0]
}
network n {
  input x: f32[B, 2]
  param v: f32[(1 + 2) * 2 - 6 / 3] = ones
  h = x |> g: Gates(5)
  output y = h * sum(v)
}`.replace(" + rz[0]", "");
    const c = compile(text, "a.net", { after: "infer-shapes" });
    expect(c.diagnostics.render()).toBe("");
    const g = c.graph!;
    expect(g.params.map((p) => `${p.arg!.name}: [${p.type.shape}]`)).toEqual(["v: [4]", "g.w: [2,15]"]);
    expect(g.outputs[0]!.value.type.shape).toEqual(["B", 5]);
    const nodes = g.nodes.filter((n) => n.op === "slice").map((n) => `${n.attrs["starts"]}:${n.attrs["ends"]}`);
    expect(nodes).toEqual(["0:10", "10:15"]);
  });
});
