import type { Attrs } from "../src/ir/graph.js";
import type { Tensor } from "../src/ir/interp.js";
import type { OpName } from "../src/ir/ops/registry.js";
import { randomTensor, rng } from "./util/build.js";

/**
 * One row per registry op, shared by test/ops.test.ts (shape rule, finite-difference gradient on
 * the CPU reference) and test/ops.webgpu.test.ts (WebGPU against the CPU reference). Typed by
 * OpName, so tsc points here when an op is added. Sizes are odd (3, 5, 7 ...) so no kernel's
 * workgroup or tile divides them evenly.
 */
export interface OpCase {
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
  /** Fixed values for some inputs (indices, seeds), by position. */
  data?: Record<number, number[]>;
}

/** Stride 2, asymmetric padding and dilation 2 on H; groups of 2 channels. */
const CONV: Attrs = { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [2, 1], groups: 2 };
/** Padding and ceil mode on a max pool. */
const MAXPOOL: Attrs = { mode: "max", kernel: [3, 2], strides: [2, 2], pads: [1, 1, 0, 1], ceil: true };

/** Every registry op's case. */
export const OP_CASES: Record<OpName, OpCase> = {
  const: { shapes: [], attrs: { value: 2.5 }, out: [], nondiff: true },
  size: { shapes: [], attrs: { dims: [3, 5] }, out: [], nondiff: true },
  // iota along the last axis of [3, 5]; rand from the seed 12345 with salt 7.
  iota: { shapes: [], attrs: { shape: [3, 5], axis: -1 }, out: [3, 5], nondiff: true },
  rand: { shapes: [[]], attrs: { shape: [3, 5], salt: 7 }, out: [3, 5], nondiff: true, data: { 0: [12345] } },
  neg: { shapes: [[3, 5]], out: [3, 5] },
  abs: { shapes: [[3, 5]], out: [3, 5] },
  exp: { shapes: [[3, 5]], out: [3, 5] },
  log: { shapes: [[3, 5]], out: [3, 5], lo: 0.5, hi: 2 },
  sqrt: { shapes: [[3, 5]], out: [3, 5], lo: 0.5, hi: 2 },
  tanh: { shapes: [[3, 5]], out: [3, 5] },
  erf: { shapes: [[3, 5]], out: [3, 5], lo: -2, hi: 2 },
  sigmoid: { shapes: [[3, 5]], out: [3, 5] },
  add: { shapes: [[3, 5], [5]], out: [3, 5] },
  sub: { shapes: [[3, 1], [1, 5]], out: [3, 5] },
  mul: { shapes: [[7, 5], [7, 1]], out: [7, 5] },
  div: { shapes: [[3, 5], [3, 5]], out: [3, 5], lo: 0.5, hi: 2 },
  pow: { shapes: [[3, 5], [5]], out: [3, 5], lo: 0.5, hi: 2 },
  max: { shapes: [[5, 5], [5]], out: [5, 5] },
  min: { shapes: [[5, 5], [5, 1]], out: [5, 5] },
  // Its gradient is zero by definition, not the derivative finite differences would measure.
  stop_gradient: { shapes: [[3, 5]], out: [3, 5], nondiff: true },
  lt: { shapes: [[3, 5], [5]], out: [3, 5], nondiff: true },
  le: { shapes: [[3, 5], [3, 5]], out: [3, 5], nondiff: true },
  // Fixed values with ties, so equality happens at all.
  eq: { shapes: [[3, 5], [3, 5]], out: [3, 5], nondiff: true, data: { 0: [0, 0.5, 1, 0.5, 0, -0.5, 0.25, 1, 0, 0.5, 0, 0, 0.25, 1, 0], 1: [0, 0.5, 0, 0, 0.5, -0.5, 0.25, 1, 1, 0.5, 0, 0.5, 0, 1, 0] } },
  select: { shapes: [[3, 5], [3, 5], [5]], out: [3, 5], noGrad: [0] },
  sum: { shapes: [[3, 5, 7]], attrs: { axes: [0, 2] }, out: [5] },
  mean: { shapes: [[3, 5, 7]], attrs: { axes: [1], keepdims: true }, out: [3, 1, 7] },
  max_reduce: { shapes: [[3, 7]], attrs: { axes: [-1] }, out: [3] },
  matmul: { shapes: [[3, 7], [7, 5]], out: [3, 5] },
  reshape: { shapes: [[3, 10]], attrs: { shape: [5, 6] }, out: [5, 6] },
  broadcast: { shapes: [[3, 1]], attrs: { shape: [2, 3, 5] }, out: [2, 3, 5] },
  transpose: { shapes: [[2, 3, 5]], attrs: { perm: [2, 0, 1] }, out: [5, 2, 3] },
  slice: { shapes: [[5, 7]], attrs: { starts: [0, 1], ends: [5, -1], axes: [0, 1], steps: [2, 1] }, out: [3, 5] },
  pad: { shapes: [[3, 5]], attrs: { pads: [1, 2, 0, 1], value: 0.5 }, out: [6, 6] },
  concat: { shapes: [[3, 3], [3, 1], [3, 5]], attrs: { axis: 1 }, out: [3, 9] },
  // H: (7 + 1 + 0 - 5) / 2 + 1 = 2; W: (6 + 2 + 1 - 2) / 1 + 1 = 8.
  conv: { shapes: [[2, 4, 7, 6], [4, 2, 3, 2]], attrs: CONV, out: [2, 4, 2, 8] },
  conv_grad_input: { shapes: [[2, 4, 2, 8], [4, 2, 3, 2]], attrs: { ...CONV, input: [7, 6] }, out: [2, 4, 7, 6] },
  conv_grad_weight: { shapes: [[2, 4, 7, 6], [2, 4, 2, 8]], attrs: { ...CONV, kernel: [3, 2] }, out: [4, 2, 3, 2] },
  // H: ceil((5 + 2 - 3) / 2) + 1 = 3; W: ceil((6 + 1 - 2) / 2) + 1 = 4, but the last window would start past the input: 3.
  pool: { shapes: [[2, 3, 5, 6]], attrs: MAXPOOL, out: [2, 3, 3, 3] },
  pool_grad: { shapes: [[2, 3, 5, 6], [2, 3, 3, 3]], attrs: MAXPOOL, out: [2, 3, 5, 6], nondiff: true },
  gather: { shapes: [[3, 5, 2], [4]], attrs: { axis: 1 }, out: [3, 4, 2], noGrad: [1], data: { 1: [4, -1, 0, 2] } },
  gather_grad: { shapes: [[3, 4, 2], [4]], attrs: { axis: -2, size: 5 }, out: [3, 5, 2], noGrad: [1], data: { 1: [4, -1, 0, 4] } },
};

/** The inputs of a case: its fixed data, 0/1 conditions at noGrad positions, the rest uniform in [lo, hi). */
export function caseInputs(c: OpCase, seed: number): Tensor[] {
  const rand = rng(seed);
  return c.shapes.map((s, i) =>
    c.data?.[i]
      ? { shape: s, data: Float64Array.from(c.data[i]!) }
      : c.noGrad?.includes(i)
      ? { shape: s, data: Float64Array.from(randomTensor(s, rand).data, (x) => (x > 0 ? 1 : 0)) }
      : randomTensor(s, rand, c.lo ?? -1, c.hi ?? 1),
  );
}
