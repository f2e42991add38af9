import { sha256Hex } from "../base/sha256.js";
import { readSource, type ByteSource } from "../base/read-source.js";

/**
 * Checkpoints in the safetensors format (Hugging Face's: an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data),
 * so other tools can read the weights. This module turns checkpoints into bytes and back and runs
 * in a browser; checkpoint-file.ts reads and writes files (Node). netc's own fields live in the header's `__metadata__`
 * (string values only, as the format requires), including a SHA-256 of the data so an altered
 * file is refused rather than loaded as garbage weights.
 */

/** One stored tensor: row-major f32 values. */
export interface StoredTensor {
  shape: number[];
  values: Float32Array;
}

/** What a checkpoint holds besides the tensors: where training stood. */
export interface CheckpointMeta {
  /** The network's name, checked on load against the file being run. */
  network: string;
  /** Completed epochs and steps. */
  epoch: number;
  step: number;
  /** The run's seed: with epoch and step it fixes every later shuffle and dropout mask. */
  seed: number;
  /** Free-form extras (the training loss history, the source path), as strings. */
  extra?: Record<string, string>;
}

/** A checkpoint: params and optimizer state by their dotted names, and the metadata. */
export interface Checkpoint {
  tensors: Record<string, StoredTensor>;
  meta: CheckpointMeta;
}

/** A checkpoint that cannot be read: the message names the file and what is wrong with it. */
export class CheckpointError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "CheckpointError";
  }
}

const FORMAT = "netc-checkpoint-1";
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Headers larger than this are not a checkpoint netc wrote (and would be read whole into memory). */
const MAX_HEADER = 64 * 1024 * 1024;

/** The file's bytes: 8-byte header length, JSON header, data. */
export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  const names = Object.keys(ckpt.tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const t = ckpt.tensors[name]!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.values.length) throw new Error(`internal: checkpoint tensor ${name} has ${t.values.length} values for shape [${t.shape}]`);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  const data = new Uint8Array(offset);
  const dataView = new DataView(data.buffer);
  for (const name of names) {
    const t = ckpt.tensors[name]!;
    const [start] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    for (let i = 0; i < t.values.length; i++) dataView.setFloat32(start + 4 * i, t.values[i]!, true);
  }
  const m = ckpt.meta;
  header["__metadata__"] = {
    ...m.extra,
    format: FORMAT,
    network: m.network,
    epoch: String(m.epoch),
    step: String(m.step),
    seed: String(m.seed),
    sha256: sha256Hex(data),
  };
  // NOTE: the header is padded with spaces to a multiple of 8 so the data is aligned, as the format recommends.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

/**
 * Loads a checkpoint from its bytes or a URL (in Node also a path); any damage is a
 * CheckpointError naming the source.
 */
export async function loadCheckpoint(src: ByteSource): Promise<Checkpoint> {
  const what = src instanceof ArrayBuffer || ArrayBuffer.isView(src) ? "the checkpoint" : String(src);
  const bytes = await readSource(src, what, (reason) => new CheckpointError(what, `cannot read the file (${reason})`));
  return decodeCheckpoint(bytes, what);
}

/** Parses checkpoint bytes; `path` names the file in errors. */
export function decodeCheckpoint(file: Uint8Array, path: string): Checkpoint {
  const bytes = file;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const fail = (problem: string): never => {
    throw new CheckpointError(path, problem);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not even a header length`);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length)
    fail(`truncated or not a safetensors file: the header says ${headerLen} header bytes, the file has ${bytes.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch {
    return fail("the header is not valid JSON (not a safetensors file, or damaged)");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("the header is not a JSON object");
  const meta = header["__metadata__"] as Record<string, string> | undefined;
  if (!meta || meta["format"] !== FORMAT) fail(`not a netc checkpoint (no "__metadata__.format": "${FORMAT}")`);
  const data = bytes.subarray(8 + headerLen);
  const digest = sha256Hex(data);
  const dataAt = 8 + headerLen;
  const tensors: Record<string, StoredTensor> = {};
  let expectEnd = 0;
  const entries = Object.entries(header)
    .filter(([k]) => k !== "__metadata__")
    .map(([name, raw]) => {
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const shape = e.shape;
      const off = e.data_offsets;
      if (e.dtype !== "F32") fail(`tensor ${name} has dtype ${String(e.dtype)}; netc checkpoints hold F32 only`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape`);
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d))) fail(`tensor ${name} has bad data_offsets`);
      return { name, shape: shape as number[], begin: (off as number[])[0]!, end: (off as number[])[1]! };
    })
    .sort((a, b) => a.begin - b.begin);
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (e.begin !== expectEnd || e.end - e.begin !== 4 * count) fail(`tensor ${e.name}: its byte range [${e.begin}, ${e.end}) does not fit its shape [${e.shape}] in sequence`);
    if (e.end > data.length) fail(`truncated: tensor ${e.name} ends at byte ${e.end} of the data, which has ${data.length}`);
    expectEnd = e.end;
    let values: Float32Array;
    if (LITTLE_ENDIAN) {
      // NOTE: a copy of the bytes is aligned, and the host's order is the file's: no per-value
      // decode. (Not `bytes.slice`: on a Node Buffer that is a view, not a copy.)
      values = new Float32Array(count);
      new Uint8Array(values.buffer).set(bytes.subarray(dataAt + e.begin, dataAt + e.end));
    } else {
      values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(dataAt + e.begin + 4 * i, true);
    }
    tensors[e.name] = { shape: e.shape, values };
  }
  if (expectEnd !== data.length) fail(`${data.length - expectEnd} bytes after the last tensor: the file was altered or appended to`);
  if (meta!["sha256"] !== digest) fail("the data does not match its checksum: the file was altered or damaged");
  const num = (k: string) => {
    const v = Number(meta![k]);
    if (!Number.isInteger(v) || v < 0) fail(`metadata field ${k} = ${JSON.stringify(meta![k])} is not a count`);
    return v;
  };
  const { format: _f, network, epoch: _e, step: _s, seed: _d, sha256: _h, ...extra } = meta!;
  return {
    tensors,
    meta: { network: network ?? "", epoch: num("epoch"), step: num("step"), seed: num("seed"), extra },
  };
}
