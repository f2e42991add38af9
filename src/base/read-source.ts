import { NetcError } from "./errors.js";
import { isNode, nodeBuiltin } from "./node-builtins.js";

/** Bytes, or where to get them: a URL (http(s), file: in Node, relative to the page in a browser) or, in Node, a path. */
export type ByteSource = string | URL | ArrayBuffer | ArrayBufferView;

/**
 * The bytes of `src`: as they are, fetched from a URL, or read from a file in Node. A failure is
 * `fail(reason)`: by default a NetcError "cannot read WHAT: REASON".
 */
export async function readSource(src: ByteSource, what: string, fail: (reason: string) => Error = (reason) => new NetcError(`cannot read ${what}: ${reason}`)): Promise<Uint8Array> {
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (typeof src !== "string" && !(src instanceof URL)) throw new NetcError(`${what} must be a URL, a path, an ArrayBuffer or a typed array, got ${typeof src}`);
  let url: URL;
  if (src instanceof URL) url = src;
  else if (isNode() && !/^[a-z][a-z0-9+.-]+:/i.test(src)) url = nodeBuiltin("node:url")!.pathToFileURL(src);
  else {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    try {
      url = new URL(src, base);
    } catch {
      throw fail(`not a URL${base ? "" : " (and there is no page to resolve it against)"}`);
    }
  }
  try {
    if (url.protocol === "file:") {
      const fs = nodeBuiltin("node:fs/promises");
      if (!fs) throw new Error("a file: URL can only be read in Node");
      return new Uint8Array(await fs.readFile(url));
    }
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw fail((e as { code?: string }).code ?? (e as Error).message);
  }
}
