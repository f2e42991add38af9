import { planOf } from "../src/codegen/plan.js";
import { describe, expect, it } from "vitest";
import { bindBatch } from "../src/compile.js";
import { RunnerPool, webgpuBackend, type Backend } from "../src/runtime/backend.js";
import { cpuBackend } from "../src/runtime/cpu-backend.js";
import { prepareData, type RowSet } from "../src/runtime/data-source.js";
import { requireSharedGpu } from "../src/runtime/device.js";
import { evaluate } from "../src/runtime/evaluate.js";
import { argmaxRows, classesOf, ConfusionMatrix, unigramEntropy } from "../src/runtime/metrics.js";
import { initialParams } from "../src/runtime/train.js";
import { compileOk } from "./util/tiny-net.js";

// Classification metrics on a case small enough to work out by hand:
//   truth      0 0 1 1 2 2
//   predicted  0 1 1 1 2 0
// confusion (rows truth): [1 1 0] [0 2 0] [1 0 1]; accuracy 4/6.
// precision: 1/2, 2/3, 1/1; recall: 1/2, 2/2, 1/2; F1: 1/2, 4/5, 2/3.
// macro: precision (1/2 + 2/3 + 1)/3 = 13/18, recall 2/3, F1 (1/2 + 4/5 + 2/3)/3 = 59/90.
const TRUTH = [0, 0, 1, 1, 2, 2];
const PREDICTED = [0, 1, 1, 1, 2, 0];

function expectHandComputed(m: ConfusionMatrix): void {
  expect(Array.from({ length: 3 }, (_, t) => [0, 1, 2].map((p) => m.at(t, p)))).toEqual([
    [1, 1, 0],
    [0, 2, 0],
    [1, 0, 1],
  ]);
  expect(m.accuracy()).toBeCloseTo(4 / 6, 12);
  const s = m.perClass();
  expect(s.map((c) => c.precision)).toEqual([1 / 2, 2 / 3, 1].map((x) => expect.closeTo(x, 12)));
  expect(s.map((c) => c.recall)).toEqual([1 / 2, 1, 1 / 2].map((x) => expect.closeTo(x, 12)));
  expect(s.map((c) => c.f1)).toEqual([1 / 2, 4 / 5, 2 / 3].map((x) => expect.closeTo(x, 12)));
  expect(s.map((c) => c.support)).toEqual([2, 2, 2]);
  const macro = m.macro();
  expect(macro.precision).toBeCloseTo(13 / 18, 12);
  expect(macro.recall).toBeCloseTo(2 / 3, 12);
  expect(macro.f1).toBeCloseTo(59 / 90, 12);
}

describe("classification metrics", () => {
  it("confusion matrix, accuracy, per-class precision/recall/F1 and macro averages (hand-computed)", () => {
    const m = new ConfusionMatrix(3);
    m.addAll(TRUTH, PREDICTED);
    expectHandComputed(m);
  });

  it("a class that is neither true nor predicted scores 0 and stays out of the macro average", () => {
    const m = new ConfusionMatrix(4);
    m.addAll(TRUTH, PREDICTED);
    expect(m.perClass()[3]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expect(m.macro().f1).toBeCloseTo(59 / 90, 12);
  });

  it("predictions: argmax per row (first on ties), a 0.5 threshold for one column", () => {
    expect([...argmaxRows([0.1, 0.7, 0.2, 3, 3, 1], 3)]).toEqual([1, 0]);
    expect([...classesOf([0.2, 0.51, 0.5], 1)]).toEqual([0, 1, 0]);
  });

  it("unigram entropy in nats", () => {
    expect(unigramEntropy([0, 1, 0, 1])).toBeCloseTo(Math.log(2), 12);
    expect(unigramEntropy([3, 3, 3])).toBe(0);
  });
});

// The same case through a network on each backend: a dense layer loaded with the identity turns
// each input row of scores into its logits, so the prediction is the argmax of the row.
const IDENTITY_NET = `network scorer {
  input x: f32[B, 3]
  output logits = x |> d: dense(3)
}
train {
  loss = cross_entropy(logits, labels)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  batch = 4
  metrics = [accuracy]
  data {
    x = ${JSON.stringify(PREDICTED.map((p) => [0, 1, 2].map((k) => (k === p ? 2 : 0))))}
    labels = ${JSON.stringify(TRUTH.map((t) => [0, 1, 2].map((k) => (k === t ? 1 : 0))))}
  }
}`;

const backends: [string, () => Promise<Backend>][] = [
  ["cpu", async () => cpuBackend()],
  ["webgpu", async () => webgpuBackend(await requireSharedGpu())],
];

describe("evaluate()", () => {
  for (const [name, make] of backends) {
    it(`${name}: reads predictions per batch (4 + 2 rows) into the confusion matrix; loss and accuracy are row-weighted`, async () => {
      const { graph, spec } = compileOk(IDENTITY_NET, { mode: "eval" });
      const data = await prepareData(spec, graph, { seed: 0 });
      expect(data.task).toMatchObject({ label: "labels", output: "logits", classes: 3, width: 3 });
      const init = initialParams(graph, bindBatch(graph, 4).dims, 0);
      init["d.weight"] = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
      init["d.bias"] = new Float32Array(3);
      const pool = new RunnerPool(await make(), planOf(graph), init);
      const set: RowSet = data.test;
      const r = await evaluate(pool, set, { batch: 4, task: data.task });
      expectHandComputed(r.confusion!);
      expect(r.rows).toBe(6);
      expect(r.accuracy).toBeCloseTo(4 / 6, 6);
      // Cross-entropy of logits (2 at the predicted class, 0 elsewhere): right rows -log(e²/(e²+2)), wrong ones -log(1/(e²+2)).
      const z = Math.exp(2) + 2;
      expect(r.loss!).toBeCloseTo((4 * -Math.log(Math.exp(2) / z) + 2 * Math.log(z)) / 6, 5);
      pool.dispose();
    });
  }
});
