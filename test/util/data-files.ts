import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/** A fresh temporary folder for data files a test writes. */
export function tempDir(prefix = "netc-data-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes bytes (or text) to `dir/name`, returning the path. */
export function writeFile(dir: string, name: string, data: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

const IDX_CODES = { u8: 0x08, i8: 0x09, i16: 0x0b, i32: 0x0c, f32: 0x0d, f64: 0x0e } as const;

/** IDX bytes: magic (0, 0, dtype, rank), big-endian u32 dims, big-endian values. */
export function idxBytes(dtype: keyof typeof IDX_CODES, shape: number[], values: number[], gz = false): Buffer {
  const size = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 }[dtype];
  const b = Buffer.alloc(4 + 4 * shape.length + size * values.length);
  b[2] = IDX_CODES[dtype];
  b[3] = shape.length;
  shape.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  let o = 4 + 4 * shape.length;
  for (const v of values) {
    if (dtype === "u8") b.writeUInt8(v, o);
    else if (dtype === "i8") b.writeInt8(v, o);
    else if (dtype === "i16") b.writeInt16BE(v, o);
    else if (dtype === "i32") b.writeInt32BE(v, o);
    else if (dtype === "f32") b.writeFloatBE(v, o);
    else b.writeDoubleBE(v, o);
    o += size;
  }
  return gz ? gzipSync(b) : b;
}

/** NPY bytes for a descr like '<f4' or '>i2', in format version 1.0 (u16 header length) or 2.0 (u32). */
export function npyBytes(descr: string, shape: number[], values: number[], options: { version?: 1 | 2; fortran?: boolean } = {}): Buffer {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${options.fortran ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const pre = version === 1 ? 10 : 12;
  // NOTE: numpy pads the header with spaces and a newline so the data starts 64-byte aligned.
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, " ") + "\n";
  const kind = descr[1]!;
  const size = Number(descr.slice(2));
  const le = descr[0] !== ">";
  const data = Buffer.alloc(size * values.length);
  values.forEach((v, i) => {
    const o = i * size;
    const key = kind + size;
    if (key === "f4") le ? data.writeFloatLE(v, o) : data.writeFloatBE(v, o);
    else if (key === "f8") le ? data.writeDoubleLE(v, o) : data.writeDoubleBE(v, o);
    else if (key === "f2") le ? data.writeUInt16LE(floatToHalf(v), o) : data.writeUInt16BE(floatToHalf(v), o);
    else if (key === "i1") data.writeInt8(v, o);
    else if (key === "i2") le ? data.writeInt16LE(v, o) : data.writeInt16BE(v, o);
    else if (key === "i4") le ? data.writeInt32LE(v, o) : data.writeInt32BE(v, o);
    else if (key === "i8") le ? data.writeBigInt64LE(BigInt(v), o) : data.writeBigInt64BE(BigInt(v), o);
    else if (key === "u1" || key === "b1") data.writeUInt8(v, o);
    else if (key === "u2") le ? data.writeUInt16LE(v, o) : data.writeUInt16BE(v, o);
    else if (key === "u4") le ? data.writeUInt32LE(v, o) : data.writeUInt32BE(v, o);
    else if (key === "u8") le ? data.writeBigUInt64LE(BigInt(v), o) : data.writeBigUInt64BE(BigInt(v), o);
    else throw new Error(`npyBytes: no writer for ${descr}`);
  });
  const pre6 = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const len = Buffer.alloc(version === 1 ? 2 : 4);
  if (version === 1) len.writeUInt16LE(header.length);
  else len.writeUInt32LE(header.length);
  return Buffer.concat([pre6, len, Buffer.from(header, "latin1"), data]);
}

/** Half-precision bits of a number exactly representable as f16 (tests use simple values). */
function floatToHalf(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exp = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** exp - 1) * 1024);
  return sign | ((exp + 15) << 10) | frac;
}

/** CIFAR-10 records: a label byte, then 3072 pixel bytes made by `pixel(record, index)`. */
export function cifarBytes(labels: number[], pixel: (record: number, index: number) => number): Buffer {
  const b = Buffer.alloc(labels.length * 3073);
  labels.forEach((l, r) => {
    b[r * 3073] = l;
    for (let i = 0; i < 3072; i++) b[r * 3073 + 1 + i] = pixel(r, i) & 255;
  });
  return b;
}
