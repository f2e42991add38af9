import { planOf } from "../src/codegen/plan.js";
import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions } from "../src/codegen/wgsl.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph, Value } from "../src/ir/graph.js";
import type { Builder } from "../src/ir/ops/builder.js";
import { OPS } from "../src/ir/ops/registry.js";
import { sharedGpu, type GpuContext } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { batches, initialParams } from "../src/runtime/train.js";
import type { Dim, DimBindings } from "../src/ir/types.js";
import { differential as compareOnGpu } from "./util/gpu-differential.js";

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

/** WebGPU against the CPU reference (see test/util/gpu-differential.ts), with this file's device. */
function differential(
  shapes: Dim[][],
  build: (b: Builder, xs: Value[]) => Value[],
  seed = 1,
  tol = 1e-5,
  lo = -1,
  hi = 1,
  dims: DimBindings = {},
  codegen: CodegenOptions = DEFAULT_CODEGEN,
): Promise<Graph> {
  return compareOnGpu(gpu, cache, shapes, build, { seed, tol, lo, hi, dims, codegen });
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

describe("kernels past 65,535 workgroups in one dimension vs CPU reference", () => {
  // NOTE: codegen folds the grid over x and y and the kernel recomputes the linear index; a
  // wrong fold shows as a block of zeros or a repeated block against the reference.
  it("an elementwise kernel over 65,535 x 64 + 5 elements (a 4.2 M-value update) runs on a 2-D grid", async () => {
    const n = 65535 * 64 + 5;
    const oneEach = { ...DEFAULT_CODEGEN, elementwise: { threads: 64, perThread: 1 } };
    const fused = await differential([[n], [n]], (b, [w, g]) => [b.sub(w!, b.mul(b.const(0.1), b.op("tanh", [g!])))], 7, 1e-5, -1, 1, {}, oneEach);
    const { workgroups } = generateKernel(fused.kernels![0]!, {}, oneEach);
    expect(workgroups[0]).toBeLessThanOrEqual(65535);
    expect(workgroups[1]).toBe(2);
    expect(workgroups[0] * workgroups[1] * 64).toBeGreaterThanOrEqual(n);
  });

  it("with 1-thread workgroups: a reduce over 70,001 rows and an elementwise kernel over 200,003 values", async () => {
    const small = { ...DEFAULT_CODEGEN, workgroupSize: 1, elementwise: { threads: 1, perThread: 1 } };
    const red = await differential([[70001, 3]], (b, [x]) => [b.op("sum", [b.op("exp", [x!])], { axes: [1] })], 2, 1e-5, -1, 1, {}, small);
    expect(generateKernel(red.kernels![0]!, {}, small).workgroups).toEqual([35001, 2, 1]);
    const ew = await differential([[200003]], (b, [x]) => [b.op("sigmoid", [x!])], 3, 1e-5, -1, 1, {}, small);
    expect(generateKernel(ew.kernels![0]!, {}, small).workgroups).toEqual([50001, 4, 1]);
  });

  it("with 1-thread workgroups of 3 elements each: an elementwise kernel over 200,003 values (a partial last step)", async () => {
    const three = { ...DEFAULT_CODEGEN, elementwise: { threads: 1, perThread: 3 } };
    const ew = await differential([[200003]], (b, [x]) => [b.op("sigmoid", [x!])], 3, 1e-5, -1, 1, {}, three);
    expect(generateKernel(ew.kernels![0]!, {}, three).workgroups).toEqual([33334, 2, 1]);
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
  it("a reduction's epilogue fuses into its kernel: tanh(sum(exp(x) - y, rows) * z + 1), b - 0.1 * sum(g, cols), -mean(x^2)", async () => {
    for (const m of [7, 65]) {
      const rows = await differential([[m, 33], [33], [m]], (b, [x, y, z]) => {
        const s = b.op("sum", [b.sub(b.op("exp", [x!]), y!)], { axes: [1] });
        return [b.op("tanh", [b.add(b.mul(s, z!), b.const(1))])];
      });
      expect(rows.kernels!.map((k) => k.kind)).toEqual(["reduce"]);
      const update = await differential([[m, 33], [33]], (b, [g, bias]) => [b.sub(bias!, b.mul(b.const(0.1), b.op("sum", [g!], { axes: [0] })))]);
      expect(update.kernels!.map((k) => k.kind)).toEqual(["reduce"]);
      const loss = await differential([[m, 33]], (b, [x]) => [b.neg(b.op("mean", [b.mul(x!, x!)], {}))]);
      expect(loss.kernels!.map((k) => k.kind)).toEqual(["reduce"]);
    }
  });
  it("a value feeding both a reduction and its epilogue is its own kernel: sum(exp(x), rows) + exp(x)[:, 0]", async () => {
    const g = await differential([[7, 5], [7, 1]], (b, [x, w]) => {
      const e = b.op("exp", [b.mul(x!, w!)]);
      const s = b.op("sum", [e], { axes: [1], keepdims: true });
      return [b.add(s, b.op("slice", [e], { starts: [0], ends: [1], axes: [1] }))];
    });
    expect(g.kernels!.length).toBe(2);
  });
  // NOTE: one f32 accumulator over 200,000 equal squares rounds the same way at every add and
  // drifts by tenths of a percent (found by the fuzzer: mse of a 100,000-wide output whose columns
  // were equal); chunked, it stays within 1e-5 of the CPU's f64 sum.
  it("mean and sum of x^2 over 200,000 equal values, whole or per row of [2, 100000], match the CPU to 1e-5", async () => {
    for (const [shape, attrs] of [[[200000], {}], [[2, 100000], { axes: [0, 1] }], [[2, 100000], { axes: [1] }]] as const) {
      for (const op of ["mean", "sum"]) {
        const fused = await differential([[...shape]], (b, [x]) => {
          const r = b.op(op, [b.mul(x!, x!)], attrs as never);
          // NOTE: sums are compared relative to their count, as means are.
          return [op === "sum" ? b.mul(r, b.const(1 / 2e5)) : r];
        }, 3, 1e-5, 0.7, 0.7);
        expect(fused.kernels!.some((k) => k.kind === "reduce")).toBe(true);
      }
    }
  });
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

describe("movement kernels (transpose, slice, pad, concat) vs CPU reference", () => {
  const kinds = (f: Graph) => f.kernels!.map((k) => k.kind);
  for (const m of SIZES) {
    it(`transpose [${m},7] and [3,${m},5] -> [5,3,${m}], each its own kernel`, async () => {
      const fused = await differential([[m, 7], [3, m, 5]], (b, [x, y]) => [
        b.op("transpose", [x!], {}),
        b.op("transpose", [y!], { perm: [2, 0, 1] }),
      ]);
      expect(kinds(fused)).toEqual(["movement", "movement"]);
    });
    it(`slice [${m},65] rows from 1 (or 0), every 3rd column from -64`, async () => {
      const fused = await differential([[m, 65]], (b, [x]) => [
        b.op("slice", [x!], { starts: [m > 1 ? 1 : 0, -64], ends: [m, 65], axes: [0, 1], steps: [1, 3] }),
      ]);
      expect(kinds(fused)).toEqual(["movement"]);
    });
    it(`pad [${m},7] by (1, 2) rows and (0, 3) columns with 0.5`, async () => {
      await differential([[m, 7]], (b, [x]) => [b.op("pad", [x!], { pads: [1, 2, 0, 3], value: 0.5 })]);
    });
    it(`concat [${m},3], [${m},33], [${m},1] on the last axis, and [1,7], [${m},7] on the first`, async () => {
      const fused = await differential([[m, 3], [m, 33], [m, 1], [1, 7], [m, 7]], (b, [a, c, d, e, f]) => [
        b.op("concat", [a!, c!, d!], { axis: -1 }),
        b.op("concat", [e!, f!, e!], { axis: 0 }),
      ]);
      expect(kinds(fused)).toEqual(["movement", "movement"]);
    });
  }

  it("a symbolic leading dim bound at run time (B = 33): every movement op on [B, 7] and [B, 5]", async () => {
    await differential(
      [["B", 7], ["B", 5]],
      (b, [x, y]) => [
        b.op("concat", [x!, y!], { axis: -1 }),
        b.op("slice", [x!], { starts: [2], ends: [7], axes: [1], steps: [2] }),
        b.op("pad", [y!], { pads: [3, 1], value: -2 }),
        b.op("transpose", [x!], {}),
      ],
      4,
      1e-5,
      -1,
      1,
      { B: 33 },
    );
  });

  it("a concat of 13 inputs is split so no kernel binds more than 8 buffers", async () => {
    const shapes = Array.from({ length: 13 }, (_, k) => [5, 1 + (k % 3)]);
    const fused = await differential(shapes, (b, xs) => [b.op("concat", xs, { axis: 1 })]);
    // 7 inputs joined first, then that and the other 6.
    expect(fused.kernels!.map((k) => k.inputs.length)).toEqual([7, 7]);
  });

  it("a 4-D transpose with size-1 axes: [2,1,7,3] -> [3,2,7,1]", async () => {
    await differential([[2, 1, 7, 3]], (b, [x]) => [b.op("transpose", [x!], { perm: [3, 0, 2, 1] })]);
  });
});

describe("movement fused with elementwise and reductions vs CPU reference", () => {
  const kinds = (f: Graph) => f.kernels!.map((k) => k.kind);

  it("exp(transpose(x)) * y reads x at transposed indices inside one elementwise kernel", async () => {
    const fused = await differential([[7, 33], [33, 7]], (b, [x, y]) => [b.mul(b.op("exp", [b.op("transpose", [x!], {})]), y!)]);
    expect(kinds(fused)).toEqual(["elementwise"]);
  });

  it("transpose(sigmoid(x) + b) fuses its elementwise producers into one movement kernel", async () => {
    const fused = await differential([[65, 7], [7]], (b, [x, bias]) => [
      b.op("transpose", [b.add(b.op("sigmoid", [x!]), bias!)], {}),
    ]);
    expect(kinds(fused)).toEqual(["movement"]);
  });

  it("concat(tanh(a), b * c, pad(d)) + 1 is one kernel", async () => {
    const fused = await differential([[33, 3], [33, 4], [4], [33, 1]], (b, [a, x, c, d]) => [
      b.add(b.op("concat", [b.op("tanh", [a!]), b.mul(x!, c!), b.op("pad", [d!], { pads: [1, 0], value: 1 })], { axis: 1 }), b.const(1)),
    ]);
    expect(kinds(fused)).toEqual(["elementwise"]);
  });

  it("sum over a slice of exp(x): the view is part of the reduction's prologue", async () => {
    const fused = await differential([[65, 33]], (b, [x]) => [
      b.op("sum", [b.op("slice", [b.op("exp", [x!])], { starts: [3, 1], ends: [60, 33], axes: [0, 1], steps: [2, 1] })], { axes: [1] }),
    ]);
    expect(kinds(fused)).toEqual(["reduce"]);
  });

  it("x + transpose(x) with x = exp(p): a value read at two indices is materialised, not recomputed", async () => {
    const fused = await differential([[7, 7]], (b, [p]) => {
      const x = b.op("exp", [p!]);
      return [b.add(x, b.op("transpose", [x], {}))];
    });
    expect(kinds(fused)).toEqual(["elementwise", "elementwise"]);
  });

  it("a transpose of a matmul's result runs after the matmul; a transposed bias fuses into its epilogue", async () => {
    const fused = await differential([[7, 33], [33, 7], [7, 7]], (b, [x, w, c]) => [
      b.op("transpose", [b.op("matmul", [x!, w!])], {}),
      b.add(b.op("matmul", [x!, w!]), b.op("transpose", [c!], {})),
    ], 2, 1e-4);
    expect(kinds(fused)).toEqual(["contraction", "movement", "contraction"]);
  });

  it("the operands of a matmul that roots its kernel stay outside it: x @ exp(w), x @ transpose(v)", async () => {
    const fused = await differential([[7, 5], [5, 33], [33, 5]], (b, [x, w, v]) => [
      b.op("matmul", [x!, b.op("exp", [w!])]),
      b.op("matmul", [x!, b.op("transpose", [v!], {})]),
    ], 2, 1e-4);
    expect(kinds(fused)).toEqual(["elementwise", "contraction", "movement", "contraction"]);
  });

  it("slice, transpose and pad chained over an elementwise expression, as one kernel", async () => {
    const fused = await differential([[9, 65], [65]], (b, [x, y]) => [
      b.op("pad", [b.op("transpose", [b.op("slice", [b.mul(x!, y!)], { starts: [1, 0], ends: [8, 65], steps: [3, 2] })], {})], {
        pads: [2, 1, 0, 2],
        value: 0,
      }),
    ]);
    expect(kinds(fused)).toEqual(["movement"]);
  });
});

describe("movement gradients vs CPU reference", () => {
  // Each op's gradient rule applied to an upstream gradient g, fused and run on WebGPU.
  const cases: [string, number[], Record<string, unknown>][] = [
    ["transpose", [7, 33, 5], { perm: [1, 2, 0] }],
    ["slice", [65, 7], { starts: [1, 2], ends: [64, 7], axes: [0, 1], steps: [3, 2] }],
    ["pad", [33, 7], { pads: [2, 1, 0, 5], value: 3 }],
  ];
  for (const [op, shape, attrs] of cases)
    it(`d ${op} ${JSON.stringify(attrs)} on [${shape}]`, async () => {
      await differential([shape, [1]], (b, [x]) => {
        const out = b.op(op, [x!], attrs as never);
        const g = b.op("exp", [b.op("broadcast", [b.const(0.5)], { shape: out.type.shape })]);
        return OPS[op as "slice"].grad!(b, b.mul(g, out), [x!], out, attrs as never).filter((v) => v !== undefined) as Value[];
      });
    });

  it("d concat: slices of g for each input", async () => {
    await differential([[7, 3], [7, 33], [7, 1]], (b, xs) => {
      const out = b.op("concat", xs, { axis: 1 });
      return OPS.concat.grad(b, b.op("sigmoid", [out]), xs, out, { axis: 1 }) as Value[];
    });
  });
});

describe("a training step through movement functions: WebGPU vs the CPU runner", () => {
  it("transpose, slice, pad, concat, flatten and reshape in one network, one sgd step", async () => {
    const text = `network n {
  input x: f32[B, 6]
  param w: f32[3, 4] = normal(std = 0.5)
  param v: f32[3, 2] = normal(std = 0.5)
  h = transpose(reshape(x, [-1, 3, 2]), perm = [0, 2, 1])
  a = slice(h, 0, 2, axis = 2) |> flatten
  c = concat(a, pad(slice(x, 1, 3, axis = 1), [1, 1]), axis = -1)
  output y = tanh(c @ transpose(concat(w, w, axis = 1)) @ v)
}
train {
  loss = mse(y, t)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data {
    x = [[0.5, -1, 2, 0.1, 0.2, 0.3], [1, 0.25, -0.5, 0, 1, 2], [-1.5, 1, 0.75, 3, -1, 0.5]]
    t = [[0.3, -0.2], [0.9, 0.1], [-0.4, 0.5]]
  }
}`;
    const c = compile(text, "move.net");
    expect(c.diagnostics.render()).toBe("");
    const g = c.graph!;
    const { dims } = bindBatch(g, 3);
    const init = initialParams(g, dims, 2);
    const batch = { ...batches(c.train!.data, 3)[0]!, lr: Float32Array.of(0.1) };
    const cpu = new CpuRunner(g, dims, init);
    const gpuRunner = await WebGpuRunner.create(gpu, planOf(g), dims, init, cache);
    const lossCpu = await cpu.step(batch, true);
    const lossGpu = await gpuRunner.step(batch, true);
    expect(lossGpu!).toBeCloseTo(lossCpu!, 5);
    const [pc, pg] = [await cpu.params(), await gpuRunner.params()];
    for (const name of ["w", "v"]) pg[name]!.forEach((x, i) => expect(x, `${name}[${i}]`).toBeCloseTo(pc[name]![i]!, 5));
    expect(g.kernels!.some((k) => k.kind === "movement")).toBe(true);
    gpuRunner.dispose();
  });
});
