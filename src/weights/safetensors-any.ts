import { NetcError } from "../base/errors.js";

/**
 * Reads safetensors bytes as other frameworks write them (PyTorch's `save_file`, Keras exports,
 * Hugging Face checkpoints): F32, F64, F16 and BF16 tensors become f32; integer and bool tensors
 * (PyTorch's `num_batches_tracked`) are kept, marked, so the mapping can ignore or refuse them by
 * name. Works on bytes, so it serves Node and the browser alike.
 */

/** A tensor from a foreign file: shape, values as f32, and the dtype it was stored in. */
export interface ForeignTensor {
  shape: number[];
  values: Float32Array;
  dtype: string;
}

const SIZES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Whether a stored dtype holds real numbers (weights) rather than counters or flags. */
export function isFloatDtype(dtype: string): boolean {
  return dtype === "F32" || dtype === "F64" || dtype === "F16" || dtype === "BF16";
}

function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Parses a safetensors file's bytes; `what` names the file in errors (NetcError). */
export function decodeForeignSafetensors(bytes: Uint8Array, what: string): { tensors: Record<string, ForeignTensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new NetcError(`${what}: ${problem}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.length) fail(`not a safetensors file, or truncated: the header says ${headerLen} bytes, the file has ${bytes.length - 8}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    fail("the header is not JSON (not a safetensors file, or damaged)");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return fail("the header is not a JSON object");
  const start = 8 + headerLen;
  const tensors: Record<string, ForeignTensor> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = String(e.dtype);
    const size = SIZES[dtype];
    if (!size) fail(`tensor ${name} has dtype ${dtype}; netc reads F32, F64, F16, BF16 and integer tensors`);
    const shape = e.shape as number[];
    const off = e.data_offsets as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has bad data_offsets`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (off[1]! - off[0]! !== size! * count || start + off[1]! > bytes.length)
      fail(`tensor ${name}: its bytes [${off[0]}, ${off[1]}) do not hold ${dtype}[${shape}] in a file of ${bytes.length} bytes`);
    const at = start + off[0]!;
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const p = at + i * size!;
      switch (dtype) {
        case "F64": values[i] = view.getFloat64(p, true); break;
        case "F32": values[i] = view.getFloat32(p, true); break;
        case "F16": values[i] = half(view.getUint16(p, true)); break;
        case "BF16": values[i] = new Float32Array(new Uint32Array([view.getUint16(p, true) << 16]).buffer)[0]!; break;
        case "I64": values[i] = Number(view.getBigInt64(p, true)); break;
        case "I32": values[i] = view.getInt32(p, true); break;
        case "I16": values[i] = view.getInt16(p, true); break;
        case "I8": values[i] = view.getInt8(p); break;
        default: values[i] = view.getUint8(p);
      }
    }
    tensors[name] = { shape, values, dtype };
  }
  const meta = (header as Record<string, unknown>)["__metadata__"];
  return { tensors, metadata: typeof meta === "object" && meta !== null ? (meta as Record<string, string>) : {} };
}
