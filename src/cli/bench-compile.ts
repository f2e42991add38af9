/**
 * The compile workloads of `netc bench` (issue 13's compile-time figures): large generated
 * programs checked by `netc check` in a fresh process each (wall time, CPU time and peak resident
 * memory of that process), and a 50-layer network compiled to WGSL in this process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { planOf } from "../codegen/plan.js";
import { compile } from "../compile.js";
import { denseLets, programFor } from "./bench-programs.js";
import { round, summarise, timeCalls, type BenchLine } from "./bench-timing.js";

/** The compile workloads `--workload compile` runs. */
export const COMPILE_SET = ["dense-50-wgsl", "dense-8000", "pipe-1500", "sum-10000", "data-5mb"];

/** Whether `name` is a compile workload (`dense-50-wgsl`, `dense-N`, `pipe-N`, `sum-N`, `data-Nmb`). */
export function isCompileWorkload(name: string): boolean {
  return name === "dense-50-wgsl" || programFor(name) !== undefined;
}

/** Seconds a `check` child may take before it is killed and reported as such. */
const TIMEOUT_S = 600;

const BIN = fileURLToPath(new URL("../../../bin/netc.js", import.meta.url));

const NO_RUNTIME = { gflops_median: null, gflops_best: null, dispatches: null, passes: null, submits: null };

/** Runs one compile workload `n` times (default: 10 in-process compiles for WGSL, 1 fresh process otherwise). */
export async function runCompileWorkload(name: string, n: number | undefined): Promise<BenchLine> {
  if (name === "dense-50-wgsl") return toWgsl(n ?? 10);
  const dir = mkdtempSync(join(tmpdir(), "netc-bench-compile-"));
  try {
    const file = join(dir, `${name}.net`);
    writeFileSync(file, programFor(name)!);
    // NOTE: preloaded into the child so it reports its own peak RSS and CPU time (getrusage) on exit.
    const probe = join(dir, "usage-probe.mjs");
    writeFileSync(probe, `process.on("exit", () => { const u = process.resourceUsage(); process.stderr.write("\\n@@usage " + u.maxRSS + " " + (u.userCPUTime + u.systemCPUTime) + "\\n"); });\n`);
    const runs: CheckRun[] = [];
    for (let i = 0; i < (n ?? 1); i++) {
      const r = await checkInChild(probe, file);
      runs.push(r);
      if (r.status !== "ok") break;
    }
    const ok = runs.filter((r) => r.status === "ok");
    const wall = summarise(ok.map((r) => r.wallMs));
    return {
      system: "netc",
      workload: name,
      median_ms: ok.length ? wall.median_ms : null,
      min_ms: ok.length ? wall.min_ms : null,
      n: ok.length,
      ...NO_RUNTIME,
      cpu_ms: ok.length ? summarise(ok.map((r) => r.cpuMs)).median_ms : null,
      peak_rss_mb: Math.max(...runs.map((r) => r.peakMb)),
      file_mb: round(statSync(file).size / 1e6, 2),
      status: runs.find((r) => r.status !== "ok")?.status ?? "ok",
      ...(ok.length < runs.length ? { error: runs.find((r) => r.status !== "ok")!.message } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 50 dense layers (the training step: forward, autodiff, Adam, fuse) compiled to WGSL in this process. */
async function toWgsl(n: number): Promise<BenchLine> {
  const text = denseLets(50);
  let shaders = 0;
  let kernels = 0;
  // NOTE: CPU time too: on a shared machine it moves less than the wall time.
  const cpu: number[] = [];
  const t = await timeCalls(
    async () => {
      const c0 = process.cpuUsage();
      const c = compile(text, "dense-50.net");
      if (!c.graph || !c.train) throw new Error(`internal: the benchmark's dense-50.net does not compile:\n${c.diagnostics.render()}`);
      const plan = planOf(c.graph, { train: c.train, batches: [c.train.batch] });
      shaders = plan.shaders.length;
      kernels = plan.variants[0]?.kernels.length ?? 0;
      const used = process.cpuUsage(c0);
      cpu.push((used.user + used.system) / 1000);
    },
    { warmup: Math.min(2, n), reps: n, minReps: Math.min(3, n), maxMs: 20000 },
  );
  // NOTE: the CPU times of the timed calls (the warm-up calls come first).
  const cpu_ms = summarise(cpu.slice(cpu.length - t.n)).median_ms;
  return { system: "netc", workload: "dense-50-wgsl", ...t, ...NO_RUNTIME, cpu_ms, kernels, shaders, file_kb: round(text.length / 1000, 1) };
}

interface CheckRun {
  wallMs: number;
  cpuMs: number;
  peakMb: number;
  status: string;
  message: string;
}

/** `netc check FILE` in a fresh Node process: wall time from spawn to exit, CPU time and peak RSS. */
function checkInChild(probe: string, file: string): Promise<CheckRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", probe, BIN, "check", file], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stdout.resume();
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_S * 1000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const usage = /@@usage (\d+) (\d+)/.exec(err);
      resolve({
        wallMs: performance.now() - t0,
        cpuMs: usage ? Number(usage[2]) / 1000 : NaN,
        peakMb: usage ? Math.round(Number(usage[1]) / 1024) : 0,
        status: signal ? `killed after ${TIMEOUT_S} s` : code === 0 ? "ok" : `exit ${code}`,
        message: (err.split("\n").find((l) => l.trim() && !l.startsWith("@@")) ?? "").slice(0, 200),
      });
    });
  });
}
