import type { Value } from "../../ir/graph.js";
import { stridesOf } from "../../ir/types.js";
import { invalid, NodeCtx, type Term, dimsOf, dtypeOfTerm, dyn, st, unsupported } from "../node-context.js";
import { castValue, sizeOf, type HostTensor, type OnnxDType } from "../tensor.js";

/** Shared helpers for the op handlers. */

/** An axis in [-rank, rank) normalised to [0, rank). */
export function normAxis(n: NodeCtx, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) invalid(`${n.where}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** numpy broadcasting of two shapes; undefined when they do not broadcast. */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** A static int64 tensor. */
export function int64(dims: number[], values: number[]): Term {
  return st({ dtype: "int64", dims, data: Float64Array.from(values) });
}

/** A static tensor of `dtype` (values rounded to it). */
export function staticOf(dtype: OnnxDType, dims: number[], values: ArrayLike<number>): Term {
  const data = new Float64Array(values.length);
  for (let i = 0; i < data.length; i++) data[i] = castValue(values[i]!, dtype);
  return st({ dtype, dims: [...dims], data });
}

/** A static tensor of `dims` filled with one value. */
export function filled(dtype: OnnxDType, dims: number[], v: number): Term {
  return st({ dtype, dims: [...dims], data: new Float64Array(sizeOf(dims)).fill(castValue(v, dtype)) });
}

/** A dynamic term for an IR value, of `dtype`. */
export function out(v: Value, dtype: OnnxDType): Term {
  return dyn(v, dtype);
}

/** `x` reshaped to `dims` (statics stay static). */
export function reshapeTerm(n: NodeCtx, x: Term, dims: number[]): Term {
  if (sizeOf(dims) !== sizeOf(dimsOf(x))) invalid(`${n.where}: cannot reshape [${dimsOf(x)}] to [${dims}]`);
  if (x.kind === "static") return st({ ...x.t, dims: [...dims] });
  if (dimsOf(x).length === dims.length && dimsOf(x).every((d, i) => d === dims[i])) return x;
  return dyn(n.emit("reshape", [x.value], { shape: [...dims] }), x.dtype);
}

/** A reshape of an IR value, skipped when the shape is already right. */
export function reshapeValue(n: NodeCtx, v: Value, dims: number[]): Value {
  const have = v.type.shape as number[];
  if (have.length === dims.length && have.every((d, i) => d === dims[i])) return v;
  return n.emit("reshape", [v], { shape: [...dims] });
}

/** An empty (zero-element) static result of `dtype` and `dims`. */
export function empty(dtype: OnnxDType, dims: number[]): Term {
  return st({ dtype, dims: [...dims], data: new Float64Array(0) });
}

/** The dtype of input `i` (for outputs typed like an input). */
export function dtypeAt(n: NodeCtx, i: number): OnnxDType {
  return dtypeOfTerm(n.input(i));
}

/** Element `i` of a static tensor's multi-index, row-major. */
export function unravel(i: number, dims: readonly number[]): number[] {
  const idx = new Array<number>(dims.length);
  for (let d = dims.length - 1; d >= 0; d--) {
    idx[d] = i % dims[d]!;
    i = Math.floor(i / dims[d]!);
  }
  return idx;
}


/** Elementwise binary op on host tensors with numpy broadcasting. */
export function hostBinary(n: NodeCtx, a: HostTensor, b: HostTensor, dtype: OnnxDType, f: (x: number, y: number) => number): Term {
  const dims = broadcastDims(a.dims, b.dims);
  if (!dims) invalid(`${n.where}: shapes [${a.dims}] and [${b.dims}] do not broadcast`);
  const index = (t: HostTensor) => {
    const s = stridesOf(t.dims);
    const off = dims.length - t.dims.length;
    return (idx: number[]) => t.dims.reduce((acc, d, k) => acc + (d === 1 ? 0 : idx[k + off]! * s[k]!), 0);
  };
  const ia = index(a);
  const ib = index(b);
  const values = new Float64Array(sizeOf(dims));
  for (let i = 0; i < values.length; i++) {
    const idx = unravel(i, dims);
    values[i] = f(a.data[ia(idx)]!, b.data[ib(idx)]!);
  }
  return staticOf(dtype, dims, values);
}

/** The term must be dynamic or static float data; integers at run time are not supported. */
export function requireFloatAtRuntime(n: NodeCtx, x: Term, what: string): void {
  if (x.kind === "dynamic" && !/^float|^bool/.test(x.dtype)) unsupported(`${n.where}: ${what} of dtype ${x.dtype} at run time`);
}
