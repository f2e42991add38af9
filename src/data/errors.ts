import { nodeBuiltin } from "../base/node-builtins.js";

/**
 * A problem with data the user pointed at: a missing or malformed file, a missing dataset package,
 * a label out of range. Its message starts with the file (or what was being read) and says what was
 * wrong, so the CLI can print it as it is; `file` and `detail` hold the two parts.
 */
export class DataError extends Error {
  /** The file (or source, e.g. `dataset mnist`) the problem is in; "" when there is none. */
  readonly file: string;
  /** What was wrong, without the file. */
  readonly detail: string;

  constructor(file: string, detail: string) {
    super(file ? `${file}: ${detail}` : detail);
    this.name = "DataError";
    this.file = file;
    this.detail = detail;
  }
}

/** What to use in a page instead of a file path. */
const IN_BROWSER = "a browser has no files: fetch the data (fetchIdx, fetchDataset) or pass its bytes";

/** The bytes of a file (Node); a missing or unreadable file is a DataError naming it. */
export function readBytes(path: string): Uint8Array {
  const fs = nodeBuiltin("node:fs");
  if (!fs) throw new DataError(path, `cannot be read: ${IN_BROWSER}`);
  try {
    return fs.readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a file" : code === "EACCES" ? "permission denied" : (e as Error).message;
    throw new DataError(path, why);
  }
}

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The bytes of a file, gunzipped when they are gzip (sniffed from the content, not the name, so a
 * `.gz` that was already unpacked by a browser still reads). A damaged gzip stream is a DataError.
 */
export function readMaybeGzip(path: string): Uint8Array {
  const raw = readBytes(path);
  if (!isGzip(raw)) return raw;
  try {
    return nodeBuiltin("node:zlib")!.gunzipSync(raw);
  } catch (e) {
    throw new DataError(path, `damaged gzip data (${(e as Error).message})`);
  }
}

/** Text decoded as UTF-8; invalid UTF-8 is a DataError. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    // NOTE: drop a leading byte-order mark, which some editors write and which is not text.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    throw new DataError(file, "is not valid UTF-8 text");
  }
}

/** The product of dims as a formula and its value, e.g. "60000×28×28 = 47040000". */
export function dimsText(dims: number[], unit = 1): string {
  const n = dims.reduce((a, b) => a * b, 1) * unit;
  const factors = unit === 1 ? dims : [...dims, unit];
  return factors.length === 1 ? String(n) : `${factors.join("×")} = ${n}`;
}
