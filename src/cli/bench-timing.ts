/**
 * Timing and data helpers of `netc bench`, written to match the peers' harness
 * (../shared/bench-peers/harness.mjs) exactly: the same clock, warm-up, stopping rule, median and
 * rounding, and the same xorshift data, so netc's lines sit beside TF.js's, jax-js's and ONNX
 * Runtime Web's in one table.
 */

/** Milliseconds on the monotonic clock (process.hrtime, as the peers use). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** How many calls to time: `warmup` untimed, then up to `reps`, stopping after `minReps` once `maxMs` is spent. */
export interface Repetitions {
  warmup: number;
  reps: number;
  minReps: number;
  maxMs: number;
}

/** Median and best of the timed calls. */
export interface Timing {
  median_ms: number;
  min_ms: number;
  n: number;
}

/** Times an async call as the peers' `bench()` does. */
export async function timeCalls(fn: () => Promise<unknown>, r: Repetitions): Promise<Timing> {
  for (let i = 0; i < r.warmup; i++) await fn();
  const ts: number[] = [];
  const t0 = now();
  while (ts.length < r.reps) {
    const s = now();
    await fn();
    ts.push(now() - s);
    if (ts.length >= r.minReps && now() - t0 > r.maxMs) break;
  }
  return summarise(ts);
}

/** Median (the mean of the middle two for an even count) and minimum, rounded as the peers round. */
export function summarise(ts: readonly number[]): Timing {
  const sorted = [...ts].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median_ms: round(median, 3), min_ms: round(sorted[0] ?? NaN, 3), n: ts.length };
}

/** `x` rounded to `digits` decimals (as `+x.toFixed(digits)`). */
export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

/** Deterministic uniform(-1, 1) floats: the peers' xorshift, so every system sees the same data. */
export function randn(n: number, seed = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 2;
  }
  return out;
}

/** `randn(n, seed)` times `scale`. */
export function scaled(n: number, seed: number, scale: number): Float32Array {
  return randn(n, seed).map((v) => v * scale);
}

/** One result line: the peers' fields, then netc's own. */
export interface BenchLine {
  system: "netc";
  workload: string;
  median_ms: number | null;
  min_ms: number | null;
  n: number;
  gflops_median: number | null;
  gflops_best: number | null;
  dispatches: number | null;
  passes: number | null;
  submits: number | null;
  [extra: string]: unknown;
}

/** A workload that failed: the peers' `fail()` line. */
export interface ErrorLine {
  system: "netc";
  workload: string;
  error: string;
}

/** What `netc bench` prints for one workload. */
export type BenchRecord = BenchLine | ErrorLine;

/** GFLOP/s of `flops` done in `ms`, rounded to two decimals as the peers report them. */
export function gflops(flops: number | undefined, ms: number | null): number | null {
  return flops && ms ? round(flops / (ms * 1e6), 2) : null;
}

/** Nominal FLOPs of one MLP 784-256-256-10 training step at batch 128 (the peers' mlpStepFlops: matmuls only, 155.1 M). */
export function mlpStepFlops(sizes: readonly number[], batch: number): number {
  const [a, b, c, d] = sizes as [number, number, number, number];
  const fwd = 2 * batch * (a * b + b * c + c * d);
  return fwd + fwd + 2 * batch * (b * c + c * d);
}

/** Nominal FLOPs of the peers' CNN inference (conv and dense multiply-adds times two: 312.4 M at batch 64). */
export function cnnFlops(batch: number, c1: number, c2: number, classes: number): number {
  return 2 * batch * (26 * 26 * c1 * 9 + 11 * 11 * c2 * 9 * c1 + 5 * 5 * c2 * classes);
}
