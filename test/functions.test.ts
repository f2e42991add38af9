import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { erf } from "../src/ir/ops/numerics.js";
import { concreteShape } from "../src/ir/types.js";
import { initialParams } from "../src/runtime/train.js";
import { rng } from "./util/build.js";

// Every composite function lowers to primitives; each is checked two ways on the CPU reference
// (f64): its values against a direct formula, and the gradient of a loss through it against
// central finite differences.

const ROWS = 3;
const COLS = 4;
const rand = rng(11);
const matrix = (f: () => number) => Array.from({ length: ROWS }, () => Array.from({ length: COLS }, f));
const X = matrix(() => 4 * rand() - 2);
const W = matrix(() => 2 * rand() - 1);
const ONE_HOT = X.map((_, r) => Array.from({ length: COLS }, (_, c) => (c === r % COLS ? 1 : 0)));
const BITS = matrix(() => (rand() > 0.5 ? 1 : 0));

interface FnCase {
  /** The network's output expression of `z = x * p`, and the loss over `y`. */
  output: string;
  loss: string;
  /** Reference output row by row, from the input row z. */
  reference?: (z: number[]) => number[];
}

const softmaxRow = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

const CASES: Record<string, FnCase> = {
  relu: { output: "relu(z)", loss: "sum(y * w)", reference: (z) => z.map((v) => Math.max(v, 0)) },
  softmax: { output: "softmax(z, axis = 1)", loss: "sum(y * w)", reference: softmaxRow },
  log_softmax: { output: "log_softmax(z)", loss: "sum(y * w)", reference: (z) => softmaxRow(z).map(Math.log) },
  leaky_relu: { output: "leaky_relu(z, alpha = 0.1)", loss: "sum(y * w)", reference: (z) => z.map((v) => (v > 0 ? v : 0.1 * v)) },
  elu: { output: "elu(z)", loss: "sum(y * w)", reference: (z) => z.map((v) => (v > 0 ? v : Math.exp(v) - 1)) },
  gelu: { output: "gelu(z)", loss: "sum(y * w)", reference: (z) => z.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))) },
  tanh: { output: "tanh(z)", loss: "sum(y * w)", reference: (z) => z.map(Math.tanh) },
  square: { output: "square(z)", loss: "mean(y * w)", reference: (z) => z.map((v) => v * v) },
  mse: { output: "z", loss: "mse(y, w)" },
  layernorm: { output: "z |> ln: layernorm", loss: "sum(y * w)" },
  dense: { output: "z |> d: dense(3, activation = tanh)", loss: "sum(y * y)" },
  cross_entropy: { output: "z", loss: "cross_entropy(y, onehot)" },
  binary_cross_entropy: { output: "sigmoid(z)", loss: "binary_cross_entropy(y, bits)" },
};

function program(c: FnCase): string {
  return `network t {
  input x: f32[B, ${COLS}]
  param p: f32[${COLS}] = normal(std = 1)
  z = x * p
  output y = ${c.output}
}
train {
  loss = ${c.loss}
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data {
    x = ${JSON.stringify(X)}
    w = ${JSON.stringify(W)}
    onehot = ${JSON.stringify(ONE_HOT)}
    bits = ${JSON.stringify(BITS)}
  }
}`;
}

describe("composite functions", () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: values and gradient (finite differences, f64)`, () => {
      const compiled = compile(program(c), `${name}.net`, { after: "autodiff" });
      expect(compiled.diagnostics.render()).toBe("");
      const g = compiled.graph!;
      const { dims } = bindBatch(g, ROWS);
      const env = new Map<Value, Tensor>();
      // Params a layer declares (ln.gamma, d.weight) start from their initialisers; `p` is varied.
      const init = initialParams(g, dims, 5);
      for (const a of g.args) {
        if (a.arg!.role === "param") {
          env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(init[a.arg!.name]!) });
          continue;
        }
        const col = compiled.train!.data.find((d) => d.name === a.arg!.name)!;
        env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(col.values) });
      }
      const p = g.params[0]!;
      const base = [0.7, -1.3, 0.4, 1.1];
      const run = (values: number[]) => {
        env.set(p, { shape: [COLS], data: Float64Array.from(values) });
        return interpret(g, env, { dims, precision: "f64" });
      };
      const out = run(base);
      if (c.reference) {
        const y = out.get(g.outputs[0]!.value)!.data;
        X.forEach((row, r) => {
          // Data columns are f32, so the reference reads x rounded the same way.
          const want = c.reference!(row.map((v, k) => Math.fround(v) * base[k]!));
          want.forEach((v, k) => expect(y[r * COLS + k]!, `y[${r},${k}]`).toBeCloseTo(v, 9));
        });
      }
      const grad = out.get(g.grads[0]!.grad)!.data;
      const h = 1e-6;
      base.forEach((_, k) => {
        const plus = [...base];
        const minus = [...base];
        plus[k]! += h;
        minus[k]! -= h;
        const numeric = (run(plus).get(g.loss!)!.data[0]! - run(minus).get(g.loss!)!.data[0]!) / (2 * h);
        expect(grad[k]!, `dloss/dp[${k}]`).toBeCloseTo(numeric, 5);
      });
    });
  }

  it("softmax stays finite for huge logits (it subtracts the max)", () => {
    const c = compile(
      `network t {\n  input x: f32[B, 2]\n  output y = softmax(x)\n}\n`,
      "big.net",
      { after: "infer-shapes" },
    );
    const g = c.graph!;
    const out = interpret(g, new Map([[g.args[0]!, { shape: [1, 2], data: Float64Array.from([1000, 999]) }]]), {
      dims: { B: 1 },
      precision: "f32",
    });
    const y = out.get(g.outputs[0]!.value)!.data;
    expect(y[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    expect(y[1]).toBeCloseTo(Math.exp(-1) / (1 + Math.exp(-1)), 6);
  });

  it("erf matches known values", () => {
    expect(erf(0)).toBe(0);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(-1)).toBeCloseTo(-0.8427007929497149, 14);
    expect(erf(3.5)).toBeCloseTo(0.9999992569016276, 14);
  });
});

describe("layers", () => {
  it("layernorm normalises the last axis, then scales by gamma and shifts by beta (sized from x)", () => {
    const c = compile(`network t {\n  input x: f32[B, 4]\n  output y = x |> ln: layernorm(eps = 0)\n}\n`, "ln.net", { after: "infer-shapes" });
    expect(c.diagnostics.render()).toBe("");
    const g = c.graph!;
    expect(g.params.map((p) => `${p.arg!.name}: [${p.type.shape}]`)).toEqual(["ln.gamma: [4]", "ln.beta: [4]"]);
    const env = new Map<Value, Tensor>([
      [g.args[0]!, { shape: [2, 4], data: Float64Array.from([1, 2, 3, 4, -2, 0, 2, 4]) }],
      [g.params[0]!, { shape: [4], data: Float64Array.from([1, 1, 2, 1]) }],
      [g.params[1]!, { shape: [4], data: Float64Array.from([0, 0, 0, 10]) }],
    ]);
    const y = interpret(g, env, { dims: { B: 2 }, precision: "f64" }).get(g.outputs[0]!.value)!.data;
    const s = Math.sqrt(1.25);
    const want = [-1.5 / s, -0.5 / s, (2 * 0.5) / s, 1.5 / s + 10, -1.5 / s, -0.5 / s, (2 * 0.5) / s, 1.5 / s + 10];
    want.forEach((v, i) => expect(y[i]!).toBeCloseTo(v, 12));
  });
});
