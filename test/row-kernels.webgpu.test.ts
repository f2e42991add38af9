import { describe, expect, it } from "vitest";
import type { Graph, Value } from "../src/ir/graph.js";
import type { Builder } from "../src/ir/ops/builder.js";
import { ROW_ELEMENTS_MAX } from "../src/ir/passes/row-space.js";
import type { Dim, DimBindings } from "../src/ir/types.js";
import { differential as compareOnGpu } from "./util/gpu-differential.js";
import { gpuSuite } from "./util/gpu-suite.js";

// Row kernels (reductions over the same rows and what reads them, one thread a row) and multi
// kernels (independent small kernels in one grid), made by src/ir/passes/fuse-merge.ts: WebGPU
// against the CPU reference, and the kernels they make.

const suite = gpuSuite();

function differential(shapes: Dim[][], build: (b: Builder, xs: Value[]) => Value[], dims: DimBindings = {}, seed = 1): Promise<Graph> {
  return compareOnGpu(suite.gpu, suite.cache, shapes, build, { seed, tol: 1e-5, lo: -2, hi: 2, dims });
}

const kinds = (g: Graph) => g.kernels!.map((k) => k.kind);

function softmax(b: Builder, x: Value, axis: number): Value {
  const m = b.op("max_reduce", [x], { axes: [axis], keepdims: true });
  const e = b.op("exp", [b.sub(x, m)]);
  return b.div(e, b.op("sum", [e], { axes: [axis], keepdims: true }));
}

describe("row kernels vs CPU reference", () => {
  for (const [rows, width] of [[1, 2], [33, 7], [5, 65]] as const)
    it(`softmax over the rows of [${rows}, ${width}]: the max, the sum and the division in one row kernel`, async () => {
      const g = await differential([[rows, width]], (b, [x]) => [softmax(b, x!, 1)]);
      expect(kinds(g)).toEqual(["row"]);
    });

  it("a layer norm over [B, 65] with B = 9 (mean, variance, normalised rows times a gain): one row kernel", async () => {
    const g = await differential(
      [["B", 65], [65]],
      (b, [x, gain]) => {
        const mean = b.op("mean", [x!], { axes: [-1], keepdims: true });
        const d = b.sub(x!, mean);
        const v = b.op("mean", [b.mul(d, d)], { axes: [-1], keepdims: true });
        return [b.mul(b.div(d, b.op("sqrt", [b.add(v, b.const(1e-5))])), gain!)];
      },
      { B: 9 },
    );
    expect(kinds(g)).toEqual(["row"]);
  });

  it("rows over the leading axis: two column sums and x minus the column mean, one thread a column of [33, 7]", async () => {
    const g = await differential([[33, 7]], (b, [x]) => {
      const s = b.op("sum", [x!], { axes: [0] });
      const q = b.op("sum", [b.mul(x!, x!)], { axes: [0] });
      const mean = b.op("mean", [x!], { axes: [0], keepdims: true });
      return [s, q, b.sub(x!, mean)];
    });
    expect(kinds(g)).toEqual(["row"]);
    expect(g.kernels![0]!.extraOutputs?.length).toBe(2);
  });

  it("a row result read by other kernels and a per-row value in two shapes (keepdims or not, through a reshape)", async () => {
    const g = await differential([[7, 5], [5, 3]], (b, [x, w]) => {
      const s = b.op("sum", [b.op("exp", [x!])], { axes: [1] });
      const r = b.op("reshape", [s], { shape: [7, 1] });
      const y = b.div(b.op("exp", [x!]), r);
      return [b.op("matmul", [y, w!]), b.op("log", [s])];
    });
    expect(kinds(g)).toContain("row");
  });

  it("a per-row operand read inside the loops and once at the row (names in both scopes)", async () => {
    const g = await differential([[7, 5], [7, 1]], (b, [x, w]) => {
      const m = b.op("max_reduce", [b.mul(x!, w!)], { axes: [1], keepdims: true });
      const s = b.op("sum", [b.op("exp", [b.sub(b.mul(x!, w!), m)])], { axes: [1], keepdims: true });
      return [b.mul(b.add(b.op("log", [s]), m), w!), b.div(b.op("exp", [b.sub(b.mul(x!, w!), m)]), b.mul(s, w!))];
    });
    expect(kinds(g)).toEqual(["row"]);
  });

  it("a square softmax read transposed: a row value is never read at another row's element", async () => {
    const g = await differential([[7, 7]], (b, [x]) => [b.op("transpose", [softmax(b, x!, 1)], { perm: [1, 0] })]);
    // NOTE: the transpose reads the softmax at other rows: it stays a kernel of its own.
    expect(g.kernels!.length).toBeGreaterThan(1);
  });

  it("a per-row sum of a square [7, 7] added without keepdims lands on columns, as numpy broadcasts it", async () => {
    const g = await differential([[7, 7]], (b, [x]) => [b.add(x!, b.op("sum", [x!], { axes: [1] }))]);
    expect(g.kernels!.length).toBe(2);
  });

  it(`rows longer than ${ROW_ELEMENTS_MAX} elements: reductions share a kernel, element-wise results do not`, async () => {
    const g = await differential([[3, ROW_ELEMENTS_MAX + 77]], (b, [x]) => [softmax(b, x!, 1)]);
    expect(kinds(g)).toEqual(["row", "elementwise"]);
  });
});

describe("multi kernels vs CPU reference", () => {
  it("independent small reductions and an elementwise kernel share one dispatch", async () => {
    const g = await differential([[5, 7], [9], [3, 4], [6]], (b, [a, c, d, e]) => [
      b.op("sum", [a!], { axes: [0] }),
      b.op("max_reduce", [c!], {}),
      b.neg(b.op("mean", [b.mul(d!, d!)], { axes: [1] })),
      b.op("tanh", [e!]),
    ]);
    expect(kinds(g)).toEqual(["multi"]);
  });

  it("a reduction that reads another stays after it, in a kernel of its own", async () => {
    const g = await differential([[5, 7]], (b, [a]) => {
      const s = b.op("sum", [a!], { axes: [0] });
      return [s, b.op("max_reduce", [b.mul(s, s)], {})];
    });
    expect(g.kernels!.length).toBe(2);
  });
});
