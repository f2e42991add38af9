import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";

/**
 * Checkpoints in the safetensors format (Hugging Face's: an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data),
 * so other tools can read the weights. netc's own fields live in the header's `__metadata__`
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
  const data = Buffer.alloc(offset);
  for (const name of names) {
    const t = ckpt.tensors[name]!;
    const [start] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    for (let i = 0; i < t.values.length; i++) data.writeFloatLE(t.values[i]!, start + 4 * i);
  }
  const m = ckpt.meta;
  header["__metadata__"] = {
    ...m.extra,
    format: FORMAT,
    network: m.network,
    epoch: String(m.epoch),
    step: String(m.step),
    seed: String(m.seed),
    sha256: createHash("sha256").update(data).digest("hex"),
  };
  // NOTE: the header is padded with spaces to a multiple of 8 so the data is aligned, as the format recommends.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  return Buffer.concat([len, head, data]);
}

/**
 * Writes a checkpoint atomically: a temporary file beside the target, fsync, rename over the
 * target, fsync of the directory. A crash leaves the old checkpoint or the new one, never half of one,
 * and the temporary files such crashes leave are removed by the next save to the same path.
 */
export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  removeStaleTemps(path);
  const bytes = encodeCheckpoint(ckpt);
  const tmp = `${dirname(path)}/.${basename(path)}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dir = openSync(dirname(path), "r");
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    // Some file systems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Removes `.NAME.tmp-PID` files beside `path` whose process is gone (killed during a save). */
function removeStaleTemps(path: string): void {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
    // NOTE: a live process's file is its save in progress (two runs writing one path); leave it.
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(`${dir}/${name}`, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads and verifies a checkpoint; any damage is a CheckpointError naming the file. */
export function readCheckpoint(path: string): Checkpoint {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Parses checkpoint bytes; `path` names the file in errors. */
export function decodeCheckpoint(file: Uint8Array, path: string): Checkpoint {
  // NOTE: Uint8Array in the signature keeps Node's types out of the published declarations.
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const fail = (problem: string): never => {
    throw new CheckpointError(path, problem);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not even a header length`);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length)
    fail(`truncated or not a safetensors file: the header says ${headerLen} header bytes, the file has ${bytes.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString("utf8")) as Record<string, unknown>;
  } catch {
    return fail("the header is not valid JSON (not a safetensors file, or damaged)");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("the header is not a JSON object");
  const meta = header["__metadata__"] as Record<string, string> | undefined;
  if (!meta || meta["format"] !== FORMAT) fail(`not a netc checkpoint (no "__metadata__.format": "${FORMAT}")`);
  const data = bytes.subarray(8 + headerLen);
  const digest = createHash("sha256").update(data).digest("hex");
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
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = data.readFloatLE(e.begin + 4 * i);
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
