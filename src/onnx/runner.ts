import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { planOf } from "../codegen/plan.js";
import { DEFAULT_CODEGEN, type CodegenOptions } from "../codegen/wgsl.js";
import { Diagnostics } from "../base/diagnostics.js";
import type { Graph, Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import { runPipeline } from "../ir/passes/pipeline.js";
import type { GpuContext } from "../runtime/device.js";
import { PipelineCache } from "../runtime/pipelines.js";
import { WebGpuRunner } from "../runtime/webgpu.js";
import { OnnxImportError } from "./node-context.js";
import { importModel, parseModelBytes, type ImportedModel } from "./importer.js";
import { ONNX_OPS } from "./ops/index.js";
import { decodeTensorProto, type ModelProto } from "./proto.js";
import { sizeOf, tensorFromProto, TensorDecodeError, type HostTensor } from "./tensor.js";

/**
 * The ONNX conformance runner: each test folder (model.onnx + test_data_set_0) is imported,
 * compiled through the normal pipeline, run on the CPU reference and on WebGPU, and every output
 * compared with ONNX's tolerance. A test that cannot be imported is a SKIP with the reason (or a
 * FAIL when the model is malformed), never a crash of the run.
 */

/** The backends a run can use. */
export type Backend = "cpu" | "webgpu";

/** ONNX's own runner compares float32 with these (numpy's assert_allclose, NaN equal to NaN). */
export const RTOL = 1e-3;
export const ATOL = 1e-7;

/** Output and input dtypes a float32 runtime handles (integer inputs are shapes, axes, indices). */
const OUTPUT_DTYPES = new Set(["float32", "bool"]);
const INPUT_DTYPES = new Set(["float32", "bool", "int64", "int32"]);

/** One test folder. */
export interface TestCase {
  name: string;
  dir: string;
  /** The ONNX op the test is about (from index.json; else the model's only node). */
  op: string;
}

/** A test's model and data, decoded. */
export interface LoadedTest {
  model: ModelProto;
  inputs: { name: string; tensor: HostTensor }[];
  outputs: { name: string; tensor: HostTensor }[];
}

/** What happened on one backend. */
export interface BackendOutcome {
  status: "pass" | "fail" | "skip";
  detail?: string;
}

/** The result of one test. */
export interface TestResult {
  name: string;
  op: string;
  status: "pass" | "fail" | "skip";
  /** Why it was skipped, or the first failure. */
  reason?: string;
  backends: Partial<Record<Backend, BackendOutcome>>;
  /** Counted toward the float32 pass rate (float32 data, deterministic expected values). */
  counted: boolean;
  ms: number;
  /** Kernels of the fused graph (after a successful import). */
  kernels?: number;
  /** Graph inputs whose values were folded in at import time. */
  specialised?: string[];
}

/** The repository root (the folder with netc's package.json), found from this module's location. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && /"name":\s*"netc"/.test(readFileSync(pkg, "utf8"))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** Where the data is: the argument, else $NETC_CONFORMANCE_DIR, else ../shared/conformance/onnx-node from the repo root. */
export function conformanceDir(arg?: string): string {
  if (arg) return resolve(arg);
  const env = process.env["NETC_CONFORMANCE_DIR"];
  if (env) return resolve(env);
  return resolve(repoRoot(), "..", "shared", "conformance", "onnx-node");
}

/** The test folders under `dir`, sorted by name, optionally only those whose name contains `filter`. */
export function listTests(dir: string, filter?: string): TestCase[] {
  const opOf = new Map<string, string>();
  const index = join(dir, "index.json");
  if (existsSync(index)) {
    const parsed = JSON.parse(readFileSync(index, "utf8")) as { ops?: Record<string, { test: string }[]> };
    for (const [op, tests] of Object.entries(parsed.ops ?? {})) for (const t of tests) opOf.set(t.test, op);
  }
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "model.onnx")))
    .map((e) => e.name)
    .filter((name) => !filter || name.includes(filter))
    .sort()
    .map((name) => ({ name, dir: join(dir, name), op: opOf.get(name) ?? "" }));
}

function readTensorFile(file: string): { name: string; tensor: HostTensor } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new OnnxImportError(`${file}: cannot read (${(e as Error).message})`, "invalid");
  }
  try {
    const proto = decodeTensorProto(bytes);
    return { name: proto.name ?? "", tensor: tensorFromProto(proto) };
  } catch (e) {
    const kind = e instanceof TensorDecodeError && /not supported/.test(e.message) ? "unsupported" : "invalid";
    throw new OnnxImportError(`${file}: ${(e as Error).message}`, kind);
  }
}

/** Reads a test folder: model.onnx and test_data_set_0/input_N.pb, output_N.pb in numeric order. */
export function loadTest(dir: string): LoadedTest {
  const file = join(dir, "model.onnx");
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new OnnxImportError(`${file}: cannot read (${(e as Error).message})`, "invalid");
  }
  const model = parseModelBytes(bytes, file);
  const data = join(dir, "test_data_set_0");
  const files = existsSync(data) ? readdirSync(data) : [];
  const numbered = (prefix: string) =>
    files
      .filter((f) => new RegExp(`^${prefix}_\\d+\\.pb$`).test(f))
      .sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]))
      .map((f) => readTensorFile(join(data, f)));
  return { model, inputs: numbered("input"), outputs: numbered("output") };
}

/** Feeds by graph-input name: a tensor's own name, else its position among the non-initializer inputs. */
function feedsOf(t: LoadedTest): Map<string, HostTensor> {
  const inits = new Set((t.model.graph?.initializer ?? []).map((i) => i.name));
  const names = (t.model.graph?.input ?? []).map((i) => i.name ?? "").filter((n) => !inits.has(n));
  const feeds = new Map<string, HostTensor>();
  t.inputs.forEach((x, i) => feeds.set(x.name && names.includes(x.name) ? x.name : names[i] ?? x.name, x.tensor));
  return feeds;
}

/**
 * Where `got` is furthest outside tolerance (|got - expected| > atol + rtol·|expected|), or a
 * message when the sizes differ, or undefined when every element is close. NaN matches NaN and an
 * infinite expected value only itself.
 */
export function compareOutputs(
  got: ArrayLike<number>,
  expected: HostTensor,
  rtol = RTOL,
  atol = ATOL,
): { maxErr: number; index: number[]; got: number; expected: number } | string | undefined {
  if (got.length !== expected.data.length) return `${got.length} values, expected ${expected.data.length}`;
  let worst: { maxErr: number; i: number } | undefined;
  for (let i = 0; i < got.length; i++) {
    const a = got[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const err = Math.abs(a - e);
    // An infinite expected value must be matched exactly (its tolerance would be infinite).
    const close = Number.isFinite(e) && err <= atol + rtol * Math.abs(e);
    if (!close && (!worst || !(err <= worst.maxErr))) worst = { maxErr: Number.isNaN(err) ? Infinity : err, i };
  }
  if (!worst) return undefined;
  const index: number[] = [];
  let rest = worst.i;
  for (let d = expected.dims.length - 1; d >= 0; d--) {
    index.unshift(rest % expected.dims[d]!);
    rest = Math.floor(rest / expected.dims[d]!);
  }
  return { maxErr: worst.maxErr, index, got: got[worst.i]!, expected: expected.data[worst.i]! };
}

const fmtNum = (x: number) => (Number.isFinite(x) && x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential(3) : String(Number(x.toPrecision(6))));

/** Options of a conformance run. */
export interface RunOptions {
  backends: Backend[];
  /** The shared device (required when backends include webgpu). */
  gpu?: GpuContext;
  /** Kernel template choices (default CONFORMANCE_CODEGEN). */
  codegen?: CodegenOptions;
  /** Registered primitives to import as if absent (see ImportOptions.withoutOps). */
  withoutOps?: ReadonlySet<string>;
}

/**
 * Codegen for conformance runs: the tensors are tiny, and on a software rasteriser compiling a
 * kernel costs far more than running it, so the matmul template is the smallest one (one output
 * per thread) rather than the register-blocked default measured for training; convs keep the
 * implicit GEMM template (so the ONNX data checks it) with 2x2 blocks, which compile about as
 * fast as the direct loop.
 */
export const CONFORMANCE_CODEGEN: CodegenOptions = {
  ...DEFAULT_CODEGEN,
  matmul: { tileM: 1, tileN: 1, workgroup: [8, 8] },
  conv: { tileM: 2, tileN: 2, threads: 64 },
};

/** Runs tests one at a time, sharing one device and one pipeline cache. */
export class ConformanceRunner {
  private readonly cache?: PipelineCache;

  constructor(private readonly opts: RunOptions) {
    if (opts.backends.includes("webgpu")) {
      if (!opts.gpu) throw new Error("internal: a WebGPU run needs a device");
      this.cache = new PipelineCache(opts.gpu.device);
    }
  }

  /** Runs one test folder. */
  async run(tc: TestCase): Promise<TestResult> {
    const t0 = performance.now();
    const result = (status: TestResult["status"], reason: string | undefined, counted: boolean, backends: TestResult["backends"] = {}): TestResult => ({
      name: tc.name,
      op: tc.op,
      status,
      reason,
      backends,
      counted,
      ms: performance.now() - t0,
    });
    const skipAll = (reason: string, counted: boolean) =>
      result("skip", reason, counted, Object.fromEntries(this.opts.backends.map((b) => [b, { status: "skip", detail: reason }])));

    let test: LoadedTest;
    try {
      test = loadTest(tc.dir);
    } catch (e) {
      if (e instanceof OnnxImportError) return e.kind === "unsupported" ? skipAll(e.message, false) : result("fail", e.message, true);
      throw e;
    }
    if (!tc.op) tc.op = test.model.graph?.node?.length === 1 ? (test.model.graph.node[0]!.opType ?? "?") : "?";
    const badOut = test.outputs.find((o) => !OUTPUT_DTYPES.has(o.tensor.dtype));
    const badIn = test.inputs.find((o) => !INPUT_DTYPES.has(o.tensor.dtype));
    if (badOut) return skipAll(`dtype ${badOut.tensor.dtype} not supported (output ${badOut.name}; the runtime is float32)`, false);
    if (badIn) return skipAll(`dtype ${badIn.tensor.dtype} not supported (input ${badIn.name}; the runtime is float32)`, false);

    let imported: ImportedModel;
    let fused: Graph;
    try {
      imported = importModel(test.model, ONNX_OPS, { feeds: feedsOf(test), file: join(tc.dir, "model.onnx"), withoutOps: this.opts.withoutOps });
      if (imported.outputs.length !== test.outputs.length)
        return result("fail", `the model has ${imported.outputs.length} outputs, the data ${test.outputs.length}`, true);
      const d = new Diagnostics();
      const { graph } = runPipeline(imported.graph, { d });
      if (d.hasErrors) return result("fail", `pipeline: ${d.render().split("\n")[0]}`, true);
      fused = graph;
    } catch (e) {
      if (e instanceof OnnxImportError) {
        if (e.kind === "invalid") return result("fail", e.message, true);
        return skipAll(e.message, e.kind !== "random");
      }
      return result("fail", `import: ${(e as Error).message}`, true);
    }

    const backends: TestResult["backends"] = {};
    for (const b of this.opts.backends) {
      try {
        const got = b === "cpu" ? this.runCpu(fused, imported, test) : await this.runGpu(fused, imported, test);
        backends[b] = this.check(got, imported, test, b);
      } catch (e) {
        backends[b] = { status: "fail", detail: `${b}: ${(e as Error).message.split("\n")[0]}` };
      }
    }
    const failed = Object.values(backends).find((o) => o.status === "fail");
    return { ...result(failed ? "fail" : "pass", failed?.detail, true, backends), kernels: fused.kernels?.length, specialised: imported.specialised };
  }

  private args(fused: Graph, imported: ImportedModel, test: LoadedTest): Map<string, Float32Array> {
    const feeds = feedsOf(test);
    const out = new Map<string, Float32Array>();
    for (const i of imported.inputs) out.set(i.name, Float32Array.from(feeds.get(i.name)!.data));
    for (const [name, data] of Object.entries(imported.constants)) out.set(name, data);
    for (const a of fused.args) if (!out.has(a.arg!.name)) throw new Error(`internal: no data for argument ${a.arg!.name}`);
    return out;
  }

  private runCpu(fused: Graph, imported: ImportedModel, test: LoadedTest): Float32Array[] {
    const data = this.args(fused, imported, test);
    const args = new Map<Value, Tensor>();
    for (const a of fused.args) args.set(a, { shape: a.type.shape as number[], data: data.get(a.arg!.name)! });
    const env = interpret(fused, args, { dims: {}, precision: "f32" });
    return fused.outputs.map((o) => Float32Array.from(env.get(o.value)!.data));
  }

  private async runGpu(fused: Graph, imported: ImportedModel, test: LoadedTest): Promise<Float32Array[]> {
    const gpu = this.opts.gpu!;
    const data = this.args(fused, imported, test);
    const initial: Record<string, Float32Array> = {};
    const batch: Record<string, Float32Array> = {};
    for (const a of fused.args) (a.arg!.role === "input" ? batch : initial)[a.arg!.name] = data.get(a.arg!.name)!;
    const errorsBefore = gpu.errors.length;
    gpu.device.pushErrorScope("validation");
    let runner: WebGpuRunner | undefined;
    try {
      runner = await WebGpuRunner.create(gpu, planOf(fused, { codegen: this.opts.codegen ?? CONFORMANCE_CODEGEN }), {}, initial, this.cache);
      const got = await runner.run(batch, fused.outputs.map((o) => o.name));
      return fused.outputs.map((o) => got[o.name]!);
    } finally {
      const error = await gpu.device.popErrorScope();
      runner?.dispose();
      if (error) throw new Error(`validation error: ${error.message}`);
      if (gpu.errors.length > errorsBefore) throw new Error(gpu.errors.slice(errorsBefore).join("; "));
    }
  }

  private check(got: Float32Array[], imported: ImportedModel, test: LoadedTest, b: Backend): BackendOutcome {
    for (const [i, expected] of test.outputs.entries()) {
      // Expected tensors are named after the graph outputs; unnamed ones go by position.
      const byName = imported.outputs.findIndex((o) => o.name === expected.name);
      const k = expected.name && byName >= 0 ? byName : i;
      const name = imported.outputs[k]?.name ?? expected.name;
      const bad = compareOutputs(got[k]!, expected.tensor);
      if (bad === undefined) continue;
      if (typeof bad === "string") return { status: "fail", detail: `${b}, output ${name}: ${bad}` };
      return {
        status: "fail",
        detail:
          `${b}, output ${name}, max abs err ${fmtNum(bad.maxErr)} at [${bad.index.join(", ")}] ` +
          `(got ${fmtNum(bad.got)}, expected ${fmtNum(bad.expected)})`,
      };
    }
    return { status: "pass" };
  }
}

/** `PASS name (cpu, webgpu)`, `FAIL name: detail`, `SKIP name: reason`. */
export function formatResult(r: TestResult, verbose = false): string {
  const facts = [`${r.ms.toFixed(0)} ms`];
  if (r.kernels !== undefined) facts.push(`${r.kernels} kernel${r.kernels === 1 ? "" : "s"}`);
  if (r.specialised?.length) facts.push(`specialised on ${r.specialised.join(", ")}`);
  const time = verbose ? ` [${facts.join(", ")}]` : "";
  if (r.status === "pass") return `PASS ${r.name} (${Object.keys(r.backends).join(", ")})${time}`;
  if (r.status === "fail") return `FAIL ${r.name}: ${r.reason ?? "failed"}${time}`;
  return `SKIP ${r.name}: ${r.reason ?? "skipped"}${time}`;
}

/** Totals over results: overall, float32 (counted) pass rate, and per op per backend. */
export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  counted: number;
  countedPassed: number;
  perOp: Map<string, Record<Backend, { pass: number; fail: number; skip: number }>>;
}

/** Adds up results of a run on `backends`. */
export function summarize(results: TestResult[], backends: Backend[]): Summary {
  const perOp = new Map<string, Record<Backend, { pass: number; fail: number; skip: number }>>();
  const s: Summary = { passed: 0, failed: 0, skipped: 0, counted: 0, countedPassed: 0, perOp };
  for (const r of results) {
    if (r.status === "pass") s.passed++;
    else if (r.status === "fail") s.failed++;
    else s.skipped++;
    if (r.counted) {
      s.counted++;
      if (r.status === "pass") s.countedPassed++;
    }
    let row = perOp.get(r.op);
    if (!row) {
      row = { cpu: { pass: 0, fail: 0, skip: 0 }, webgpu: { pass: 0, fail: 0, skip: 0 } };
      perOp.set(r.op, row);
    }
    for (const [b, o] of Object.entries(r.backends) as [Backend, BackendOutcome][]) row[b][o.status]++;
    // A test that failed before any backend ran (a malformed model) fails on each of them.
    if (r.status === "fail" && !Object.keys(r.backends).length) for (const b of backends) row[b].fail++;
  }
  return s;
}

/** The per-op table (op, then passed/failed/skipped per backend) as text lines. */
export function opTable(s: Summary, backends: Backend[]): string[] {
  const ops = [...s.perOp.keys()].sort();
  const width = Math.max(4, ...ops.map((o) => o.length));
  const head = backends.map((b) => `${b.padStart(6)} pass fail skip`).join("  ");
  const lines = [`${"op".padEnd(width)}  ${head}`];
  for (const op of ops) {
    const row = s.perOp.get(op)!;
    const cells = backends.map((b) => `${"".padStart(6)} ${String(row[b].pass).padStart(4)} ${String(row[b].fail).padStart(4)} ${String(row[b].skip).padStart(4)}`);
    lines.push(`${op.padEnd(width)}  ${cells.join("  ")}`);
  }
  return lines;
}
