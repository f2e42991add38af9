import { NetcError } from "../base/errors.js";

/** How raw inputs become what the network was trained on. */
export type InputTransform =
  | { kind: "none" }
  /** Pixels in [0, 1]: raw bytes (u8 files) are divided by 255. */
  | { kind: "unit" }
  /** Per-feature standardisation with the training rows' statistics. */
  | { kind: "standardise"; mean: number[]; std: number[] };

/**
 * Rows as the network saw them in training: raw bytes (Uint8Array) divided by 255 under `unit`;
 * every row standardised per feature under `standardise`. Floats other than bytes pass `unit`
 * unchanged (they are taken to be scaled already).
 */
export function transformRows(values: ArrayLike<number>, transform: InputTransform, bytes: boolean): Float32Array {
  const out = Float32Array.from(values);
  if (transform.kind === "unit" && bytes) for (let i = 0; i < out.length; i++) out[i]! /= 255;
  if (transform.kind !== "standardise") return out;
  const width = transform.mean.length;
  if (width === 0 || out.length % width !== 0)
    throw new NetcError(`the inputs hold ${out.length} values, not rows of the ${width} features the network was trained on`);
  for (let i = 0; i < out.length; i++) out[i] = (out[i]! - transform.mean[i % width]!) / transform.std[i % width]!;
  return out;
}
