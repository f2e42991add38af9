import { numel as sizeOf } from "../ir/types.js";

/**
 * The tensors data readers return: a shape (rows along the first axis) and values in C order.
 * Features are f32; class ids and character ids are exact integers in an Int32Array.
 */

/** Float values (features, pixels, one-hot targets), row-major. */
export interface FloatTensor {
  shape: number[];
  values: Float32Array;
}

/** Integer values (class ids, character ids), row-major. */
export interface IntTensor {
  shape: number[];
  values: Int32Array;
}

/** Either kind; pipeline functions that only move rows take both. */
export type AnyTensor = FloatTensor | IntTensor;

/** The number of values a shape holds (the IR's numel, under the name the data API has). */
export { sizeOf };

/** The number of rows (the first dim; a scalar counts as one row). */
export function rowCount(t: AnyTensor): number {
  return t.shape.length === 0 ? 1 : t.shape[0]!;
}

/** Values per row (the product of all dims after the first). */
export function rowWidth(t: AnyTensor): number {
  return sizeOf(t.shape.slice(1));
}
