import { describe, expect, it } from "vitest";
import type { Attrs, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { FAMILIES, OPS } from "../src/ir/ops/registry.js";
import { OP_NAMES, type InferCtx } from "../src/ir/ops/types.js";
import { autodiff } from "../src/ir/passes/autodiff.js";
import type { Dim } from "../src/ir/types.js";
import { caseInputs, OP_CASES, type OpCase } from "./op-cases.js";
import { ctx, graphWith, randomTensor, rng } from "./util/build.js";

/** Builds loss = sum(op(params) * w) with fixed random w, returns the graph after autodiff. */
function lossGraph(name: string, c: OpCase) {
  const { g, b, args } = graphWith(c.shapes);
  const out = b.op(name, args, c.attrs ?? {});
  const w = g.addArg({ role: "label", name: "w" }, { dtype: "f32", shape: out.type.shape }, out.span);
  g.loss = b.op("sum", [b.mul(out, w)], { keepdims: false });
  return { g, out, w };
}

/** Checks every differentiable input's analytic gradient of sum(op(inputs) * w) against central differences. */
function checkGradient(name: string, c: OpCase, seed: number): void {
  const { g, w } = lossGraph(name, c);
  const dg = autodiff(g, ctx());
  const params = dg.params;
  const xs = caseInputs(c, seed);
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
    expect(analytic.length).toBe(xs[i]!.data.length);
    for (let k = 0; k < xs[i]!.data.length; k++) {
      const shifted = (d: number) => xs.map((t, j) => ({ shape: t.shape, data: Float64Array.from(t.data, (v, q) => (j === i && q === k ? v + d : v)) }));
      const numeric = (run(shifted(h)).get(dg.loss!)!.data[0]! - run(shifted(-h)).get(dg.loss!)!.data[0]!) / (2 * h);
      expect(analytic[k]!, `d/d${p.arg!.name}[${k}]`).toBeCloseTo(numeric, 5);
    }
  });
}

describe("op registry", () => {
  it("has a test case for every op", () => {
    expect(Object.keys(OP_CASES).sort()).toEqual(Object.keys(OPS).sort());
  });

  it("declares each op of OP_NAMES in exactly one family (a later spread would hide an earlier entry)", () => {
    expect(FAMILIES.flatMap((f) => Object.keys(f)).sort()).toEqual([...OP_NAMES].sort());
  });

  for (const [name, c] of Object.entries(OP_CASES)) {
    it(`${name}: shape rule`, () => {
      const { g, b, args } = graphWith(c.shapes);
      const out = b.op(name, args, c.attrs ?? {});
      expect(out.type.shape).toEqual(c.out);
      expect(g.nodes.length).toBe(1);
    });

    if (c.nondiff) continue;
    it(`${name}: gradient matches central finite differences (f64)`, () => checkGradient(name, c, 7 + name.length));
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
    it(`[${sa}] @ [${sb}] ta=${ta} tb=${tb}`, () => checkGradient("matmul", { shapes: [sa, sb], attrs: { ta, tb }, out: [] }, 5));
});

describe("movement ops", () => {
  const values = (shape: number[]) => ({ shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });
  const run = (shapes: number[][], op: string, attrs: Attrs) => {
    const { g, b, args } = graphWith(shapes);
    const out = b.op(op, args, attrs);
    const env = interpret(g, new Map(args.map((a, i) => [a, values(shapes[i]!)])), { dims: {}, precision: "f64" });
    return { shape: out.type.shape, data: [...env.get(out)!.data] };
  };

  it("transpose permutes axes; no perm reverses them", () => {
    expect(run([[2, 3]], "transpose", {})).toEqual({ shape: [3, 2], data: [0, 3, 1, 4, 2, 5] });
    expect(run([[2, 1, 3]], "transpose", { perm: [0, 2, 1] })).toEqual({ shape: [2, 3, 1], data: [0, 1, 2, 3, 4, 5] });
  });

  it("slice takes a strided window; negative indices count from the end", () => {
    expect(run([[3, 4]], "slice", { starts: [1], ends: [3], axes: [1] })).toEqual({ shape: [3, 2], data: [1, 2, 5, 6, 9, 10] });
    expect(run([[7]], "slice", { starts: [-6], ends: [7], steps: [3] })).toEqual({ shape: [2], data: [1, 4] });
  });

  it("pad fills the trailing axes with the value", () => {
    expect(run([[2, 2]], "pad", { pads: [1, 0], value: 9 })).toEqual({ shape: [2, 3], data: [9, 0, 1, 9, 2, 3] });
    expect(run([[1, 2]], "pad", { pads: [0, 1, 1, 1], value: 0 })).toEqual({ shape: [2, 4], data: [0, 0, 1, 0, 0, 0, 0, 0] });
  });

  it("concat joins along the axis", () => {
    expect(run([[2, 1], [2, 2]], "concat", { axis: -1 })).toEqual({ shape: [2, 3], data: [0, 0, 1, 1, 2, 3] });
    expect(run([[1, 2], [2, 2]], "concat", { axis: 0 })).toEqual({ shape: [3, 2], data: [0, 1, 0, 1, 2, 3] });
  });

  it("reshape infers -1 and copies 0, cancelling symbols", () => {
    const { b, args } = graphWith([["B", 3, 4]]);
    expect(b.op("reshape", args, { shape: [0, -1] }).type.shape).toEqual(["B", 12]);
    expect(b.op("reshape", args, { shape: [-1, 4, 3] }).type.shape).toEqual(["B", 4, 3]);
    expect(b.op("reshape", args, { shape: [0, 2, -1] }).type.shape).toEqual(["B", 2, 6]);
    // B·3 is not a dim the IR can name.
    expect(() => b.op("reshape", args, { shape: [-1, 4] })).toThrow(/NC3006/);
    const { b: b2, args: fixed } = graphWith([[2, 3, 4]]);
    expect(b2.op("reshape", fixed, { shape: [-1, 4] }).type.shape).toEqual([6, 4]);
  });

  it("movement ops keep symbolic dims on the axes they do not touch", () => {
    const { b, args } = graphWith([["B", 3, 4], ["B", 3, 2]]);
    expect(b.op("transpose", [args[0]!], { perm: [1, 0, 2] }).type.shape).toEqual([3, "B", 4]);
    expect(b.op("slice", [args[0]!], { starts: [1], ends: [3], axes: [1] }).type.shape).toEqual(["B", 2, 4]);
    expect(b.op("pad", [args[0]!], { pads: [1, 1], value: 0 }).type.shape).toEqual(["B", 3, 6]);
    expect(b.op("concat", args, { axis: -1 }).type.shape).toEqual(["B", 3, 6]);
  });

  it("shape rules report user errors", () => {
    const errors = (shapes: Dim[][], op: string, attrs: Attrs) => {
      const got: string[] = [];
      const c: InferCtx = { op, error: (code, args) => got.push(`${code} ${JSON.stringify(args)}`), unify: (a, b) => (a === b ? a : undefined) };
      OPS[op as keyof typeof OPS].infer(shapes.map((shape) => ({ dtype: "f32", shape })), attrs, c);
      return got.map((e) => e.slice(0, 6));
    };
    expect(errors([[2, 3]], "transpose", { perm: [0, 0] })).toEqual(["NC3012"]);
    expect(errors([[2, 3]], "transpose", { perm: [1] })).toEqual(["NC3012"]);
    expect(errors([[2, 3]], "slice", { starts: [0], ends: [4], axes: [1] })).toEqual(["NC3014"]);
    expect(errors([[2, 3]], "slice", { starts: [2], ends: [2] })).toEqual(["NC3014"]);
    expect(errors([[2, 3]], "slice", { starts: [0], ends: [1], axes: [2] })).toEqual(["NC3005"]);
    expect(errors([[2, 3]], "slice", { starts: [0], ends: [1], steps: [0] })).toEqual(["NC3003"]);
    expect(errors([[2, 3]], "slice", { starts: [0, 0], ends: [1] })).toEqual(["NC3003"]);
    expect(errors([["B", 3]], "slice", { starts: [0], ends: [1] })).toEqual(["NC3013"]);
    expect(errors([[2, 3]], "pad", { pads: [1] })).toEqual(["NC3003"]);
    expect(errors([[2, 3]], "pad", { pads: [1, -1] })).toEqual(["NC3003"]);
    expect(errors([["B", 3]], "pad", { pads: [1, 1, 0, 0] })).toEqual(["NC3013"]);
    expect(errors([[2, 3], [3, 3]], "concat", { axis: 1 })).toEqual(["NC3015"]);
    expect(errors([[2, 3], [2]], "concat", { axis: 0 })).toEqual(["NC3015"]);
    expect(errors([["B", 3], [2, 3]], "concat", { axis: 0 })).toEqual(["NC3013"]);
    expect(errors([[2, 3]], "reshape", { shape: [-1, -1] })).toEqual(["NC3006"]);
    expect(errors([[2, 3]], "reshape", { shape: [4, -1] })).toEqual(["NC3006"]);
    expect(errors([["B", 3]], "reshape", { shape: [3, 2] })).toEqual(["NC3006"]);
  });
});

describe("movement gradients (f64, finite differences)", () => {
  const cases: [string, number[][], Attrs][] = [
    ["transpose", [[2, 3, 4]], {}],
    ["transpose", [[3, 1, 2, 2]], { perm: [3, 1, -2, 0] }],
    ["slice", [[3, 4, 5]], { starts: [1, 0], ends: [3, 5], axes: [1, 2], steps: [1, 3] }],
    ["slice", [[9]], { starts: [-8], ends: [-1], steps: [4] }],
    ["pad", [[2, 3, 2]], { pads: [0, 0, 2, 1, 1, 0], value: -1 }],
    ["concat", [[1, 3], [2, 3]], { axis: 0 }],
    ["concat", [[2, 2]], { axis: 1 }],
  ];
  for (const [op, shapes, attrs] of cases)
    it(`${op} ${JSON.stringify(attrs)} on ${JSON.stringify(shapes)}`, () => checkGradient(op, { shapes, attrs, out: [] }, 3));
});
