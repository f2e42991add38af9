import type { MatmulSpec } from "../../src/codegen/kernels/matmul.js";

/** A matmul's shape as the kernel tests give it; B is shared across the batch when its stride is 0. */
export type MatmulShape = Pick<MatmulSpec, "batch" | "m" | "n" | "k" | "transA" | "transB" | "batchStrideB">;
/** An epilogue's CPU side: the value stored for acc at [b, i, j], given the extra inputs. */
export type Epilogue = (acc: number, b: number, i: number, j: number, extras: Float32Array[]) => number;

/** Every combination of transposed operands, and its name in a test title. */
export const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
export const label = (ta: boolean, tb: boolean): string => `${ta ? "Aᵀ" : "A"}·${tb ? "Bᵀ" : "B"}`;

/** A deterministic generator of values in [-1, 1) (mulberry32). */
export function random(seed: number): (count: number) => Float32Array {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (count) => Float32Array.from({ length: count }, () => 2 * next() - 1);
}

/** The reference: a plain triple loop in float64 over the stored (possibly transposed) layouts. */
export function cpuMatmul(s: MatmulShape, a: Float32Array, b: Float32Array, epilogue?: Epilogue, extras: Float32Array[] = []): Float64Array {
  const { batch, m, n, k } = s;
  const strideB = s.batchStrideB ?? k * n;
  const out = new Float64Array(batch * m * n);
  for (let bb = 0; bb < batch; bb++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = s.transA ? a[bb * k * m + p * m + i]! : a[bb * m * k + i * k + p]!;
          const bv = s.transB ? b[bb * strideB + j * k + p]! : b[bb * strideB + p * n + j]!;
          acc += av * bv;
        }
        out[bb * m * n + i * n + j] = epilogue ? epilogue(acc, bb, i, j, extras) : acc;
      }
  return out;
}

/** Worst |got - want| / max(1, |want|). */
export function worstError(got: Float32Array, want: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return worst;
}
