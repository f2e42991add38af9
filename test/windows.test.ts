import { describe, expect, it } from "vitest";
import type { Attrs, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { paddingOnlyWindow } from "../src/ir/ops/pool.js";
import { OPS } from "../src/ir/ops/registry.js";
import { randUniform } from "../src/ir/ops/source.js";
import type { InferCtx } from "../src/ir/ops/types.js";
import { parseGraph } from "../src/ir/parse.js";
import { autodiff } from "../src/ir/passes/autodiff.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { printGraph } from "../src/ir/print.js";
import { verifyGraph } from "../src/ir/verify.js";
import type { Dim } from "../src/ir/types.js";
import { expectParamGradients } from "./util/gradcheck.js";
import { ctx, graphWith, randomTensor, rng } from "./util/build.js";

// Window ops (conv, pool, gather, ...) on the CPU reference: known answers computed independently
// (hand-worked values, naive loops written here), shape-rule errors, and gradient checks beyond
// the one row each has in test/ops.test.ts.

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const arange = (shape: number[], from = 0): Tensor => ({ shape, data: Float64Array.from({ length: numel(shape) }, (_, i) => from + i) });
const tensor = (shape: number[], values: number[]): Tensor => ({ shape, data: Float64Array.from(values) });

/** Runs `op` on concrete inputs on the CPU reference (f64); returns its shape and values. */
function run(op: string, ins: Tensor[], attrs: Attrs): { shape: Dim[]; data: number[] } {
  const { g, b, args } = graphWith(ins.map((t) => t.shape));
  const out = b.op(op, args, attrs);
  const env = interpret(g, new Map(args.map((a, i) => [a, ins[i]!])), { dims: {}, precision: "f64" });
  return { shape: out.type.shape, data: [...env.get(out)!.data] };
}

/** Every coordinate tuple of `shape`, row-major. */
function* coords(shape: number[]): Generator<number[]> {
  const c = new Array<number>(shape.length).fill(0);
  if (shape.some((n) => n === 0)) return;
  for (;;) {
    yield [...c];
    let d = shape.length - 1;
    while (d >= 0 && ++c[d]! === shape[d]!) c[d--] = 0;
    if (d < 0) return;
  }
}

const flat = (shape: number[], c: number[]) => c.reduce((acc, x, d) => acc * shape[d]! + x, 0);

/** Spatial attrs with their defaults, as the naive loops below read them. */
function geometry(attrs: Attrs, s: number) {
  const list = (key: string, dflt: number) => (attrs[key] as number[] | undefined) ?? new Array<number>(s).fill(dflt);
  const pads = list("pads", 0);
  return {
    strides: list("strides", 1),
    dilations: list("dilations", 1),
    before: Array.from({ length: s }, (_, d) => (attrs["pads"] ? pads[2 * d]! : 0)),
    after: Array.from({ length: s }, (_, d) => (attrs["pads"] ? pads[2 * d + 1]! : 0)),
    groups: (attrs["groups"] as number | undefined) ?? 1,
  };
}

/** Convolution the slow way: every output, filter-group channel and tap, bounds checked one by one. */
function naiveConv(x: Tensor, w: Tensor, attrs: Attrs): Tensor {
  const s = x.shape.length - 2;
  const geo = geometry(attrs, s);
  const [n, c] = x.shape as [number, number];
  const [f, cg] = w.shape as [number, number];
  const kernel = w.shape.slice(2);
  const input = x.shape.slice(2);
  const out = input.map((size, d) => Math.floor((size + geo.before[d]! + geo.after[d]! - geo.dilations[d]! * (kernel[d]! - 1) - 1) / geo.strides[d]!) + 1);
  const shape = [n, f, ...out];
  const y = new Float64Array(numel(shape));
  const perGroup = f / geo.groups;
  for (const [b, ff, ...o] of coords([n, f, ...out])) {
    let acc = 0;
    const g = Math.floor(ff! / perGroup);
    for (let k = 0; k < cg; k++)
      for (const t of coords(kernel)) {
        const p = t.map((tt, d) => o[d]! * geo.strides[d]! + tt * geo.dilations[d]! - geo.before[d]!);
        if (p.some((pp, d) => pp < 0 || pp >= input[d]!)) continue;
        acc += x.data[flat(x.shape, [b!, g * cg + k, ...p])]! * w.data[flat(w.shape, [ff!, k, ...t])]!;
      }
    void c;
    y[flat(shape, [b!, ff!, ...o])] = acc;
  }
  return { shape, data: y };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, digits = 10): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i]!, `[${i}]`).toBeCloseTo(want[i]!, digits);
}

describe("conv on the CPU reference: known answers", () => {
  it("1x1x3x3 input, 2x2 kernel: each output is a dot product with its window", () => {
    const y = run("conv", [arange([1, 1, 3, 3], 1), tensor([1, 1, 2, 2], [1, 2, 3, 4])], {});
    expect(y).toEqual({ shape: [1, 1, 2, 2], data: [37, 47, 67, 77] });
  });

  it("zero padding 1 and stride 2 on a 3x3 input with a 3x3 kernel of ones: sums of 2x2 corners", () => {
    const y = run("conv", [arange([1, 1, 3, 3], 1), tensor([1, 1, 3, 3], new Array(9).fill(1))], { strides: [2, 2], pads: [1, 1, 1, 1] });
    // Windows centred on the corners: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9.
    expect(y).toEqual({ shape: [1, 1, 2, 2], data: [12, 16, 24, 28] });
  });

  it("1-D dilation 2: taps two apart", () => {
    const y = run("conv", [arange([1, 1, 6]), tensor([1, 1, 2], [1, 10])], { dilations: [2] });
    // out[o] = x[o] + 10·x[o + 2]
    expect(y).toEqual({ shape: [1, 1, 4], data: [20, 31, 42, 53] });
  });

  it("groups = channels (depthwise): each channel with its own filter", () => {
    const y = run("conv", [arange([1, 2, 3]), tensor([2, 1, 1], [2, -1])], { groups: 2 });
    expect(y).toEqual({ shape: [1, 2, 3], data: [0, 2, 4, -3, -4, -5] });
  });

  const cases: [string, number[], number[], Attrs][] = [
    ["2-D, stride 2, pads [1,0,2,1], dilation 2, groups 2", [2, 4, 7, 9], [6, 2, 3, 2], { strides: [2, 2], pads: [1, 0, 2, 1], dilations: [2, 1], groups: 2 }],
    ["1-D, stride 3, pads [2,1]", [3, 2, 11], [4, 2, 3], { strides: [3], pads: [2, 1] }],
    ["3-D, stride [1,2,1], pads [0,1,1,0,1,1], groups 3", [1, 3, 4, 5, 3], [3, 1, 2, 3, 2], { strides: [1, 2, 1], pads: [0, 1, 1, 0, 1, 1], groups: 3 }],
    ["2-D 1x1 kernel, no attrs", [2, 3, 4, 5], [5, 3, 1, 1], {}],
  ];
  for (const [name, xs, ws, attrs] of cases)
    it(`matches a naive nested loop: ${name}`, () => {
      const rand = rng(11);
      const x = randomTensor(xs, rand);
      const w = randomTensor(ws, rand);
      const want = naiveConv(x, w, attrs);
      const got = run("conv", [x, w], attrs);
      expect(got.shape).toEqual(want.shape);
      expectClose(got.data, want.data, 12);
    });

  it("conv_grad_input and conv_grad_weight are conv's adjoints: <conv(x, w), g> = <x, dx(g, w)> = <w, dw(x, g)>", () => {
    const attrs: Attrs = { strides: [2, 1], pads: [1, 2, 0, 1], dilations: [1, 2], groups: 2 };
    const rand = rng(5);
    const x = randomTensor([2, 4, 6, 7], rand);
    const w = randomTensor([2, 2, 3, 2], rand);
    const y = run("conv", [x, w], attrs);
    const g = randomTensor(y.shape as number[], rand);
    const dx = run("conv_grad_input", [g, w], { ...attrs, input: [6, 7] });
    const dw = run("conv_grad_weight", [x, g], { ...attrs, kernel: [3, 2] });
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
    expect(dot(y.data, g.data)).toBeCloseTo(dot(x.data, dx.data), 10);
    expect(dot(y.data, g.data)).toBeCloseTo(dot(w.data, dw.data), 10);
  });
});

describe("pool on the CPU reference: known answers", () => {
  const x44 = arange([1, 1, 4, 4]);
  const x55 = arange([1, 1, 5, 5]);

  it("max 2x2 stride 2 on 4x4", () => {
    expect(run("pool", [x44], { mode: "max", kernel: [2, 2], strides: [2, 2] })).toEqual({ shape: [1, 1, 2, 2], data: [5, 7, 13, 15] });
  });

  it("ceil mode keeps the partial windows at the end: max and avg on 5x5", () => {
    const attrs = { kernel: [2, 2], strides: [2, 2], ceil: true };
    expect(run("pool", [x55], { ...attrs, mode: "max" })).toEqual({ shape: [1, 1, 3, 3], data: [6, 8, 9, 16, 18, 19, 21, 23, 24] });
    // Averages over the real elements only: (0+1+5+6)/4, (2+3+7+8)/4, (4+9)/2, ...
    expect(run("pool", [x55], { ...attrs, mode: "avg" }).data).toEqual([3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24]);
  });

  it("avg with padding: count_pad divides by the whole window, else by the real elements", () => {
    const attrs = { mode: "avg", kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] };
    const real = run("pool", [x44], { ...attrs, count_pad: false });
    const padded = run("pool", [x44], { ...attrs, count_pad: true });
    expect(real.shape).toEqual([1, 1, 3, 3]);
    expect(real.data).toEqual([0, 1.5, 3, 6, 7.5, 9, 12, 13.5, 15]);
    expect(padded.data).toEqual([0, 0.75, 0.75, 3, 7.5, 4.5, 3, 6.75, 3.75]);
  });

  it("count_pad never counts the room ceil mode adds past the padded end (PyTorch, ONNX)", () => {
    const y = run("pool", [tensor([1, 1, 5], [1, 2, 3, 4, 5])], { mode: "avg", kernel: [2], strides: [2], ceil: true, count_pad: true });
    expect(y).toEqual({ shape: [1, 1, 3], data: [1.5, 3.5, 5] });
  });

  it("padding never wins a max, even over negative values", () => {
    const x = tensor([1, 1, 3], [-5, -2, -7]);
    expect(run("pool", [x], { mode: "max", kernel: [3], pads: [1, 1] }).data).toEqual([-2, -2, -2]);
  });

  it("a ceil-mode window starting past the input and its left padding is dropped", () => {
    // (4 + 1 + 1 - 2) / 2 = 2 -> ceil 2, + 1 = 3 windows; the third would start at 4 - 1 = 3 < 4: kept.
    expect(run("pool", [arange([1, 1, 4])], { mode: "max", kernel: [2], strides: [2], pads: [1, 1], ceil: true }).data).toEqual([0, 2, 3]);
    // 5 wide, kernel 2, stride 3, ceil: (5 - 2) / 3 = 1 -> 2 windows at 0 and 3.
    expect(run("pool", [arange([1, 1, 5])], { mode: "max", kernel: [2], strides: [3], ceil: true }).data).toEqual([1, 4]);
    // 6 wide, kernel 2, stride 4, pads [0, 1], ceil: ceil(5 / 4) + 1 = 3, but the third starts at 8 >= 6: dropped.
    expect(run("pool", [arange([1, 1, 6])], { mode: "max", kernel: [2], strides: [4], pads: [0, 1], ceil: true }).shape).toEqual([1, 1, 2]);
  });

  it("pool_grad sends a max window's gradient to its first maximum only (ties)", () => {
    const x = tensor([1, 1, 4], [3, 3, 1, 1]);
    const g = tensor([1, 1, 2], [10, 20]);
    expect(run("pool_grad", [x, g], { mode: "max", kernel: [2], strides: [2] }).data).toEqual([10, 0, 20, 0]);
    // Overlapping windows (stride 1): both pick x[1] = 5 and add up there.
    const y = tensor([1, 1, 3], [1, 5, 2]);
    expect(run("pool_grad", [y, g], { mode: "max", kernel: [2], strides: [1] }).data).toEqual([0, 30, 0]);
  });

  it("pool_grad spreads an avg window's gradient over its divisor", () => {
    const g = tensor([1, 1, 3], [4, 6, 8]);
    const attrs = { mode: "avg", kernel: [2], strides: [2], pads: [1, 0], ceil: true };
    // Windows: [pad, x0], [x1, x2], [x3]; real counts 1, 2, 1.
    expect(run("pool_grad", [arange([1, 1, 4]), g], attrs).data).toEqual([4, 3, 3, 8]);
    expect(run("pool_grad", [arange([1, 1, 4]), g], { ...attrs, count_pad: true }).data).toEqual([2, 3, 3, 8]);
  });
});

describe("gather, iota and rand on the CPU reference", () => {
  const x = tensor([2, 3], [0, 1, 2, 3, 4, 5]);

  it("gather is numpy's take: axis 1 with a negative index, axis 0, a 2-D index on the last axis", () => {
    expect(run("gather", [x, tensor([3], [2, -1, 0])], { axis: 1 })).toEqual({ shape: [2, 3], data: [2, 2, 0, 5, 5, 3] });
    expect(run("gather", [x, tensor([2], [1, 0])], {})).toEqual({ shape: [2, 3], data: [3, 4, 5, 0, 1, 2] });
    expect(run("gather", [x, tensor([2, 1], [1, 0])], { axis: -1 })).toEqual({ shape: [2, 2, 1], data: [1, 0, 4, 3] });
    // A scalar index drops the axis.
    expect(run("gather", [x, tensor([], [1])], { axis: 0 })).toEqual({ shape: [3], data: [3, 4, 5] });
  });

  it("an embedding lookup: rows of a table by token id", () => {
    const table = arange([5, 2]);
    expect(run("gather", [table, tensor([2, 2], [4, 0, 1, 4])], {})).toEqual({ shape: [2, 2, 2], data: [8, 9, 0, 1, 2, 3, 8, 9] });
  });

  it("out-of-range indices are clamped to the nearest end (the GPU cannot raise an error)", () => {
    expect(run("gather", [x, tensor([3], [5, -7, 1.9])], { axis: 1 }).data).toEqual([2, 0, 1, 5, 3, 4]);
  });

  it("gather_grad sums g into the rows the indices picked", () => {
    const g = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(run("gather_grad", [g, tensor([3], [2, -1, 0])], { axis: 1, size: 3 })).toEqual({ shape: [2, 3], data: [3, 0, 3, 6, 0, 9] });
  });

  it("iota counts along its axis; le(iota(-1), iota(-2)) is a causal mask", () => {
    expect(run("iota", [], { shape: [2, 3], axis: 1 }).data).toEqual([0, 1, 2, 0, 1, 2]);
    expect(run("iota", [], { shape: [2, 3], axis: 0 }).data).toEqual([0, 0, 0, 1, 1, 1]);
    const { g, b } = graphWith([]);
    const mask = b.op("le", [b.op("iota", [], { shape: [3, 3], axis: -1 }), b.op("iota", [], { shape: [3, 3], axis: -2 })]);
    expect([...interpret(g, new Map(), { dims: {}, precision: "f64" }).get(mask)!.data]).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
  });

  it("iota with a symbolic dim is bound when run", () => {
    const { g, b } = graphWith([]);
    const v = b.op("iota", [], { shape: ["T", 2], axis: 0 });
    expect(v.type.shape).toEqual(["T", 2]);
    expect([...interpret(g, new Map(), { dims: { T: 3 }, precision: "f32" }).get(v)!.data]).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it("rand: uniform in [0, 1), a pure function of (seed, salt, index), in 24-bit steps", () => {
    const values = (seed: number, salt: number) => run("rand", [tensor([], [seed])], { shape: [100, 100], salt }).data;
    const a = values(3, 1);
    expect(a.every((v) => v >= 0 && v < 1 && Number.isInteger(v * 2 ** 24))).toBe(true);
    expect(values(3, 1)).toEqual(a);
    expect(a.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((i) => randUniform(3, 1, i)));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    // Another seed or salt gives another stream, not a shifted copy.
    for (const other of [values(4, 1), values(3, 2)]) {
      const same = other.filter((v, i) => v === a[i]).length;
      expect(same).toBeLessThan(5);
      const overlap = new Set(a).size + new Set(other).size - new Set([...a, ...other]).size;
      expect(overlap).toBeLessThan(a.length / 10);
    }
    // Neighbouring elements are not correlated.
    let c = 0;
    for (let i = 1; i < a.length; i++) c += (a[i]! - 0.5) * (a[i - 1]! - 0.5);
    expect(Math.abs(c / a.length)).toBeLessThan(0.005);
  });
});

describe("window op shape rules", () => {
  const errors = (shapes: Dim[][], op: string, attrs: Attrs) => {
    const got: string[] = [];
    const c: InferCtx = { op, error: (code, args) => got.push(`${code} ${JSON.stringify(args)}`), unify: (a, b) => (a === b ? a : undefined) };
    const t = OPS[op as keyof typeof OPS].infer(shapes.map((shape) => ({ dtype: "f32", shape })), attrs, c);
    return { codes: got.map((e) => e.slice(0, 6)), shape: t?.shape, got };
  };

  it("conv: out = floor((in + pads - dilation·(k - 1) - 1) / stride) + 1, symbolic batch passing through", () => {
    expect(errors([["B", 3, 7, 9], [8, 3, 3, 2]], "conv", { strides: [2, 2], pads: [1, 0, 2, 1] }).shape).toEqual(["B", 8, 3, 6]);
    expect(errors([[1, 4, 10], [6, 2, 3]], "conv", { dilations: [3], groups: 2 }).shape).toEqual([1, 6, 4]);
    expect(errors([[1, 1, 4, 4, 4], [2, 1, 2, 2, 2]], "conv", {}).shape).toEqual([1, 2, 3, 3, 3]);
  });

  it("conv: channel mismatch, kernel larger than the padded input, groups not dividing", () => {
    expect(errors([[1, 3, 8, 8], [4, 2, 3, 3]], "conv", {}).codes).toEqual(["NC3016"]);
    expect(errors([[1, 4, 8, 8], [4, 3, 3, 3]], "conv", { groups: 2 }).codes).toEqual(["NC3016"]);
    expect(errors([[1, 3, 4, 8], [4, 3, 5, 3]], "conv", {}).codes).toEqual(["NC3018"]);
    expect(errors([[1, 3, 4, 8], [4, 3, 5, 3]], "conv", { pads: [1, 0, 0, 0] }).codes).toEqual([]);
    expect(errors([[1, 3, 4, 8], [4, 3, 3, 3]], "conv", { dilations: [2, 1] }).codes).toEqual(["NC3018"]);
    expect(errors([[1, 4, 8, 8], [3, 2, 3, 3]], "conv", { groups: 2 }).codes).toEqual(["NC3017"]);
    expect(errors([[1, 3, 8, 8], [4, 1, 3, 3]], "conv", { groups: 2 }).codes).toEqual(["NC3017"]);
  });

  it("conv: the channel dims are unified, so a symbolic one binds to the other side's size", () => {
    const bind = (shapes: Dim[][], attrs: Attrs) => {
      const bound = new Map<string, Dim>();
      const codes: string[] = [];
      const c: InferCtx = {
        op: "conv",
        error: (code) => codes.push(code),
        unify: (a, b) => {
          const [x, y] = [typeof a === "string" ? (bound.get(a) ?? a) : a, typeof b === "string" ? (bound.get(b) ?? b) : b];
          if (x === y) return x;
          if (typeof x === "string") return bound.set(x, y), y;
          if (typeof y === "string") return bound.set(y, x), x;
          return undefined;
        },
      };
      const t = OPS.conv.infer(shapes.map((shape) => ({ dtype: "f32", shape })), attrs, c);
      return { shape: t?.shape, bound: Object.fromEntries(bound), codes };
    };
    expect(bind([["B", "C", 8, 8], [4, 3, 3, 3]], {})).toEqual({ shape: ["B", 4, 6, 6], bound: { C: 3 }, codes: [] });
    expect(bind([["B", 6, 8, 8], [4, "K", 3, 3]], { groups: 2 })).toEqual({ shape: ["B", 4, 6, 6], bound: { K: 3 }, codes: [] });
    // Under a strict unify (symbols stay apart) a symbolic channel dim is a mismatch.
    expect(errors([[1, "C", 8, 8], [4, 3, 3, 3]], "conv", {}).codes).toEqual(["NC3016"]);
  });

  it("conv: ranks, unknown sizes and malformed attributes", () => {
    expect(errors([[1, 3], [4, 3]], "conv", {}).codes).toEqual(["NC3004"]);
    expect(errors([[1, 3, 8, 8, 8, 8], [4, 3, 3, 3, 3, 3]], "conv", {}).codes).toEqual(["NC3004"]);
    expect(errors([[1, 3, 8, 8], [4, 3, 3]], "conv", {}).codes).toEqual(["NC3004"]);
    expect(errors([[1, "C", 8, 8], [4, "K", 3, 3]], "conv", {}).codes).toEqual(["NC3013"]);
    expect(errors([[1, 3, 8, 8], ["F", 3, 3, 3]], "conv", {}).codes).toEqual(["NC3013"]);
    expect(errors([[1, 3, "H", 8], [4, 3, 3, 3]], "conv", {}).codes).toEqual(["NC3013"]);
    expect(errors([[1, 3, 8, 8], [4, 3, 3, 3]], "conv", { strides: [2] }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 3, 8, 8], [4, 3, 3, 3]], "conv", { strides: [0, 1] }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 3, 8, 8], [4, 3, 3, 3]], "conv", { pads: [1, 1] }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 3, 8, 8], [4, 3, 3, 3]], "conv", { groups: 0 }).codes).toEqual(["NC3003"]);
  });

  it("the messages name the op and the numbers", () => {
    expect(errors([[1, 3, 8, 8], [4, 2, 3, 3]], "conv", {}).got[0]).toContain('"channels":3');
    expect(errors([[1, 3, 4, 8], [4, 3, 5, 3]], "conv", {}).got[0]).toBe('NC3018 {"op":"conv","axis":2,"window":5,"padded":4}');
  });

  it("conv gradients check the gradient's shape against the forward geometry", () => {
    const attrs = { strides: [2, 2], input: [7, 9] };
    expect(errors([["B", 4, 3, 4], [4, 3, 3, 3]], "conv_grad_input", attrs).shape).toEqual(["B", 3, 7, 9]);
    expect(errors([["B", 4, 3, 5], [4, 3, 3, 3]], "conv_grad_input", attrs).codes).toEqual(["NC3003"]);
    expect(errors([["B", 3, 7, 9], ["B", 4, 3, 4]], "conv_grad_weight", { strides: [2, 2], kernel: [3, 3] }).shape).toEqual([4, 3, 3, 3]);
    expect(errors([[2, 3, 7, 9], [3, 4, 3, 4]], "conv_grad_weight", { strides: [2, 2], kernel: [3, 3] }).codes).toEqual(["NC3003"]);
  });

  it("pool: output sizes, ceil mode, and windows of padding only", () => {
    expect(errors([["B", "C", 5, 5]], "pool", { mode: "max", kernel: [2, 2], strides: [2, 2] }).shape).toEqual(["B", "C", 2, 2]);
    expect(errors([["B", 3, 5, 5]], "pool", { mode: "avg", kernel: [2, 2], strides: [2, 2], ceil: true }).shape).toEqual(["B", 3, 3, 3]);
    expect(errors([[1, 3, 5]], "pool", { mode: "max", kernel: [2], pads: [2, 0] }).codes).toEqual(["NC3019"]);
    expect(errors([[1, 3, 5]], "pool", { mode: "max", kernel: [7] }).codes).toEqual(["NC3018"]);
    expect(errors([[1, 3, 5]], "pool", { mode: "min", kernel: [2] }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 3, 5]], "pool", { mode: "max" }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 3, "W"]], "pool", { mode: "max", kernel: [2] }).codes).toEqual(["NC3013"]);
    expect(errors([[1, 3, 5], [1, 3, 3]], "pool_grad", { mode: "max", kernel: [2] }).codes).toEqual(["NC3003"]);
  });

  it("gather, gather_grad, iota and rand", () => {
    expect(errors([["V", 8], ["B", "T"]], "gather", {}).shape).toEqual(["B", "T", 8]);
    expect(errors([[5, 8], [3]], "gather", { axis: 2 }).codes).toEqual(["NC3005"]);
    expect(errors([[5, 8], [3]], "gather", { axis: -3 }).codes).toEqual(["NC3005"]);
    expect(errors([["B", "T", 8], ["B", "T"]], "gather_grad", { axis: 0, size: "V" }).shape).toEqual(["V", 8]);
    expect(errors([[2, 3, 8], [2, 4]], "gather_grad", { axis: 0, size: 5 }).codes).toEqual(["NC3003"]);
    expect(errors([[3, 8], [3]], "gather_grad", { axis: 0 }).codes).toEqual(["NC3003"]);
    expect(errors([], "iota", { shape: [2, 3], axis: 2 }).codes).toEqual(["NC3005"]);
    expect(errors([], "iota", { axis: 0 }).codes).toEqual(["NC3003"]);
    expect(errors([[1, 1]], "rand", { shape: ["B", 3] }).shape).toEqual(["B", 3]);
    expect(errors([[2]], "rand", { shape: [3] }).codes).toEqual(["NC3003"]);
    expect(errors([[]], "rand", { shape: [3], salt: 0.5 }).codes).toEqual(["NC3003"]);
  });
});

describe("window op gradients (f64, finite differences)", () => {
  /** loss = sum(op(params) · w) for fixed random w; checks every param's gradient. */
  function check(op: string, shapes: number[][], attrs: Attrs, fixed: Record<number, number[]> = {}, seed = 3) {
    const { g, b, args } = graphWith(shapes, "param");
    const out = b.op(op, args, attrs);
    const w = g.addArg({ role: "label", name: "w" }, { dtype: "f32", shape: out.type.shape }, out.span);
    g.loss = b.op("sum", [b.mul(out, w)], { keepdims: false });
    const dg = autodiff(g, ctx());
    const rand = rng(seed);
    const env = new Map<Value, Tensor>();
    dg.params.forEach((p, i) => env.set(p, fixed[i] ? tensor(shapes[i]!, fixed[i]!) : randomTensor(shapes[i]!, rand)));
    env.set(dg.argNamed("w")!, randomTensor(out.type.shape as number[], rand));
    // Indices are params here only to be fed; their "gradient" is the zero fill autodiff gives.
    dg.grads = dg.grads.filter((_, i) => !fixed[i]);
    expectParamGradients(dg, env, {}, 5);
  }

  it("conv 1-D with stride 3 and asymmetric padding", () => check("conv", [[2, 2, 9], [3, 2, 3]], { strides: [3], pads: [2, 1] }));
  it("conv 3-D with dilation and groups", () =>
    check("conv", [[1, 4, 4, 3, 5], [2, 2, 2, 2, 3]], { pads: [1, 0, 0, 1, 1, 1], dilations: [2, 1, 2], groups: 2 }));
  it("avg pool 2-D with padding, count_pad", () =>
    check("pool", [[2, 2, 5, 4]], { mode: "avg", kernel: [3, 2], strides: [2, 1], pads: [1, 1, 1, 0], count_pad: true }));
  it("avg pool 1-D with ceil mode and dilation", () => check("pool", [[2, 3, 8]], { mode: "avg", kernel: [2], strides: [2], dilations: [2], ceil: true }));
  it("max pool 3-D with padding and ceil mode", () =>
    check("pool", [[1, 2, 4, 5, 3]], { mode: "max", kernel: [2, 3, 2], strides: [2, 2, 1], pads: [0, 1, 1, 1, 0, 0], ceil: true }));
  it("max pool 1-D, overlapping windows with dilation 2", () => check("pool", [[2, 2, 9]], { mode: "max", kernel: [3], dilations: [2], pads: [1, 1] }));
  it("gather on axis 0 with repeated and negative indices (an embedding)", () =>
    check("gather", [[5, 3], [2, 3]], { axis: 0 }, { 1: [1, -1, 1, 0, 4, 2] }));
  it("gather on the last axis", () => check("gather", [[2, 3, 4], [3]], { axis: -1 }, { 1: [3, 0, -4] }));
});

describe("window ops in the IR text form", () => {
  it("a fused graph with every new op prints, parses back to the same text, and verifies", () => {
    const { g, b, args } = graphWith([["B", 3, 7, 9], [5, 3, 3, 2], [5, 1, 1], [], [6, 4], ["B", 5]], "input");
    const [x, w, bias, seed, table, ids] = args as [Value, Value, Value, Value, Value, Value];
    const y = b.op("max", [b.add(b.op("conv", [x, w], { strides: [2, 2], pads: [1, 0, 2, 1], dilations: [1, 1], groups: 1 }), bias), b.const(0)]);
    const p = b.op("pool", [y], { mode: "avg", kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceil: true, count_pad: false });
    const drop = b.mul(p, b.op("rand", [seed], { shape: ["B", 5, 2, 3], salt: 77 }));
    const e = b.op("gather", [table, ids], { axis: 0 });
    const mask = b.op("le", [b.op("iota", [], { shape: [5, 5], axis: -1 }), b.op("iota", [], { shape: [5, 5], axis: -2 })]);
    g.outputs = [
      { name: "p", value: drop },
      { name: "e", value: e },
      { name: "m", value: mask },
    ];
    const fused = fuse(g, ctx());
    const text = printGraph(fused);
    expect(text).toContain("kernel @k0 window {");
    const back = parseGraph(text);
    expect(back.errors).toEqual([]);
    expect(printGraph(back.graph!)).toBe(text);
    expect(() => verifyGraph(back.graph!)).not.toThrow();
  });
});

describe("windows of padding only", () => {
  it("are found without visiting every window, as visiting every window finds them", () => {
    const visit = (out: number, stride: number, before: number, kernel: number, dilation: number, size: number) => {
      for (let o = 0; o < out; o++) {
        const first = o * stride - before;
        let real = false;
        for (let t = 0; t < kernel && !real; t++) real = first + t * dilation >= 0 && first + t * dilation < size;
        if (!real) return o;
      }
      return undefined;
    };
    let cases = 0;
    for (let size = 1; size <= 7; size++)
      for (let kernel = 1; kernel <= 4; kernel++)
        for (let stride = 1; stride <= 3; stride++)
          for (let dilation = 1; dilation <= 5; dilation++)
            for (let before = 0; before <= 6; before++)
              for (let after = 0; after <= 6; after++) {
                const padded = size + before + after;
                const span = (kernel - 1) * dilation + 1;
                if (padded < span) continue;
                for (const out of [Math.floor((padded - span) / stride) + 1, Math.ceil((padded - span) / stride) + 1]) {
                  cases++;
                  expect(paddingOnlyWindow(out, stride, before, kernel, dilation, size), JSON.stringify({ out, stride, before, kernel, dilation, size })).toBe(
                    visit(out, stride, before, kernel, dilation, size),
                  );
                }
              }
    expect(cases).toBeGreaterThan(10_000);
    // 2^30 windows along an axis: answered at once.
    expect(paddingOnlyWindow(2 ** 30, 2, 0, 2, 1, 2 ** 31)).toBeUndefined();
  });
});
