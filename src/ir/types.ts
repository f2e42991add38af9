/** Element types a tensor can hold. */
export type DType = "f32" | "f16" | "i32" | "bool";

/** All dtypes, for validation and messages. */
export const DTYPES: readonly DType[] = ["f32", "f16", "i32", "bool"];

/** A dimension: a known size, or a symbol (`B`) bound when the runtime knows it. */
export type Dim = number | string;

/** The type of an IR value: dtype and (possibly symbolic) shape. */
export interface TensorType {
  dtype: DType;
  shape: Dim[];
}

/** `f32[B,3]` */
export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(",")}]`;
}

/** `[B, 3]` for messages. */
export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.join(", ")}]`;
}

/** Same dims, in order. */
export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Bound values of symbolic dims. */
export type DimBindings = Record<string, number>;

/** Replaces every symbol by its bound size; throws if one is unbound (a compiler bug by then). */
export function concreteShape(shape: readonly Dim[], dims: DimBindings): number[] {
  return shape.map((d) => {
    if (typeof d === "number") return d;
    const v = dims[d];
    if (v === undefined) throw new Error(`internal: dim ${d} is unbound`);
    return v;
  });
}

/** Product of concrete dims. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides of a concrete shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Strides for reading a tensor of shape `from` at the indices of a broadcast result of shape `to`
 * (numpy rules, right-aligned): a dim of size 1 that is stretched gets stride 0.
 */
export function broadcastStrides(from: readonly number[], to: readonly number[]): number[] {
  const own = stridesOf(from);
  const out = new Array<number>(to.length).fill(0);
  const off = to.length - from.length;
  for (let i = 0; i < from.length; i++) out[i + off] = from[i] === 1 && to[i + off] !== 1 ? 0 : own[i]!;
  return out;
}
