import { NetcError } from "../base/errors.js";

/**
 * Safetensors (Hugging Face's format: an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the raw little-endian data), for weights that
 * leave netc: F32 tensors and string metadata, read from and written to plain bytes so the same
 * code serves Node and the browser.
 */

/** One tensor: its shape and row-major f32 values. */
export interface NamedTensor {
  shape: number[];
  values: Float32Array;
}

/** The bytes of a safetensors file holding `tensors` (F32) and `metadata`. */
export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * t.values.length] };
    offset += 4 * t.values.length;
  }
  if (Object.keys(metadata).length) header["__metadata__"] = metadata;
  // NOTE: the header is padded with spaces to a multiple of 8 so the data is aligned, as the format recommends.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + head.length + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  bytes.set(head, 8);
  let at = 8 + head.length;
  for (const name of names) {
    for (const v of tensors[name]!.values) {
      view.setFloat32(at, v, true);
      at += 4;
    }
  }
  return bytes;
}

/** Parses safetensors bytes (F32 tensors only); `what` names the file in errors. */
export function decodeSafetensors(bytes: Uint8Array, what: string): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new NetcError(`${what}: ${problem}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not a safetensors file`);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.length) fail(`not a safetensors file, or truncated: the header says ${headerLen} bytes, the file has ${bytes.length - 8}`);
  let header: Record<string, unknown> = {};
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch {
    fail("the header is not JSON (not a safetensors file, or damaged)");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("the header is not a JSON object");
  const dataStart = 8 + headerLen;
  const tensors: Record<string, NamedTensor> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== "F32") fail(`tensor ${name} has dtype ${String(e.dtype)}; netc reads F32`);
    const shape = e.shape as number[];
    const off = e.data_offsets as number[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d))) fail(`tensor ${name} has bad data_offsets`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (off[1]! - off[0]! !== 4 * count || dataStart + off[1]! > bytes.length) fail(`tensor ${name}: its bytes [${off[0]}, ${off[1]}) do not hold [${shape}] in a file of ${bytes.length} bytes`);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(dataStart + off[0]! + 4 * i, true);
    tensors[name] = { shape, values };
  }
  const metadata = (header["__metadata__"] ?? {}) as Record<string, string>;
  return { tensors, metadata };
}
