import { requireNodeBuiltin } from "../base/node-builtins.js";
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from "./checkpoint.js";

/**
 * Checkpoint files (Node): checkpoint.ts's bytes written atomically and read back. The file system
 * is reached at call time (`process.getBuiltinModule`), so this module loads in a browser too;
 * there, `loadCheckpoint` (bytes or a URL) and `encodeCheckpoint` take its place.
 */

const IN_BROWSER = "in a browser, use loadCheckpoint(url or bytes) and encodeCheckpoint(checkpoint)";

/**
 * Writes a checkpoint atomically: a temporary file beside the target, fsync, rename over the
 * target, fsync of the directory. A crash leaves the old checkpoint or the new one, never half of one,
 * and the temporary files such crashes leave are removed by the next save to the same path.
 */
export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  const fs = requireNodeBuiltin("node:fs", `writing the checkpoint ${path}`, IN_BROWSER);
  const { basename, dirname } = requireNodeBuiltin("node:path", `writing the checkpoint ${path}`, IN_BROWSER);
  removeStaleTemps(fs, dirname(path), `.${basename(path)}.tmp-`);
  const bytes = encodeCheckpoint(ckpt);
  const tmp = `${dirname(path)}/.${basename(path)}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
  try {
    const dir = fs.openSync(dirname(path), "r");
    fs.fsyncSync(dir);
    fs.closeSync(dir);
  } catch {
    // Some file systems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Removes the temporary files (`prefix` + PID) in `dir` whose process is gone (killed during a save). */
function removeStaleTemps(fs: typeof import("node:fs"), dir: string, prefix: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
    // NOTE: a live process's file is its save in progress (two runs writing one path); leave it.
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) fs.rmSync(`${dir}/${name}`, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/** Reads and verifies a checkpoint file; any damage is a CheckpointError naming the file. */
export function readCheckpoint(path: string): Checkpoint {
  const fs = requireNodeBuiltin("node:fs", `reading the checkpoint ${path}`, IN_BROWSER);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read the file (${(e as { code?: string }).code ?? String(e)})`);
  }
  return decodeCheckpoint(bytes, path);
}
