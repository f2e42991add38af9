import { spawn } from "node:child_process";
import { join } from "node:path";

/** What a CLI run gave: exit code, stdout and stderr. */
export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * Runs the built CLI (`bin/netc.js ARGS`) from the repository root, as a user would (stdout a
 * pipe). Asynchronous on purpose: a test that waits in spawnSync blocks its vitest worker, and a
 * worker blocked for over a minute (a slow run on a loaded machine) misses vitest's RPC deadline
 * ("Timeout calling onTaskUpdate"), which fails the whole run although every test passed.
 */
export function netcWith(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "netc.js"), ...args], { cwd: ROOT, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** `netc ARGS` with the default environment and time limit. */
export const netc = (...args: string[]): Promise<CliResult> => netcWith(args);
