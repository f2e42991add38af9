import { DataError, dimsText, readBytes } from "./errors.js";
import { sizeOf, type FloatTensor, type IntTensor } from "./tensor.js";

/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0:
 *   1. magic `\x93NUMPY`, major and minor version bytes;
 *   2. header length: u16 LE (1.0) or u32 LE (2.0, 3.0);
 *   3. the header, a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), };
 *   4. the values, in C order (or Fortran order, which is transposed here into C order).
 * Numeric dtypes of either byte order: f2 f4 f8, i1 i2 i4 i8, u1 u2 u4 u8, b1.
 */

/** An NPY array with its values converted to f32, and its stored dtype descr (e.g. "<f8"). */
export interface NpyTensor extends FloatTensor {
  dtype: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Reads an `.npy` file; every value becomes an f32 (i8/u8 beyond 2^24 lose precision). */
export function readNpy(path: string): NpyTensor {
  return parseNpy(readBytes(path), path);
}

/** Reads an `.npy` file of an integer dtype (class ids, token ids) as exact Int32 values. */
export function readNpyInt(path: string): IntTensor {
  const bytes = readBytes(path);
  const h = parseHeader(bytes, path);
  if (h.kind !== "i" && h.kind !== "u" && h.kind !== "b") throw new DataError(path, `expected an integer dtype for ids, found '${h.descr}'`);
  const out = new Int32Array(h.count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + h.dataStart, h.count * h.size);
  for (let i = 0; i < h.count; i++) {
    const v = readElement(view, i, h);
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new DataError(path, `value ${i} is ${v}, outside the int32 range`);
    out[i] = v;
  }
  return { shape: h.shape, values: h.fortran ? fortranToC(out, h.shape) : out };
}

/** Parses `.npy` bytes; `file` names them in errors. */
export function parseNpy(bytes: Uint8Array, file: string): NpyTensor {
  const h = parseHeader(bytes, file);
  let values: Float32Array;
  if (h.descr === "<f4" || h.descr === "|f4") {
    // NOTE: copy into a fresh buffer (the file's bytes need not be 4-aligned); `new Uint8Array(view)`
    // copies, where Buffer#slice would not.
    values = new Float32Array(new Uint8Array(bytes.subarray(h.dataStart, h.dataStart + h.count * 4)).buffer);
  } else if (h.kind === "u" && h.size === 1) {
    values = new Float32Array(h.count);
    values.set(bytes.subarray(h.dataStart, h.dataStart + h.count));
  } else {
    values = new Float32Array(h.count);
    const view = new DataView(bytes.buffer, bytes.byteOffset + h.dataStart, h.count * h.size);
    for (let i = 0; i < h.count; i++) values[i] = readElement(view, i, h);
  }
  return { shape: h.shape, values: h.fortran ? fortranToC(values, h.shape) : values, dtype: h.descr };
}

interface Header {
  descr: string;
  kind: "f" | "i" | "u" | "b";
  size: number;
  little: boolean;
  fortran: boolean;
  shape: number[];
  count: number;
  dataStart: number;
}

function parseHeader(bytes: Uint8Array, file: string): Header {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new DataError(file, `not an NPY file: expected the magic \\x93NUMPY, found ${JSON.stringify(latin1(bytes.subarray(0, 6)))}`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DataError(file, "truncated: the NPY preamble needs 12 bytes");
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new DataError(file, `unsupported NPY format version ${major}.${bytes[7]} (supported: 1.0, 2.0, 3.0)`);
  }
  if (bytes.length < headerStart + headerLen) {
    throw new DataError(file, `truncated: the header says it is ${headerLen} bytes, file has ${bytes.length - headerStart} after the preamble`);
  }
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, headerStart + headerLen));
  const field = (key: string, pattern: string) => new RegExp(`['"]${key}['"]\\s*:\\s*${pattern}`).exec(text);
  const d = field("descr", `['"]([^'"]*)['"]`);
  const f = field("fortran_order", `(True|False)`);
  const s = field("shape", `\\(([^)]*)\\)`);
  if (!d || !f || !s) {
    const missing = [!d && "descr", !f && "fortran_order", !s && "shape"].filter(Boolean).join(", ");
    throw new DataError(file, `malformed NPY header (no ${missing}): ${text.trim()}`);
  }
  const descr = d[1]!;
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  const supported = new Set(["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]);
  if (!m || !supported.has(m[2]! + m[3]!)) {
    throw new DataError(file, `unsupported dtype '${descr}'; supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, either byte order`);
  }
  const dims = s[1]!.split(",").map((x) => x.trim()).filter((x) => x !== "");
  const shape = dims.map((x) => {
    const n = /^\d+$/.test(x) ? Number(x) : NaN;
    if (!Number.isSafeInteger(n)) throw new DataError(file, `malformed NPY header: shape (${s[1]}) has a non-integer dim '${x}'`);
    return n;
  });
  const size = Number(m[3]);
  const count = sizeOf(shape);
  const dataStart = headerStart + headerLen;
  const have = bytes.length - dataStart;
  if (have < count * size) throw new DataError(file, `truncated: header says ${dimsText(shape, size)} bytes, file has ${have}`);
  if (have > count * size) {
    throw new DataError(file, `${have - count * size} bytes after the data: header says ${dimsText(shape, size)} bytes, file has ${have}`);
  }
  // NOTE: "=" is native order; every platform Node runs on here is little-endian.
  return { descr, kind: m[2] as Header["kind"], size, little: m[1] !== ">", fortran: f[1] === "True", shape, count, dataStart };
}

function readElement(view: DataView, i: number, h: Header): number {
  const o = i * h.size;
  const le = h.little;
  switch (h.kind + h.size) {
    case "f2":
      return halfToFloat(view.getUint16(o, le));
    case "f4":
      return view.getFloat32(o, le);
    case "f8":
      return view.getFloat64(o, le);
    case "i1":
      return view.getInt8(o);
    case "i2":
      return view.getInt16(o, le);
    case "i4":
      return view.getInt32(o, le);
    case "i8":
      return Number(view.getBigInt64(o, le));
    case "u1":
    case "b1":
      return view.getUint8(o);
    case "u2":
      return view.getUint16(o, le);
    case "u4":
      return view.getUint32(o, le);
    case "u8":
      return Number(view.getBigUint64(o, le));
  }
  throw new Error(`npy: no reader for ${h.descr}`); // unreachable: parseHeader checked the dtype
}

/** IEEE half-precision bits to a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Fortran-order values (the C-order layout of the reversed shape) rearranged into C order. */
function fortranToC<T extends Float32Array | Int32Array>(src: T, shape: number[]): T {
  const rank = shape.length;
  if (rank < 2) return src;
  const out = (src instanceof Float32Array ? new Float32Array(src.length) : new Int32Array(src.length)) as T;
  // Strides of the source in Fortran order: axis 0 varies fastest.
  const fStride: number[] = [];
  let s = 1;
  for (let a = 0; a < rank; a++) {
    fStride.push(s);
    s *= shape[a]!;
  }
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let from = 0;
    for (let a = 0; a < rank; a++) from += idx[a]! * fStride[a]!;
    out[i] = src[from]!;
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

function latin1(b: Uint8Array): string {
  return String.fromCharCode(...b);
}
