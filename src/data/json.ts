import { DataError, decodeUtf8, readBytes } from "./errors.js";
import type { FloatTensor } from "./tensor.js";

/**
 * JSON arrays of numbers, nested to any depth and rectangular: `[[1, 2], [3, 4]]` is [2, 2].
 * The shape comes from the first element at each depth; every other element must match it.
 */

/** Reads a JSON file holding a (nested) array of numbers. */
export function readJsonArray(path: string): FloatTensor {
  const text = decodeUtf8(readBytes(path), path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataError(path, `is not valid JSON (${(e as Error).message})`);
  }
  return jsonToTensor(value, path);
}

/** A parsed JSON value (nested arrays of numbers) as a tensor; `file` names it in errors. */
export function jsonToTensor(value: unknown, file: string): FloatTensor {
  if (!Array.isArray(value)) throw new DataError(file, `expected an array of numbers, found ${describe(value)}`);
  const shape: number[] = [];
  for (let v: unknown = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  const out: number[] = [];
  walk(value, 0, "", shape, out, file);
  return { shape, values: Float32Array.from(out) };
}

function walk(v: unknown, depth: number, path: string, shape: number[], out: number[], file: string): void {
  const where = path === "" ? "the top level" : `at ${path}`;
  if (depth === shape.length) {
    if (typeof v !== "number") throw new DataError(file, `${where}: expected a number, found ${describe(v)}`);
    out.push(v);
    return;
  }
  if (!Array.isArray(v)) throw new DataError(file, `${where}: expected an array of ${shape[depth]}, found ${describe(v)}`);
  if (v.length !== shape[depth]) {
    throw new DataError(file, `not rectangular: ${where} the array has ${v.length} elements, expected ${shape[depth]} (like the first at this depth)`);
  }
  for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`, shape, out, file);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + "…" : v)}`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/**
 * The numbers of one flat JSON array of numbers, `[0, 0.5, 1e-3, ...]`, scanned straight from the
 * bytes from `start` (the first `[` at or after it): many times faster than JSON.parse for the large
 * pixel arrays datasets ship. Anything other than numbers, commas and whitespace is a DataError.
 * Returns the values and the offset just past the closing `]`.
 */
export function scanNumberArray(data: Uint8Array, file: string, start = 0): { values: Float32Array; end: number } {
  // NOTE: a plain Uint8Array view: element loads on a Buffer (a subclass) are slower in V8.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let i = bytes.indexOf(0x5b /* [ */, start);
  if (i < 0) throw new DataError(file, "expected an array of numbers, found no `[`");
  i++;
  let out = new Float32Array(1 << 16);
  let n = 0;
  const n0 = bytes.length;
  const fail = (at: number, what: string): never => {
    const near = new TextDecoder().decode(bytes.subarray(Math.max(0, at - 10), Math.min(n0, at + 10)));
    throw new DataError(file, `${what} at byte ${at} (near ${JSON.stringify(near)})`);
  };
  for (;;) {
    while (i < n0 && bytes[i]! <= 0x20) i++;
    if (i >= n0) fail(i, "the array is never closed");
    if (bytes[i] === 0x5d /* ] */ && n === 0) {
      i++;
      break;
    }
    // One number: -?digits(.digits)?([eE][+-]?digits)?
    const numStart = i;
    let neg = false;
    if (bytes[i] === 0x2d /* - */) {
      neg = true;
      i++;
    }
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    while (i < n0 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) {
      mantissa = mantissa * 10 + (bytes[i]! - 0x30);
      digits++;
      i++;
    }
    if (bytes[i] === 0x2e /* . */) {
      i++;
      while (i < n0 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) {
        mantissa = mantissa * 10 + (bytes[i]! - 0x30);
        digits++;
        scale++;
        i++;
      }
    }
    if (digits === 0) fail(numStart, "expected a number");
    let value: number;
    if (bytes[i] === 0x65 || bytes[i] === 0x45 /* e E */ || digits > 15) {
      // NOTE: rare forms go through Number() for exact rounding.
      const c = (k: number) => bytes[k]!;
      while (i < n0 && ((c(i) >= 0x30 && c(i) <= 0x39) || c(i) === 0x65 || c(i) === 0x45 || c(i) === 0x2b || c(i) === 0x2d || c(i) === 0x2e)) i++;
      value = Number(new TextDecoder().decode(bytes.subarray(numStart, i)));
      if (Number.isNaN(value)) fail(numStart, "malformed number");
    } else {
      // NOTE: an integer below 2^53 divided by an exact power of ten rounds correctly, like JSON.parse.
      value = scale === 0 ? mantissa : mantissa / POW10[scale]!;
      if (neg) value = -value;
    }
    if (n === out.length) {
      const grown = new Float32Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    out[n++] = value;
    while (i < n0 && bytes[i]! <= 0x20) i++;
    if (bytes[i] === 0x2c /* , */) {
      i++;
      continue;
    }
    if (bytes[i] === 0x5d /* ] */) {
      i++;
      break;
    }
    fail(i, i >= n0 ? "the array is never closed" : "expected `,` or `]` after a number");
  }
  return { values: out.slice(0, n), end: i };
}

const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
