import type { TensorProto } from "./proto.js";
import { numel as sizeOf } from "../ir/types.js";

/** ONNX element types by name (TensorProto.DataType), the ones this importer can name. */
export type OnnxDType =
  | "float32"
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "int32"
  | "int64"
  | "string"
  | "bool"
  | "float16"
  | "float64"
  | "uint32"
  | "uint64"
  | "complex64"
  | "complex128"
  | "bfloat16";

/** TensorProto.DataType codes. */
const DTYPE_CODES: Record<number, OnnxDType> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  14: "complex64",
  15: "complex128",
  16: "bfloat16",
};

/** The dtype named by a TensorProto.DataType code (`dtype 17` for codes this file does not know). */
export function dtypeOf(code: number | undefined): OnnxDType | `dtype ${number}` {
  return DTYPE_CODES[code ?? 0] ?? `dtype ${code ?? 0}`;
}

/** The code of a dtype name. */
export function dtypeCode(dtype: OnnxDType): number {
  for (const [code, name] of Object.entries(DTYPE_CODES)) if (name === dtype) return Number(code);
  throw new Error(`internal: no code for ${dtype}`);
}

/** Integer dtypes (bool excluded). */
export function isInteger(dtype: OnnxDType): boolean {
  return /^u?int/.test(dtype);
}

/** Floating-point dtypes. */
export function isFloat(dtype: OnnxDType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "float64" || dtype === "bfloat16";
}

/**
 * A tensor held on the host: every element as a JS number (int64 exact up to 2^53, bool 0/1),
 * row-major. Importers fold shapes and integer arithmetic on these; float32 data is kept exact.
 */
export interface HostTensor {
  dtype: OnnxDType;
  dims: number[];
  data: Float64Array;
}

/** Number of elements of a shape (the IR's numel). */
export { sizeOf };

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const ELEMENT_BYTES: Partial<Record<OnnxDType, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
  bfloat16: 2,
};

/** Reads element `i` of little-endian raw data. */
function readRaw(view: DataView, dtype: OnnxDType, i: number): number {
  switch (dtype) {
    case "float32":
      return view.getFloat32(i * 4, true);
    case "float64":
      return view.getFloat64(i * 8, true);
    case "float16":
      return halfToFloat(view.getUint16(i * 2, true));
    case "bfloat16":
      return new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0]!;
    case "uint8":
    case "bool":
      return view.getUint8(i);
    case "int8":
      return view.getInt8(i);
    case "uint16":
      return view.getUint16(i * 2, true);
    case "int16":
      return view.getInt16(i * 2, true);
    case "int32":
      return view.getInt32(i * 4, true);
    case "uint32":
      return view.getUint32(i * 4, true);
    case "int64":
      return Number(view.getBigInt64(i * 8, true));
    case "uint64":
      return Number(view.getBigUint64(i * 8, true));
    default:
      throw new TensorDecodeError(`cannot read ${dtype} data`);
  }
}

/** A TensorProto that cannot be turned into numbers (unknown dtype, external data, wrong length). */
export class TensorDecodeError extends Error {}

/**
 * Decodes an onnx.TensorProto into a host tensor: `raw_data` (little-endian, row-major) when
 * present, else the typed fields (`float_data`, `int32_data` which also carries the narrow ints,
 * bool and float16 bits, `int64_data`, `double_data`, `uint64_data`).
 */
export function tensorFromProto(t: TensorProto): HostTensor {
  const dtype = dtypeOf(t.dataType);
  const name = t.name ? ` ${t.name}` : "";
  if (dtype.startsWith("dtype ") || dtype === "string" || dtype === "complex64" || dtype === "complex128")
    throw new TensorDecodeError(`tensor${name}: ${dtype} is not supported`);
  const d = dtype as OnnxDType;
  if (t.dataLocation === 1) throw new TensorDecodeError(`tensor${name}: external data is not supported`);
  const dims = (t.dims ?? []).map(Number);
  if (dims.some((n) => !Number.isInteger(n) || n < 0)) throw new TensorDecodeError(`tensor${name}: bad dims [${dims.join(", ")}]`);
  const n = sizeOf(dims);
  const data = new Float64Array(n);
  const raw = t.rawData;
  if (raw && raw.length) {
    const width = ELEMENT_BYTES[d]!;
    if (raw.length !== n * width)
      throw new TensorDecodeError(`tensor${name}: raw_data has ${raw.length} bytes, ${d}[${dims.join(", ")}] needs ${n * width}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) data[i] = readRaw(view, d, i);
    return { dtype: d, dims, data };
  }
  let values: readonly number[];
  switch (d) {
    case "float32":
      values = t.floatData ?? [];
      break;
    case "float64":
      values = t.doubleData ?? [];
      break;
    case "int64":
      values = t.int64Data ?? [];
      break;
    case "uint32":
    case "uint64":
      values = t.uint64Data ?? [];
      break;
    case "float16":
      values = (t.int32Data ?? []).map(halfToFloat);
      break;
    case "bfloat16":
      values = (t.int32Data ?? []).map((b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!);
      break;
    default:
      values = t.int32Data ?? [];
  }
  if (values.length !== n)
    throw new TensorDecodeError(`tensor${name}: holds ${values.length} values, ${d}[${dims.join(", ")}] needs ${n}`);
  for (let i = 0; i < n; i++) data[i] = Number(values[i]);
  return { dtype: d, dims, data };
}

/** Rounds a number to what `dtype` can hold (f32 rounding, integer truncation and wrap-free clamps, bool 0/1). */
export function castValue(x: number, dtype: OnnxDType): number {
  switch (dtype) {
    case "float32":
      return Math.fround(x);
    case "float16":
    case "bfloat16":
      return Math.fround(x);
    case "float64":
      return x;
    case "bool":
      return x !== 0 && !Number.isNaN(x) ? 1 : 0;
    default:
      return Number.isFinite(x) ? Math.trunc(x) : 0;
  }
}

/** A host tensor of `dtype` with `dims` and the given values (rounded to the dtype). */
export function hostTensor(dtype: OnnxDType, dims: number[], values: ArrayLike<number>): HostTensor {
  const data = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = castValue(values[i]!, dtype);
  if (data.length !== sizeOf(dims)) throw new Error(`internal: ${values.length} values for [${dims.join(", ")}]`);
  return { dtype, dims: [...dims], data };
}
