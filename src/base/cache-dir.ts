import { nodeBuiltin } from "./node-builtins.js";

/**
 * netc's cache folder (Node only): `$NETC_CACHE_DIR`, else `$XDG_CACHE_HOME/netc`, else
 * `~/.cache/netc`. It holds what makes a second run start faster than the first, e.g. Mesa's
 * shader cache in `mesa/`. Undefined outside Node.
 */
export function cacheDir(): string | undefined {
  const path = nodeBuiltin("node:path");
  const os = nodeBuiltin("node:os");
  if (!path || !os) return undefined;
  const own = process.env["NETC_CACHE_DIR"];
  if (own) return path.resolve(own);
  const xdg = process.env["XDG_CACHE_HOME"];
  return xdg ? path.join(path.resolve(xdg), "netc") : path.join(os.homedir(), ".cache", "netc");
}

/** A sub-folder of the cache folder, made if missing; undefined outside Node or when it cannot be made. */
export function cacheSubdir(name: string): string | undefined {
  const root = cacheDir();
  const fs = nodeBuiltin("node:fs");
  const path = nodeBuiltin("node:path");
  if (!root || !fs || !path) return undefined;
  const dir = path.join(root, name);
  try {
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  } catch {
    return undefined;
  }
}
