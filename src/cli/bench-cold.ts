/**
 * `netc bench --cold`: each measurement is a fresh `netc bench` process with an empty Mesa shader
 * cache (a new temporary MESA_SHADER_CACHE_DIR), timed from just before the spawn to its first
 * result, as the peers' coldstart.mjs times TF.js and jax-js. The child reads the spawn time from
 * the environment (the monotonic clock is shared by processes on one machine) and reports when
 * netc was ready (modules loaded, device open), when the workload was set up (compiled, pipelines
 * made, every kernel dispatched once) and when its first and second calls returned. Each cold
 * child is followed by a warm one on the shader cache it left, as a second run of netc finds its
 * own cache (`<netc cache>/mesa`): `warm_ms` is that child's spawn -> first result.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "../runtime/backend.js";
import type { GpuContext } from "../runtime/device.js";
import type { RuntimeWorkload, Tune } from "./bench-workloads.js";
import { round, summarise, type BenchRecord } from "./bench-timing.js";

/** The environment variable that makes `netc bench` a cold child, holding the parent's spawn time (ns). */
export const COLD_T0 = "NETC_BENCH_COLD_T0";

const BIN = fileURLToPath(new URL("../../../bin/netc.js", import.meta.url));

/** What one cold child reports (ms since the spawn, and of each call). */
interface ColdRecord {
  ready_ms: number;
  setup_ms: number;
  first_ms: number;
  first_call_ms: number;
  second_call_ms: number;
}

const sinceSpawn = (t0: bigint): number => round(Number(process.hrtime.bigint() - t0) / 1e6, 3);

/** In the child: opens the backend, prepares the workload, makes two calls and prints one record line. */
export async function coldChild(workload: RuntimeWorkload, open: () => Promise<{ backend: Backend; close(): void }>, tune?: (gpu: GpuContext) => Tune): Promise<number> {
  const t0 = BigInt(process.env[COLD_T0]!);
  const opened: { backend: Backend; gpu?: GpuContext; close(): void } = await open();
  try {
    const ready_ms = sinceSpawn(t0);
    const p = await workload.prepare(opened.backend, opened.gpu && tune?.(opened.gpu));
    const setup_ms = sinceSpawn(t0);
    let s = process.hrtime.bigint();
    await p.call();
    const first_ms = sinceSpawn(t0);
    const first_call_ms = round(Number(process.hrtime.bigint() - s) / 1e6, 3);
    s = process.hrtime.bigint();
    await p.call();
    const second_call_ms = round(Number(process.hrtime.bigint() - s) / 1e6, 3);
    p.runner.dispose();
    const rec: ColdRecord = { ready_ms, setup_ms, first_ms, first_call_ms, second_call_ms };
    process.stdout.write(`@@cold ${JSON.stringify(rec)}\n`);
    return 0;
  } finally {
    opened.close();
  }
}

/** In the parent: `n` cold children of `workload` in turn; the line's times are spawn -> first result. */
export async function runCold(workload: string, n: number, backend: string): Promise<BenchRecord> {
  const recs: (ColdRecord & { cache_bytes: number })[] = [];
  const warm: ColdRecord[] = [];
  for (let i = 0; i < n; i++) {
    const cache = mkdtempSync(join(tmpdir(), "netc-bench-mesa-"));
    try {
      const got = await oneChild(workload, backend, cache);
      if ("error" in got) return { system: "netc", workload: `${workload} cold`, error: got.error };
      recs.push({ ...got, cache_bytes: dirBytes(cache) });
      const again = await oneChild(workload, backend, cache);
      if ("error" in again) return { system: "netc", workload: `${workload} cold`, error: `warm child: ${again.error}` };
      warm.push(again);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  const med = (k: keyof ColdRecord | "cache_bytes") => summarise(recs.map((r) => r[k])).median_ms;
  const t = summarise(recs.map((r) => r.first_ms));
  return {
    system: "netc",
    workload: `${workload} cold`,
    ...t,
    gflops_median: null,
    gflops_best: null,
    dispatches: null,
    passes: null,
    submits: null,
    ready_ms: med("ready_ms"),
    setup_ms: med("setup_ms"),
    first_call_ms: med("first_call_ms"),
    second_call_ms: med("second_call_ms"),
    mesa_cache_bytes: med("cache_bytes"),
    warm_ms: summarise(warm.map((r) => r.first_ms)).median_ms,
    warm_setup_ms: summarise(warm.map((r) => r.setup_ms)).median_ms,
  };
}

/** One child on the shader cache in `cache` (empty: a cold start; filled by a child before: a warm one). */
function oneChild(workload: string, backend: string, cache: string): Promise<ColdRecord | { error: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // NOTE: NETC_STDERR_FILTERED runs the command in this one process (bin/netc.js would add a
    // filtering parent, a second Node start that a library user does not pay).
    const env = { ...process.env, [COLD_T0]: String(t0), MESA_SHADER_CACHE_DIR: cache, NETC_STDERR_FILTERED: "1" };
    const child = spawn(process.execPath, [BIN, "bench", "--workload", workload, "--backend", backend], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("error", reject);
    child.on("close", (code) => {
      const line = /^@@cold (.*)$/m.exec(out);
      if (code !== 0 || !line) {
        const why = err.split("\n").filter((l) => l.trim() && !l.startsWith("Warning: maxDynamic")).slice(0, 3).join(" | ");
        resolve({ error: `cold child exited ${code}: ${why}` });
      } else resolve(JSON.parse(line[1]!) as ColdRecord);
    });
  });
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}
