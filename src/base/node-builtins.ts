import { NetcError } from "./errors.js";

/**
 * Node's built-in modules for the few library paths that need them (reading a file, gunzipping,
 * Node's fast SHA-256), reached at call time through `process.getBuiltinModule` (Node >= 20.16).
 * No library module imports `node:*`, so `netc` and `netc/runtime` bundle for a browser as they
 * are and load there; the Node-only paths are simply never taken in a page.
 */

/** The built-ins netc uses, by specifier. */
interface Builtins {
  "node:fs": typeof import("node:fs");
  "node:fs/promises": typeof import("node:fs/promises");
  "node:path": typeof import("node:path");
  "node:os": typeof import("node:os");
  "node:url": typeof import("node:url");
  "node:zlib": typeof import("node:zlib");
  "node:crypto": typeof import("node:crypto");
  "node:module": typeof import("node:module");
}

/** Whether this is Node (not a browser or a worker there). */
export function isNode(): boolean {
  return typeof process !== "undefined" && typeof process.versions?.node === "string";
}

/** A Node built-in, or undefined outside Node. */
export function nodeBuiltin<K extends keyof Builtins>(name: K): Builtins[K] | undefined {
  if (!isNode()) return undefined;
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  // NOTE: package.json's engines say >=20.16; an older Node gets a clear message, not a TypeError.
  if (typeof get !== "function") throw new NetcError(`netc needs Node 20.16 or newer (process.getBuiltinModule); this is Node ${process.versions.node}`);
  return get(name) as Builtins[K];
}

/**
 * A Node built-in for `what` (e.g. "reading data/x.idx"); outside Node a NetcError saying that
 * this needs Node and what to use in a page instead.
 */
export function requireNodeBuiltin<K extends keyof Builtins>(name: K, what: string, inBrowser: string): Builtins[K] {
  const mod = nodeBuiltin(name);
  if (!mod) throw new NetcError(`${what} needs Node (files and ${name} are not available in a browser); ${inBrowser}`);
  return mod;
}
