import { describe, expect, it } from "vitest";
import type { Attrs, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { OPS } from "../src/ir/ops.js";
import { autodiff } from "../src/ir/passes/autodiff.js";
import { ctx, graphWith, randomTensor, rng } from "./util/build.js";

/** One row per registry op: input shapes, attributes, the expected result shape, and the input domain. */
interface OpCase {
  shapes: number[][];
  attrs?: Attrs;
  out: number[];
  /** Inputs drawn from [lo, hi); positive for log/sqrt/pow. */
  lo?: number;
  hi?: number;
  /** Input positions that are not differentiable (conditions). */
  noGrad?: number[];
  /** Ops without a gradient (comparisons, constants). */
  nondiff?: boolean;
}

const CASES: Record<keyof typeof OPS, OpCase> = {
  const: { shapes: [], attrs: { value: 2.5 }, out: [], nondiff: true },
  size: { shapes: [], attrs: { dims: [3, 4] }, out: [], nondiff: true },
  neg: { shapes: [[2, 3]], out: [2, 3] },
  abs: { shapes: [[2, 3]], out: [2, 3] },
  exp: { shapes: [[2, 3]], out: [2, 3] },
  log: { shapes: [[2, 3]], out: [2, 3], lo: 0.5, hi: 2 },
  sqrt: { shapes: [[2, 3]], out: [2, 3], lo: 0.5, hi: 2 },
  tanh: { shapes: [[2, 3]], out: [2, 3] },
  erf: { shapes: [[2, 3]], out: [2, 3], lo: -2, hi: 2 },
  sigmoid: { shapes: [[2, 3]], out: [2, 3] },
  add: { shapes: [[2, 3], [3]], out: [2, 3] },
  sub: { shapes: [[2, 1], [1, 3]], out: [2, 3] },
  mul: { shapes: [[4, 3], [4, 1]], out: [4, 3] },
  div: { shapes: [[2, 3], [2, 3]], out: [2, 3], lo: 0.5, hi: 2 },
  pow: { shapes: [[2, 3], [3]], out: [2, 3], lo: 0.5, hi: 2 },
  max: { shapes: [[3, 3], [3]], out: [3, 3] },
  min: { shapes: [[3, 3], [3, 1]], out: [3, 3] },
  lt: { shapes: [[2, 3], [3]], out: [2, 3], nondiff: true },
  le: { shapes: [[2, 3], [2, 3]], out: [2, 3], nondiff: true },
  eq: { shapes: [[2, 3], [2, 3]], out: [2, 3], nondiff: true },
  select: { shapes: [[2, 3], [2, 3], [3]], out: [2, 3], noGrad: [0] },
  sum: { shapes: [[2, 3, 4]], attrs: { axes: [0, 2] }, out: [3] },
  mean: { shapes: [[2, 3, 4]], attrs: { axes: [1], keepdims: true }, out: [2, 1, 4] },
  max_reduce: { shapes: [[3, 5]], attrs: { axes: [-1] }, out: [3] },
  matmul: { shapes: [[3, 4], [4, 5]], out: [3, 5] },
  reshape: { shapes: [[2, 6]], attrs: { shape: [3, 4] }, out: [3, 4] },
  broadcast: { shapes: [[3, 1]], attrs: { shape: [2, 3, 4] }, out: [2, 3, 4] },
};

/** Builds loss = sum(op(params) * w) with fixed random w, returns the graph after autodiff. */
function lossGraph(name: string, c: OpCase) {
  const { g, b, args } = graphWith(c.shapes);
  const out = b.op(name, args, c.attrs ?? {});
  const w = g.addArg({ role: "label", name: "w" }, { dtype: "f32", shape: out.type.shape }, out.span);
  g.loss = b.op("sum", [b.mul(out, w)], { keepdims: false });
  return { g, out, w };
}

function inputsFor(c: OpCase, seed: number): Tensor[] {
  const rand = rng(seed);
  return c.shapes.map((s, i) =>
    c.noGrad?.includes(i)
      ? { shape: s, data: Float64Array.from(randomTensor(s, rand).data, (x) => (x > 0 ? 1 : 0)) }
      : randomTensor(s, rand, c.lo ?? -1, c.hi ?? 1),
  );
}

describe("op registry", () => {
  it("has a test case for every op", () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(OPS).sort());
  });

  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: shape rule`, () => {
      const { g, b, args } = graphWith(c.shapes);
      const out = b.op(name, args, c.attrs ?? {});
      expect(out.type.shape).toEqual(c.out);
      expect(g.nodes.length).toBe(1);
    });

    if (c.nondiff) continue;
    it(`${name}: gradient matches central finite differences (f64)`, () => {
      const { g, w } = lossGraph(name, c);
      const dg = autodiff(g, ctx());
      const params = dg.params;
      const xs = inputsFor(c, 7 + name.length);
      const wT = randomTensor(w.type.shape as number[], rng(99));
      const run = (vals: Tensor[]) => {
        const env = new Map<Value, Tensor>(params.map((p, i) => [p, vals[i]!]));
        env.set(dg.argNamed("w")!, wT);
        return interpret(dg, env, { dims: {}, precision: "f64" });
      };
      const env = run(xs);
      const h = 1e-6;
      params.forEach((p, i) => {
        if (c.noGrad?.includes(i)) return;
        const analytic = env.get(dg.grads[i]!.grad)!.data;
        for (let k = 0; k < xs[i]!.data.length; k++) {
          const plus = xs.map((t) => ({ shape: t.shape, data: Float64Array.from(t.data) }));
          const minus = xs.map((t) => ({ shape: t.shape, data: Float64Array.from(t.data) }));
          plus[i]!.data[k]! += h;
          minus[i]!.data[k]! -= h;
          const fp = run(plus).get(dg.loss!)!.data[0]!;
          const fm = run(minus).get(dg.loss!)!.data[0]!;
          const numeric = (fp - fm) / (2 * h);
          expect(analytic[k]!, `d/d${p.arg!.name}[${k}]`).toBeCloseTo(numeric, 5);
        }
      });
    });
  }
});

describe("op semantics", () => {
  it("comparisons give 1/0 and select picks by condition", () => {
    const { g, b, args } = graphWith([[3], [3]]);
    const lt = b.op("lt", args);
    const sel = b.op("select", [lt, args[0]!, args[1]!]);
    const env = interpret(
      g,
      new Map([
        [args[0]!, { shape: [3], data: Float64Array.from([1, 5, 2]) }],
        [args[1]!, { shape: [3], data: Float64Array.from([4, 3, 2]) }],
      ]),
      { dims: {}, precision: "f64" },
    );
    expect([...env.get(lt)!.data]).toEqual([1, 0, 0]);
    expect([...env.get(sel)!.data]).toEqual([1, 3, 2]);
  });

  it("relu as max(x, 0) sends gradient 1 at positive x, 0 at negative x", () => {
    const { g, b, args } = graphWith([[4]]);
    const r = b.op("max", [args[0]!, b.const(0)]);
    g.loss = b.op("sum", [r], {});
    const dg = autodiff(g, ctx());
    const env = interpret(dg, new Map([[dg.params[0]!, { shape: [4], data: Float64Array.from([-2, -0.5, 0.5, 3]) }]]), {
      dims: {},
      precision: "f64",
    });
    expect([...env.get(dg.grads[0]!.grad)!.data]).toEqual([0, 0, 1, 1]);
  });

  it("size reads bound symbolic dims", () => {
    const { g, b } = graphWith([]);
    const s = b.op("size", [], { dims: ["B", 3] });
    expect(interpret(g, new Map(), { dims: { B: 5 }, precision: "f64" }).get(s)!.data[0]).toBe(15);
  });
});

describe("batched matmul gradients (f64, finite differences)", () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[2, 3, 4], [4, 5], false, false],
    [[2, 4, 3], [2, 4, 5], true, false],
    [[2, 3, 4], [2, 5, 4], false, true],
    [[3, 4], [2, 4, 5], false, false],
  ];
  for (const [sa, sb, ta, tb] of cases)
    it(`[${sa}] @ [${sb}] ta=${ta} tb=${tb}`, () => {
      const c: OpCase = { shapes: [sa, sb], attrs: { ta, tb }, out: [] };
      const { g, w } = lossGraph("matmul", c);
      const dg = autodiff(g, ctx());
      const xs = inputsFor(c, 5);
      const wT = randomTensor(w.type.shape as number[], rng(8));
      const run = (vals: Tensor[]) => {
        const env = new Map<Value, Tensor>(dg.params.map((p, i) => [p, vals[i]!]));
        env.set(dg.argNamed("w")!, wT);
        return interpret(dg, env, { dims: {}, precision: "f64" });
      };
      const env = run(xs);
      dg.params.forEach((_, i) => {
        const analytic = env.get(dg.grads[i]!.grad)!.data;
        expect(analytic.length).toBe(xs[i]!.data.length);
        for (let k = 0; k < xs[i]!.data.length; k++) {
          const shift = (d: number) => xs.map((t, j) => ({ shape: t.shape, data: Float64Array.from(t.data, (v, q) => (j === i && q === k ? v + d : v)) }));
          const numeric = (run(shift(1e-6)).get(dg.loss!)!.data[0]! - run(shift(-1e-6)).get(dg.loss!)!.data[0]!) / 2e-6;
          expect(analytic[k]!).toBeCloseTo(numeric, 5);
        }
      });
    });
});
