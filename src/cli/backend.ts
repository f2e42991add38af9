import { planOf } from "../codegen/plan.js";
import type { CompileOptions, Compiled } from "../compile.js";
import { DataError } from "../data/errors.js";
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../ir/plan.js";
import { NetcError } from "../base/errors.js";
import { dimsFor, webgpuBackend, type Backend } from "../runtime/backend.js";
import { builtinCodegen, MatmulTuner } from "../codegen/matmul-tune.js";
import type { CodegenOptions } from "../codegen/wgsl.js";
import { cpuBackend } from "../runtime/cpu-backend.js";
import { CheckpointError, type Checkpoint } from "../runtime/checkpoint.js";
import { readCheckpoint } from "../runtime/checkpoint-file.js";
import { acquireGpu, releaseGpu, type GpuContext } from "../runtime/device.js";
import { checkpointValues } from "../runtime/restore.js";
import { compileFile, UsageError } from "./io.js";

/** The backends `--backend` accepts. */
export const BACKENDS = ["auto", "webgpu", "cpu"] as const;

/** An open backend, the device behind it (if any) and how long opening took. */
export interface OpenBackend {
  backend: Backend;
  gpu?: GpuContext;
  deviceMs: number;
  close(): void;
}

/**
 * Opens the backend `--backend` names: `webgpu` must find an adapter; `auto` (the default) falls
 * back to the CPU with a warning saying `doing` (e.g. "training") continues there.
 */
export async function openBackend(choice: string | undefined, doing: string): Promise<OpenBackend> {
  const want = choice ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(want)) throw new UsageError(`--backend must be auto, webgpu or cpu, got ${want}`);
  if (want === "cpu") return { backend: cpuBackend(), deviceMs: 0, close() {} };
  const t0 = performance.now();
  const got = await acquireGpu();
  const deviceMs = performance.now() - t0;
  if (got.ok) {
    const gpu = got.gpu;
    // NOTE: NETC_COMPILE_AHEAD=0 turns the parallel compile off, to measure what it gives.
    const compileAhead = process.env["NETC_COMPILE_AHEAD"] !== "0";
    return { backend: webgpuBackend(gpu, undefined, { compileAhead }), gpu, deviceMs, close: () => releaseGpu(gpu) };
  }
  if (want === "webgpu") throw new UsageError(`no WebGPU adapter: ${got.reason}`);
  process.stderr.write(`netc: warning: no WebGPU adapter (${got.reason}); ${doing} on the CPU backend instead\n`);
  return { backend: cpuBackend(), deviceMs, close() {} };
}

/**
 * Plan options with the matmul choices stored for `gpu`'s adapter (nothing without a device; the
 * built-in ones for the device with NETC_TUNE=0); with `tuneNew` (or NETC_TUNE=1), classes not timed yet are timed now, with a
 * line on stderr for each.
 */
export async function matmulCodegen(gpu: GpuContext | undefined, graph: Graph, plan: Plan, rows: number, tuneNew: boolean): Promise<{ codegen?: CodegenOptions }> {
  if (!gpu) return {};
  if (process.env["NETC_TUNE"] === "0") return { codegen: builtinCodegen(gpu) };
  const tuner = MatmulTuner.open(gpu);
  const log = (line: string) => process.stderr.write(`netc: tuned ${line}\n`);
  return { codegen: await tuner.codegenFor(graph, dimsFor(plan, rows), { tuneNew: tuneNew || process.env["NETC_TUNE"] === "1", log }) };
}

/** Reads a checkpoint; a damaged or missing file is a one-line user error. */
export function loadCheckpoint(path: string): Checkpoint {
  try {
    return readCheckpoint(path);
  } catch (e) {
    throw userError(e);
  }
}

/** Data, checkpoint and set-up problems as UsageErrors (printed as one line); anything else unchanged. */
export function userError(e: unknown): unknown {
  if (e instanceof DataError || e instanceof CheckpointError || e instanceof NetcError) return new UsageError(e.message);
  return e;
}

/** Runs `f`, turning data and checkpoint problems into UsageErrors. */
export async function asUserErrors<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw userError(e);
  }
}

/** A JSON metadata field of a checkpoint, or undefined when absent or unreadable. */
export function metaJson<T>(ckpt: Checkpoint, key: string): T | undefined {
  const text = ckpt.meta.extra?.[key];
  if (text === undefined || text === "") return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * A network compiled for inference (outputs only) with a checkpoint's weights for it; problems
 * are one-line user errors.
 */
export function loadInference(
  file: string,
  ckptPath: string,
  opts: Pick<CompileOptions, "mode" | "read"> = {},
): { compiled: Compiled; graph: Graph; plan: Plan; ckpt: Checkpoint; values: Record<string, Float32Array> } {
  const compiled = compileFile(file, { mode: "infer", ...opts });
  const graph = compiled.graph!;
  const plan = planOf(graph);
  const ckpt = loadCheckpoint(ckptPath);
  try {
    return { compiled, graph, plan, ckpt, values: checkpointValues(ckpt, plan, ckptPath, false) };
  } catch (e) {
    throw userError(e);
  }
}
