import type { Attrs } from "../graph.js";
import { formatShape, numel, type Dim, type TensorType } from "../types.js";
import type { OpFamily } from "./types.js";

/**
 * matmul: the product over the last two axes, with transposes (`ta`, `tb`), batched over leading
 * axes. Its kernel is a whole template (codegen/kernels/matmul.ts) that reads the same layout.
 */

/** Rows, the contracted dim as each side has it, columns and the batch dims of op(A) · op(B). */
export function matmulDims<D extends Dim>(a: readonly D[], b: readonly D[], attrs: Attrs): { m: D; ka: D; kb: D; n: D; batchA: D[]; batchB: D[] } {
  // The last two dims of `s` as (rows, columns) of op(s).
  const matrix = (s: readonly D[], transposed: boolean): [D, D] => {
    const [rows, cols] = [s[s.length - 2] as D, s[s.length - 1] as D];
    return transposed ? [cols, rows] : [rows, cols];
  };
  const [m, ka] = matrix(a, attrs["ta"] === true);
  const [kb, n] = matrix(b, attrs["tb"] === true);
  return { m, ka, kb, n, batchA: a.slice(0, -2), batchB: b.slice(0, -2) };
}

/** A typed matmul on concrete shapes, as the CPU reference and the kernel template lay it out. */
export interface MatmulLayout {
  m: number;
  k: number;
  n: number;
  ta: boolean;
  tb: boolean;
  /** The result's batch dims and their product. */
  batchShape: number[];
  batch: number;
  /** Elements between one batch's matrix and the next: 0 for a side without batch dims (shared by the batch). */
  strideA: number;
  strideB: number;
}

/** The layout of a typed matmul of `a` and `b`. */
export function matmulLayout(a: readonly number[], b: readonly number[], attrs: Attrs): MatmulLayout {
  const { m, ka: k, n, batchA, batchB } = matmulDims(a, b, attrs);
  const batchShape = batchA.length ? batchA : batchB;
  return {
    m,
    k,
    n,
    ta: attrs["ta"] === true,
    tb: attrs["tb"] === true,
    batchShape,
    batch: numel(batchShape),
    strideA: batchA.length ? m * k : 0,
    strideB: batchB.length ? k * n : 0,
  };
}

/** The matmul entry of OPS. */
export const MATMUL_OPS = {
  /**
   * Matrix product over the last two axes, with transposes, batched over leading axes (numpy's
   * matmul): both sides carry the same batch dims, or one side has none and is shared by the batch.
   */
  matmul: {
    kind: "contraction",
    arity: 2,
    call: { name: "matmul", params: ["a", "b"] },
    infer: (ins, attrs, ctx) => {
      const [a, b] = ins as [TensorType, TensorType];
      if (a.shape.length < 2 || b.shape.length < 2) {
        ctx.error("NC3004", { op: "matmul", expected: "2 or more", got: Math.min(a.shape.length, b.shape.length) });
        return undefined;
      }
      for (const [t, side] of [[a, "the left operand"], [b, "the right operand"]] as const) {
        if (t.dtype === "f32" || t.dtype === "f16") continue;
        ctx.error("NC3021", { op: "matmul", expected: "floating-point values (f32 or f16)", operand: side, got: t.dtype });
        return undefined;
      }
      const { m, ka, kb, n, batchA, batchB } = matmulDims(a.shape, b.shape, attrs);
      if (ctx.unify(ka, kb) === undefined) {
        ctx.error("NC3002", { a: formatShape(a.shape), b: formatShape(b.shape), da: String(ka), db: String(kb) });
        return undefined;
      }
      if (batchA.length && batchB.length) {
        const same = batchA.length === batchB.length && batchA.every((d, i) => ctx.unify(d, batchB[i]!) !== undefined);
        if (!same) {
          ctx.error("NC3011", { a: formatShape(a.shape), b: formatShape(b.shape) });
          return undefined;
        }
      }
      return { dtype: a.dtype, shape: [...(batchA.length ? batchA : batchB), m, n] };
    },
    cpu: ([a, b], out, attrs) => {
      const { m, k, n, ta, tb, batch, strideA, strideB } = matmulLayout(a!.shape, b!.shape, attrs);
      for (let bi = 0; bi < batch; bi++) {
        const oa = bi * strideA;
        const ob = bi * strideB;
        const oc = bi * m * n;
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += a!.data[oa + (ta ? p * m + i : i * k + p)]! * b!.data[ob + (tb ? j * k + p : p * n + j)]!;
            out.data[oc + i * n + j] = s;
          }
      }
    },
    grad: (b, g, [x, y], _o, attrs) => {
      const ta = attrs["ta"] === true;
      const tb = attrs["tb"] === true;
      // C = op(A) op(B): dA = g op(B)ᵀ (transposed back if A was), dB likewise. A side without
      // batch dims gets a batched gradient here, which the driver sums over the batch.
      const da = ta ? b.op("matmul", [y!, g], { ta: tb, tb: true }) : b.op("matmul", [g, y!], { ta: false, tb: !tb });
      const db = tb ? b.op("matmul", [g, x!], { ta: true, tb: ta }) : b.op("matmul", [x!, g], { ta: !ta, tb: false });
      return [da, db];
    },
  },
} satisfies OpFamily;
