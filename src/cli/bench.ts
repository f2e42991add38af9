import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { NetcError } from "../base/errors.js";
import { suggest } from "../base/diagnostics.js";
import { openBackend, type OpenBackend } from "./backend.js";
import { coldChild, COLD_T0, runCold } from "./bench-cold.js";
import { COMPILE_SET, isCompileWorkload, runCompileWorkload } from "./bench-compile.js";
import { gflops, timeCalls, type BenchLine, type BenchRecord } from "./bench-timing.js";
import { cnnInfer, countsOfCall, exampleWorkload, matmulWorkload, mlpStep, profileCalls, type RuntimeWorkload } from "./bench-workloads.js";
import { formatProfile, type ProfileReport } from "../runtime/profiler.js";
import { intOption, parseArgs, UsageError } from "./io.js";
import { builtinCodegen, MatmulTuner } from "../codegen/matmul-tune.js";
import type { Graph } from "../ir/graph.js";
import type { DimBindings } from "../ir/types.js";
import type { GpuContext } from "../runtime/device.js";

const USAGE = "usage: netc bench [--workload a,b] [--n N] [--backend webgpu|cpu] [--cold] [--no-tune] [--json] [--profile]";

/** The workloads the peers run too (../shared/bench-peers). */
const PEER_SET = ["matmul-1024", "mlp-step", "cnn-infer"];

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

/** The examples with a training section, by name (`mnist-cnn` for examples/mnist-cnn.net). */
function trainableExamples(): string[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith(".net") && /^train\s*\{/m.test(readFileSync(EXAMPLES + f, "utf8")))
    .map((f) => f.slice(0, -4))
    .sort();
}

/**
 * The workloads a `--workload` list names, in order, groups expanded (`peers`, `train`,
 * `compile`; none given: all three). An unknown name is a one-line error listing the names.
 */
export function resolveWorkloads(spec: string | undefined): string[] {
  const examples = trainableExamples();
  const groups: Record<string, string[]> = { peers: PEER_SET, train: examples.map((e) => `train-${e}`), compile: COMPILE_SET };
  const out: string[] = [];
  for (const raw of (spec ?? "peers,train,compile").split(",")) {
    const name = raw.trim();
    const group = groups[name];
    if (group) out.push(...group);
    else if (name === "matmul") out.push("matmul-1024");
    else if (/^matmul-[1-9]\d*$/.test(name) || name === "mlp-step" || name === "cnn-infer" || isCompileWorkload(name)) out.push(checkSize(name));
    else if (name.startsWith("train-") && examples.includes(name.slice(6))) out.push(name);
    else {
      const known = ["mlp-step", "cnn-infer", "matmul-1024", "dense-50-wgsl", "dense-8000", "pipe-1500", "sum-10000", "data-5mb", ...groups["train"]!, "peers", "train", "compile"];
      throw new UsageError(
        `unknown workload \`${name}\`${suggest(name, known)}; workloads: matmul-N (matmul-1024 by default), mlp-step, cnn-infer, ` +
          `train-EXAMPLE (${examples.join(", ")}), dense-50-wgsl, dense-N, pipe-N, sum-N, data-Nmb; groups: peers, train, compile`,
      );
    }
  }
  return [...new Set(out)];
}

/** Largest N of `matmul-N` (a 8192² operand is 256 MiB, past any adapter's binding limit) and of a generated program. */
const MAX_MATMUL = 8192;
const MAX_PROGRAM = 1_000_000;
const MAX_DATA_MB = 500;

/** `name` when its size is one netc bench can make, else a one-line error. */
function checkSize(name: string): string {
  const n = Number(/-(\d+)(mb)?$/.exec(name)?.[1] ?? 0);
  const max = name.startsWith("matmul-") ? MAX_MATMUL : name.startsWith("data-") ? MAX_DATA_MB : name === "dense-50-wgsl" ? Infinity : MAX_PROGRAM;
  if (n > max) throw new UsageError(`workload ${name}: the size can be at most ${max}${name.startsWith("data-") ? "mb" : ""}`);
  return name;
}

/** The runtime workload a (resolved) name stands for, or undefined for a compile workload. */
function runtimeWorkload(name: string): RuntimeWorkload | undefined {
  if (name === "mlp-step") return mlpStep;
  if (name === "cnn-infer") return cnnInfer;
  const m = /^matmul-(\d+)$/.exec(name);
  if (m) return matmulWorkload(Number(m[1]));
  if (name.startsWith("train-")) return exampleWorkload(name.slice(6), `${EXAMPLES}${name.slice(6)}.net`);
  return undefined;
}

/**
 * `netc bench`: times the peers' workloads, each example's training step and the compiler on
 * large programs; prints one JSON line per result in the peers' format, then a table.
 */
export async function benchCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { workload: "string", n: "string", backend: "string", cold: "boolean", json: "boolean", profile: "boolean", "no-tune": "boolean" });
  if (positional.length) throw new UsageError(USAGE);
  const n = intOption(options, "n");
  if (n === 0) throw new UsageError("--n must be at least 1");
  const backendName = (options["backend"] as string | undefined) ?? "webgpu";
  if (backendName !== "webgpu" && backendName !== "cpu") throw new UsageError(`--backend must be webgpu or cpu, got ${backendName}`);
  const names = resolveWorkloads(options["workload"] as string | undefined);
  // NOTE: cold children are other processes: they hear --no-tune through the environment.
  if (options["no-tune"] === true) process.env["NETC_TUNE"] = "0";

  if (process.env[COLD_T0]) {
    const w = names.length === 1 ? runtimeWorkload(names[0]!) : undefined;
    if (!w) throw new UsageError(`a cold child runs one runtime workload, got ${names.join(", ")}`);
    // NOTE: a cold child uses the matmul choices already stored for the adapter, and tunes nothing
    // (timing candidates is a first-run cost, not a cold-start one).
    const cached = (gpu: GpuContext) => {
      const tuner = MatmulTuner.open(gpu);
      return (graph: Graph, dims: DimBindings) => tuner.codegenFor(graph, dims, { tuneNew: false });
    };
    const builtin = (gpu: GpuContext) => async () => builtinCodegen(gpu);
    return coldChild(w, () => openBackend(backendName, "benchmarking"), tuning(options) ? cached : builtin);
  }

  const json = options["json"] === true;
  const lines: BenchRecord[] = [];
  const emit = (line: BenchRecord) => {
    lines.push(line);
    process.stdout.write(JSON.stringify(line) + "\n");
  };
  let opened: OpenBackend | undefined;
  let tuner: MatmulTuner | undefined;
  try {
    for (const name of names) {
      const w = runtimeWorkload(name);
      try {
        if (!w) emit(await runCompileWorkload(name, n));
        else if (options["cold"] === true) emit(await runCold(name, n ?? 2, backendName));
        else {
          if (!opened) {
            opened = await openBackend(backendName, "benchmarking");
            const info = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, backend: opened.gpu?.adapterName ?? "cpu", loadavg: loadavg().map((l) => Number(l.toFixed(2))) };
            process.stdout.write(JSON.stringify({ system: "netc", info }) + "\n");
            if (opened.gpu && tuning(options)) tuner = MatmulTuner.open(opened.gpu);
          }
          emit(await runRuntimeWorkload(w, opened, n, options["profile"] === true, tuner));
        }
      } catch (e) {
        if (e instanceof UsageError) throw e;
        // NOTE: a workload the device cannot take (a matmul past its binding size) is said in one
        // line; anything else is a bug, with the head of its stack as the peers' `fail()` gives it.
        const err = e as Error;
        const text = e instanceof NetcError ? err.message : String(err.stack ?? err.message).split("\n").slice(0, 6).join(" | ");
        emit({ system: "netc", workload: name, error: text });
      }
    }
  } finally {
    opened?.close();
  }
  if (!json) {
    process.stdout.write("\n" + table(lines) + "\n");
    for (const l of lines) {
      const profile = (l as { profile?: ProfileReport }).profile;
      if (profile) process.stdout.write(`\n${l.workload}: ${formatProfile(profile).join("\n")}\n`);
    }
  }
  return lines.some((l) => "error" in l) ? 1 : 0;
}

/**
 * Whether matmul tilings are tuned on the adapter (on unless `--no-tune` or NETC_TUNE=0): the
 * first run on an adapter times a few candidates per shape class (seconds on llvmpipe, included
 * in setup_ms) and stores the choices; later runs read them.
 */
function tuning(options: Record<string, unknown>): boolean {
  return options["no-tune"] !== true && process.env["NETC_TUNE"] !== "0";
}

/** Prepares a runtime workload, times it, counts one call's GPU work and frees its runner. */
async function runRuntimeWorkload(w: RuntimeWorkload, opened: OpenBackend, n: number | undefined, profile: boolean, tuner: MatmulTuner | undefined): Promise<BenchRecord> {
  const t0 = performance.now();
  const tuned: string[] = [];
  const gpu = opened.gpu;
  // NOTE: untuned (--no-tune), the device still gets its built-in choices (subgroup kernels where it takes them).
  const tune = tuner ? (graph: Graph, dims: DimBindings) => tuner.codegenFor(graph, dims, { log: (line) => tuned.push(line) }) : gpu && (async () => builtinCodegen(gpu));
  const p = await w.prepare(opened.backend, tune);
  for (const line of tuned) process.stderr.write(`netc: tuned ${line}\n`);
  const setupMs = performance.now() - t0;
  try {
    const reps = n === undefined ? w.reps : { ...w.reps, reps: n, warmup: Math.min(w.reps.warmup, n), minReps: Math.min(w.reps.minReps, n) };
    const t = await timeCalls(() => p.call(), reps);
    const counts = await countsOfCall(p);
    const profiled = profile ? await profileCalls(p, reps.reps) : undefined;
    const errors = opened.backend.deviceErrors?.() ?? [];
    if (errors.length) return { system: "netc", workload: w.name, error: `device error: ${errors[0]}` };
    const line: BenchLine = {
      system: "netc",
      workload: w.name,
      ...t,
      gflops_median: gflops(p.flops, t.median_ms),
      gflops_best: gflops(p.flops, t.min_ms),
      ...counts,
      kernels: p.runner.kernelsPerStep,
      setup_ms: Math.round(setupMs),
      ...p.extra(),
      ...(profiled ? { profile: profiled } : {}),
    };
    return line;
  } finally {
    p.runner.dispose();
  }
}

// NOTE: `profile` is printed after the table, not as a note.
const PEER_KEYS = new Set(["system", "workload", "median_ms", "min_ms", "n", "gflops_median", "gflops_best", "dispatches", "passes", "submits", "profile"]);

/** The results as a text table (median and best ms, GFLOP/s, GPU work per call, the rest as notes). */
function table(lines: readonly BenchRecord[]): string {
  const rows = [["workload", "median ms", "min ms", "n", "GFLOP/s med (best)", "disp/pass/sub", "notes"]];
  for (const l of lines) {
    if (!("median_ms" in l)) {
      rows.push([l.workload, "-", "-", "-", "-", "-", `FAILED: ${l.error.slice(0, 120)}`]);
      continue;
    }
    const notes = Object.entries(l)
      .filter(([k]) => !PEER_KEYS.has(k))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ");
    rows.push([
      l.workload,
      String(l.median_ms ?? "-"),
      String(l.min_ms ?? "-"),
      String(l.n),
      l.gflops_median === null ? "" : `${l.gflops_median} (${l.gflops_best})`,
      l.dispatches === null ? "" : `${l.dispatches}/${l.passes}/${l.submits}`,
      notes,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ")).join("\n");
}
