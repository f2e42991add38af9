import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape } from "../src/ir/types.js";
import { rng } from "./util/build.js";

// The movement functions (transpose, slice, pad, concat, flatten, reshape) as users call them,
// checked like test/functions.test.ts on the CPU reference (f64): values against the same
// movement written out in plain JS, and the gradient of a loss through them against central
// finite differences.

const ROWS = 3;
const COLS = 4;
const rand = rng(17);
const X = Array.from({ length: ROWS }, () => Array.from({ length: COLS }, () => 4 * rand() - 2));
const P = [0.7, -1.3, 0.4, 1.1];

interface MoveCase {
  /** The output expression over `z = x * p` ([B, 4], B = 3). */
  output: string;
  shape: number[];
  /** The expected output, flattened, from the rows of z. */
  reference: (z: number[][]) => number[];
}

const cols = (z: number[][], lo: number, hi: number, step = 1) => z.map((r) => r.filter((_, j) => j >= lo && j < hi && (j - lo) % step === 0));

const CASES: Record<string, MoveCase> = {
  "transpose, axes reversed": { output: "transpose(z)", shape: [COLS, ROWS], reference: (z) => z[0]!.flatMap((_, j) => z.map((r) => r[j]!)) },
  "transpose with perm": {
    output: "transpose(reshape(z, [-1, 2, 2]), perm = [0, 2, 1])",
    shape: [ROWS, 2, 2],
    reference: (z) => z.flatMap((r) => [r[0]!, r[2]!, r[1]!, r[3]!]),
  },
  "slice of columns": { output: "slice(z, 1, 4, axis = 1)", shape: [ROWS, 3], reference: (z) => cols(z, 1, 4).flat() },
  "slice with negative indices": { output: "slice(z, -3, -1, axis = -1)", shape: [ROWS, 2], reference: (z) => cols(z, 1, 3).flat() },
  "slice with a step": { output: "slice(z, start = 0, end = 4, step = 3, axis = 1)", shape: [ROWS, 2], reference: (z) => cols(z, 0, 4, 3).flat() },
  pad: { output: "pad(z, [1, 2], value = 0.5)", shape: [ROWS, 7], reference: (z) => z.flatMap((r) => [0.5, ...r, 0.5, 0.5]) },
  concat: {
    output: "concat(z, square(z), slice(z, 0, 1, axis = 1))",
    shape: [ROWS, 9],
    reference: (z) => z.flatMap((r) => [...r, ...r.map((v) => v * v), r[0]!]),
  },
  "concat on the first axis, symbolic dim on the other": {
    output: "transpose(concat(transpose(z), slice(transpose(z), 1, 3), axis = 0))",
    shape: [ROWS, COLS + 2],
    reference: (z) => z.flatMap((r) => [...r, r[1]!, r[2]!]),
  },
  flatten: { output: "flatten(reshape(z, [0, 2, 2]))", shape: [ROWS, COLS], reference: (z) => z.flat() },
  reshape: { output: "reshape(z, [-1, 2, 2])", shape: [ROWS, 2, 2], reference: (z) => z.flat() },
};

function program(c: MoveCase): string {
  return `network t {
  input x: f32[B, ${COLS}]
  param p: f32[${COLS}] = normal(std = 1)
  z = x * p
  output y = ${c.output}
}
train {
  loss = sum(y * y * y)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data {
    x = ${JSON.stringify(X)}
  }
}`;
}

describe("movement functions", () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: values and gradient (finite differences, f64)`, () => {
      const compiled = compile(program(c), "move.net", { after: "autodiff" });
      expect(compiled.diagnostics.render()).toBe("");
      const g = compiled.graph!;
      const { dims } = bindBatch(g, ROWS);
      const x = g.argNamed("x")!;
      const p = g.argNamed("p")!;
      const run = (values: number[]) => {
        const env = new Map<Value, Tensor>([
          [x, { shape: concreteShape(x.type.shape, dims), data: Float64Array.from(X.flat(), Math.fround) }],
          [p, { shape: [COLS], data: Float64Array.from(values) }],
        ]);
        return interpret(g, env, { dims, precision: "f64" });
      };
      const out = run(P);
      const y = g.outputs[0]!.value;
      expect(concreteShape(y.type.shape, dims)).toEqual(c.shape);
      const z = X.map((row) => row.map((v, k) => Math.fround(v) * P[k]!));
      const want = c.reference(z);
      want.forEach((v, i) => expect(out.get(y)!.data[i]!, `y[${i}]`).toBeCloseTo(v, 12));
      const grad = out.get(g.grads[0]!.grad)!.data;
      P.forEach((_, k) => {
        const shift = (h: number) => P.map((v, j) => (j === k ? v + h : v));
        const numeric = (run(shift(1e-6)).get(g.loss!)!.data[0]! - run(shift(-1e-6)).get(g.loss!)!.data[0]!) / 2e-6;
        expect(grad[k]!, `dloss/dp[${k}]`).toBeCloseTo(numeric, 5);
      });
    });
  }
});
