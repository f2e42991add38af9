import { nodeBuiltin } from "./node-builtins.js";

/**
 * The folder where netc keeps what it learns about a machine between runs (the matmul tilings
 * chosen by timing, `<cache>/matmul-tuning.json`; Mesa's shader cache, `<cache>/mesa`):
 * `$NETC_CACHE_DIR`, else `$XDG_CACHE_HOME/netc`, else `~/.cache/netc`. Undefined outside Node
 * (a page has no such folder; callers then keep their choices in memory).
 */
export function netcCacheDir(env: Record<string, string | undefined> = typeof process !== "undefined" ? process.env : {}): string | undefined {
  const path = nodeBuiltin("node:path");
  const os = nodeBuiltin("node:os");
  if (!path || !os) return undefined;
  if (env["NETC_CACHE_DIR"]) return path.resolve(env["NETC_CACHE_DIR"]);
  if (env["XDG_CACHE_HOME"]) return path.join(path.resolve(env["XDG_CACHE_HOME"]), "netc");
  return path.join(os.homedir(), ".cache", "netc");
}
