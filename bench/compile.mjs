#!/usr/bin/env node
// Compile time at scale: generates large programs into a temporary folder and times
// `netc check` on each in a fresh Node process (wall time from spawn to exit, and the child's peak
// resident set size, and its CPU time, user + system: steadier than wall time on a shared
// machine), so a quadratic pass or a recursion on chain length shows up as a figure.
//
//   node bench/compile.mjs [--only dense-2000,sum-10000] [--timeout SECONDS] [--keep]
//
// Workloads:
//   dense-N     N dense layers written as separate lets (`hK = hJ |> lK: dense(16, ...)`), with a
//               training section (autodiff, Adam, fuse all run); 30,000 layers is about 4.9 MB
//   pipe-N      one `|>` chain of N dense layers in a single expression
//   sum-10000   a 10,000-term `x + x + ...` output
//   data-5mb    a small network whose training section holds a 5 MB literal `data {}` block
// Prints one JSON line per workload, then a table. Needs `npm run build` first (bin/netc.js runs dist/).
// `netc bench --workload compile` runs the same programs (and 50 layers compiled to WGSL) in its own format.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// NOTE: the generators live once, in the CLI (`netc bench` runs the same programs).
import { programFor } from "../dist/src/cli/bench-programs.js";

const ROOT = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const timeoutS = Number(opt("timeout", "300"));
const only = opt("only", undefined)?.split(",");
const keep = args.includes("--keep");

const WORKLOADS = ["dense-2000", "dense-8000", "dense-30000", "pipe-1500", "pipe-5000", "sum-10000", "data-5mb"]
  .filter((name) => !only || only.includes(name))
  .map((name) => [name, () => programFor(name)]);

const dir = mkdtempSync(join(tmpdir(), "netc-bench-compile-"));
// NOTE: the probe is preloaded into the child so its own peak RSS (getrusage of that process) is
// reported on exit, whatever the platform's `time` command offers.
const probe = join(dir, "rss-probe.mjs");
writeFileSync(probe, `process.on("exit", () => { const u = process.resourceUsage(); process.stderr.write("\\n@@maxrss " + u.maxRSS + " cpu " + (u.userCPUTime + u.systemCPUTime) + "\\n"); });\n`);

/** Runs `netc check FILE` in a fresh process: wall seconds, peak RSS in MB, exit status and the last line. */
function check(file) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", probe, join(ROOT, "bin", "netc.js"), "check", file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (err += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const rss = /@@maxrss (\d+) cpu (\d+)/.exec(err);
      const firstErr = err.split("\n").find((l) => l.trim() && !l.startsWith("@@")) ?? "";
      resolve({
        seconds: Number(seconds.toFixed(2)),
        cpuSeconds: rss ? Number((Number(rss[2]) / 1e6).toFixed(2)) : null,
        peakRssMB: rss ? Math.round(Number(rss[1]) / 1024) : null,
        status: signal ? `killed after ${timeoutS} s` : code === 0 ? "ok" : `exit ${code}`,
        message: code === 0 ? out.trim().split("\n")[0] : firstErr.slice(0, 160),
      });
    });
  });
}

const results = [];
try {
  for (const [name, make] of WORKLOADS) {
    const file = join(dir, `${name}.net`);
    writeFileSync(file, make());
    const bytes = statSync(file).size;
    const r = { workload: name, fileMB: Number((bytes / 1e6).toFixed(2)), ...(await check(file)) };
    results.push(r);
    console.log(JSON.stringify(r));
  }
} finally {
  if (keep) console.log(`workloads kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

const pad = (s, n) => String(s).padEnd(n);
console.log("");
console.log(`${pad("workload", 13)}${pad("file MB", 9)}${pad("wall s", 9)}${pad("cpu s", 9)}${pad("peak MB", 9)}status`);
for (const r of results) console.log(`${pad(r.workload, 13)}${pad(r.fileMB, 9)}${pad(r.seconds, 9)}${pad(r.cpuSeconds ?? "-", 9)}${pad(r.peakRssMB ?? "-", 9)}${r.status}`);
