import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import type { Builder } from "../src/ir/ops.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { sharedGpu, type GpuContext } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { ctx, graphWith, randomTensor, rng } from "./util/build.js";

let gpu: GpuContext;
let cache: PipelineCache;
beforeAll(async () => {
  const got = await sharedGpu();
  if (!got) throw new Error("no WebGPU adapter: run `npm run setup` (this suite compares WebGPU with the CPU reference)");
  gpu = got;
  cache = new PipelineCache(gpu.device);
});
afterAll(() => {
  expect(gpu.errors ?? []).toEqual([]);
});

/**
 * Builds a graph over inputs of `shapes`, fuses it, runs it on WebGPU and on the CPU reference
 * (f32), and compares every output within `tol` (relative to max(1, |expected|)).
 */
async function differential(shapes: number[][], build: (b: Builder, xs: Value[]) => Value[], seed = 1, tol = 1e-5, lo = -1, hi = 1) {
  const { g, b, args } = graphWith(shapes, "input");
  const outs = build(b, args);
  g.outputs = outs.map((value, i) => ({ name: `o${i}`, value }));
  const fused: Graph = fuse(g, ctx());
  const rand = rng(seed);
  const data = shapes.map((s) => randomTensor(s, rand, lo, hi));
  const batch = Object.fromEntries(data.map((t, i) => [`p${i}`, Float32Array.from(t.data)]));
  const runner = await WebGpuRunner.create(gpu, fused, {}, {}, undefined, cache);
  await runner.step(batch, false);
  const env = interpret(
    fused,
    new Map<Value, Tensor>(fused.args.map((a, i) => [a, { shape: data[i]!.shape, data: Float32Array.from(data[i]!.data) }])),
    { dims: {}, precision: "f32" },
  );
  for (const o of fused.outputs) {
    const got = await runner.read(o.value);
    const want = env.get(o.value)!.data;
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
    expect(worst, `${o.name} worst relative error`).toBeLessThan(tol);
  }
  runner.dispose();
  return fused;
}

const SIZES = [1, 7, 33, 65];

describe("elementwise kernels (fused, broadcasting) vs CPU reference", () => {
  for (const m of SIZES)
    for (const n of [1, 7, 65]) {
      it(`sigmoid(x * w + b) - tanh(x) on [${m},${n}] with w [1,${n}], b [${n}]`, async () => {
        const fused = await differential([[m, n], [1, n], [n]], (b, [x, w, bias]) => [
          b.sub(b.op("sigmoid", [b.add(b.mul(x!, w!), bias!)]), b.op("tanh", [x!])),
        ]);
        expect(fused.kernels!.length).toBe(1);
      });
    }

  it("every elementwise op in one kernel, on [33, 7] with a [7] operand", async () => {
    const fused = await differential(
      [[33, 7], [7]],
      (b, [x, y]) => {
        const ax = b.op("abs", [x!]);
        const pos = b.add(ax, b.const(0.5));
        let v = b.op("exp", [b.neg(x!)]);
        v = b.add(v, b.op("log", [pos]));
        v = b.add(v, b.op("sqrt", [pos]));
        v = b.add(v, b.op("pow", [pos, y!]));
        v = b.add(v, b.op("max", [x!, y!]));
        v = b.add(v, b.op("min", [x!, y!]));
        v = b.add(v, b.div(x!, pos));
        v = b.add(v, b.op("select", [b.op("lt", [x!, y!]), x!, y!]));
        v = b.add(v, b.op("le", [x!, y!]));
        v = b.add(v, b.op("eq", [x!, x!]));
        v = b.add(v, b.op("erf", [x!]));
        v = b.add(v, b.op("tanh", [y!]));
        v = b.add(v, b.op("sigmoid", [y!]));
        return [v];
      },
      3,
    );
    expect(fused.kernels!.length).toBe(1);
  });

  it("broadcast to a larger shape, and a value used twice inside one kernel", async () => {
    await differential([[5, 1]], (b, [x]) => {
      const s = b.op("sigmoid", [x!]);
      return [b.mul(b.op("broadcast", [s], { shape: [2, 5, 9] }), b.sub(b.const(1), s))];
    });
  });
});

describe("reduce kernels with fused prologues vs CPU reference", () => {
  const cases: [string, number[], Record<string, unknown>][] = [
    ["sum", [65, 33], { axes: [0] }],
    ["sum", [7, 65], { axes: [1], keepdims: true }],
    ["sum", [3, 7, 5], { axes: [0, 2] }],
    ["sum", [33, 7], {}],
    ["mean", [65, 7], { axes: [0] }],
    ["mean", [1, 1], {}],
    ["max_reduce", [7, 33], { axes: [-1] }],
    ["max_reduce", [3, 5, 7], { axes: [1] }],
  ];
  for (const [op, shape, attrs] of cases) {
    it(`${op} ${JSON.stringify(attrs)} of exp(x) - y on [${shape}]`, async () => {
      const fused = await differential([shape, [shape.at(-1)!]], (b, [x, y]) => [
        b.op(op, [b.sub(b.op("exp", [x!]), y!)], attrs as never),
      ]);
      expect(fused.kernels!.length).toBe(1);
      expect(fused.kernels![0]!.kind).toBe("reduce");
    });
  }
});

describe("matmul kernels vs CPU reference", () => {
  for (const [m, k, n] of [
    [1, 1, 1],
    [7, 33, 65],
    [65, 7, 33],
    [33, 65, 7],
  ] as const)
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`${m}x${k} @ ${k}x${n} ta=${ta} tb=${tb}`, async () => {
        await differential([ta ? [k, m] : [m, k], tb ? [n, k] : [k, n]], (b, [x, y]) => [b.op("matmul", [x!, y!], { ta, tb })], 5, 1e-4);
      });
    }
});

describe("matmul with a fused elementwise epilogue vs CPU reference", () => {
  for (const [m, k, n] of [
    [1, 3, 1],
    [7, 33, 65],
    [65, 7, 33],
  ] as const) {
    it(`sigmoid(x @ w + b) on ${m}x${k} @ ${k}x${n} is one kernel`, async () => {
      const fused = await differential([[m, k], [k, n], [n]], (b, [x, w, bias]) => [
        b.op("sigmoid", [b.add(b.op("matmul", [x!, w!]), bias!)]),
      ]);
      expect(fused.kernels!.map((kk) => kk.kind)).toEqual(["contraction"]);
    });
    it(`(g @ wᵀ) * h * (1 - h) on ${m}x${n} @ (${k}x${n})ᵀ, the backward of a sigmoid layer`, async () => {
      const fused = await differential([[m, n], [k, n], [m, k]], (b, [g, w, h]) => [
        b.mul(b.mul(b.op("matmul", [g!, w!], { tb: true }), h!), b.sub(b.const(1), h!)),
      ]);
      expect(fused.kernels!.map((kk) => kk.kind)).toEqual(["contraction"]);
    });
  }

  it("an epilogue reading the matmul's own operand binds it again, read-only", async () => {
    await differential([[5, 5], [5, 5]], (b, [x, w]) => [b.add(b.op("matmul", [x!, w!]), x!)]);
  });
});

describe("batched matmul vs CPU reference", () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ["dense on [3,7,5] @ [5,4] (rows folded)", [3, 7, 5], [5, 4], false, false],
    ["[3,7,5]ᵀ-per-batch @ [7,4]: A transposed, B shared", [3, 7, 5], [7, 4], true, false],
    ["[2,3,7,5] @ [2,3,5,6]", [2, 3, 7, 5], [2, 3, 5, 6], false, false],
    ["[4,7,5] @ [4,6,5]ᵀ (attention scores)", [4, 7, 5], [4, 6, 5], false, true],
    ["[4,5,7]ᵀ @ [4,5,6]", [4, 5, 7], [4, 5, 6], true, false],
    ["shared A: [7,5] @ [3,5,6]", [7, 5], [3, 5, 6], false, false],
  ];
  for (const [name, sa, sb, ta, tb] of cases)
    it(name, async () => {
      await differential([sa, sb], (b, [x, y]) => [b.op("matmul", [x!, y!], { ta, tb })], 9, 1e-4);
    });

  it("batched matmul with a fused epilogue: relu(x @ w + bias) on [5,33,7] @ [7,65]", async () => {
    const fused = await differential([[5, 33, 7], [7, 65], [65]], (b, [x, w, bias]) => [
      b.op("max", [b.add(b.op("matmul", [x!, w!]), bias!), b.const(0)]),
    ]);
    expect(fused.kernels!.map((k) => k.kind)).toEqual(["contraction"]);
  });

  it("batched matmul with a per-batch epilogue input: (q @ kᵀ) * mask on [3,4,5] @ [3,6,5]", async () => {
    await differential([[3, 4, 5], [3, 6, 5], [3, 4, 6]], (b, [q, k, mask]) => [b.mul(b.op("matmul", [q!, k!], { tb: true }), mask!)]);
  });
});
