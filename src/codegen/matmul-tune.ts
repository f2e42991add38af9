/// <reference types="@webgpu/types" preserve="true" />
/**
 * Matmul tilings chosen per adapter by timing: at the first use of a shape class on an adapter,
 * the tuner compiles the class's 2-4 candidates (matmulCandidates), times each on the shape that
 * asked (first dispatch, then the best of a few interleaved runs), keeps the best (run time, with the first dispatch spread over many calls), and stores
 * {adapter name, shape class} -> parameters in `<netc cache>/matmul-tuning.json`, so later
 * processes on the same adapter pay nothing. Classes never timed use the adapter kind's built-in
 * table. This runs in the compiler's process, where a device exists; the Plan it leads to carries
 * plain WGSL, so the runtime knows nothing of it.
 */
import { cacheDir } from "../base/cache-dir.js";
import { nodeBuiltin } from "../base/node-builtins.js";
import type { Graph } from "../ir/graph.js";
import type { DimBindings } from "../ir/types.js";
import type { GpuContext } from "../runtime/device.js";
import { createStorage, upload } from "../runtime/gpu-buffers.js";
import { quietWait } from "../runtime/quiet-wait.js";
import { matmulKernel } from "./kernels/matmul.js";
import {
  adapterKind,
  defaultMatmulChooser,
  matmulCandidates,
  normalParams,
  paramsName,
  shapeClass,
  tunedClass,
  type AdapterKind,
  type MatmulChooser,
  type MatmulParams,
  type MatmulShape,
} from "./matmul-choice.js";
import { planOf } from "./plan.js";
import { DEFAULT_CODEGEN, forAdapter, type CodegenOptions } from "./wgsl.js";

/** One candidate's timing: its first dispatch (the driver's compile on llvmpipe) and its best run. */
export interface CandidateTiming {
  name: string;
  firstMs: number;
  bestMs: number;
}

/** The choice for one shape class on one adapter, and the timings it was made from. */
export interface TuningRecord {
  params: MatmulParams;
  name: string;
  shape: MatmulShape;
  candidates: CandidateTiming[];
  at: string;
}

/** `matmul-tuning.json`: records by adapter name, then by shape class. */
interface TuningFile {
  format: 1;
  adapters: Record<string, Record<string, TuningRecord>>;
}

const FILE_NAME = "matmul-tuning.json";
/** Timed runs per candidate after its first dispatch, fewer for slow shapes (see timeCandidates). */
const ROUNDS = 3;
const ROUND_BUDGET_MS = 1500;
/** Calls a kernel's extra first-dispatch time is spread over when candidates are compared. */
const COMPILE_CALLS = 200;
/** How much better than the built-in choice another candidate must score to replace it. */
const MIN_GAIN = 0.05;

/** Where the tuned choices live: `<netc cache>/matmul-tuning.json`, or nowhere outside Node. */
export function tuningFile(): string | undefined {
  const dir = cacheDir();
  const path = nodeBuiltin("node:path");
  return dir && path ? path.join(dir, FILE_NAME) : undefined;
}

/** Options of {@link MatmulTuner.codegenFor}. */
export interface TuneOptions {
  /** Time the classes not tuned yet (default true); false uses stored choices only. */
  tuneNew?: boolean;
  /** Hears one line per class tuned. */
  log?: (line: string) => void;
  /** The options for everything but matmuls (default DEFAULT_CODEGEN). */
  base?: CodegenOptions;
}

/**
 * Codegen options with the built-in matmul choices for `gpu`: its adapter kind's table, with
 * subgroup kernels where the device takes them. What runs when nothing is tuned (NETC_TUNE=0).
 */
export function builtinCodegen(gpu: GpuContext, base: CodegenOptions = DEFAULT_CODEGEN): CodegenOptions {
  return { ...forAdapter(base, gpu.subgroupSize), matmul: defaultMatmulChooser(adapterKind(gpu.adapterName), takesSubgroupMatmuls(gpu)) };
}

/**
 * Whether `gpu` takes the matmul kernels that broadcast A across a subgroup: subgroups of one
 * fixed size, at least 8 invocations (kernels/matmul.ts reads 8 rows per subgroup).
 */
export function takesSubgroupMatmuls(gpu: GpuContext): boolean {
  return (gpu.subgroupSize ?? 0) >= 8;
}

export class MatmulTuner {
  readonly kind: AdapterKind;
  private readonly records: Record<string, TuningRecord>;

  private constructor(
    private readonly gpu: GpuContext,
    private readonly file: string | undefined,
  ) {
    this.kind = adapterKind(gpu.adapterName);
    this.records = readRecords(file)[gpu.adapterName] ?? {};
  }

  /** Whether the device takes subgroup matmul kernels (see takesSubgroupMatmuls). */
  private get subgroups(): boolean {
    return takesSubgroupMatmuls(this.gpu);
  }

  /**
   * The stored record's key for a class: `+sg` marks a choice among subgroup kernels, so a device
   * without them (or a netc from before them) keeps its own record beside it.
   */
  private key(cls: string): string {
    return this.subgroups ? `${cls}+sg` : cls;
  }

  /** A tuner for `gpu`'s adapter with the choices already stored in `file` (none: in memory only). */
  static open(gpu: GpuContext, file: string | undefined = tuningFile()): MatmulTuner {
    return new MatmulTuner(gpu, file);
  }

  /** The choices made so far on this adapter, by shape class. */
  get choices(): Readonly<Record<string, TuningRecord>> {
    return this.records;
  }

  /** The tuned choice of a shape's class, else the adapter kind's built-in one. */
  chooser(): MatmulChooser {
    const builtin = defaultMatmulChooser(this.kind, this.subgroups);
    return (shape) => this.records[this.key(shapeClass(shape))]?.params ?? builtin(shape);
  }

  /**
   * Codegen options for `graph` at `dims` with every matmul class it uses tuned first (those not
   * yet tuned on this adapter are timed now and stored; with `tuneNew: false` they keep the
   * built-in choice). `log` hears one line per class tuned.
   */
  async codegenFor(graph: Graph, dims: DimBindings, opts: TuneOptions = {}): Promise<CodegenOptions> {
    const base = opts.base ?? DEFAULT_CODEGEN;
    if (opts.tuneNew !== false) {
      const shapes: MatmulShape[] = [];
      const builtin = defaultMatmulChooser(this.kind, this.subgroups);
      // NOTE: a throwaway specialisation with a recording chooser finds the matmul shapes exactly
      // as codegen sees them (after batch folding); it costs milliseconds.
      planOf(graph, { codegen: { ...base, matmul: (s) => (shapes.push(s), builtin(s)) }, variants: [dims] });
      await this.tune(shapes, opts.log);
    }
    return { ...forAdapter(base, this.gpu.subgroupSize), matmul: this.chooser() };
  }

  /** Times the candidates of each class among `shapes` not tuned yet on this adapter, and stores the choices. */
  async tune(shapes: readonly MatmulShape[], log?: (line: string) => void): Promise<TuningRecord[]> {
    const todo = new Map<string, MatmulShape>();
    for (const s of shapes) {
      const cls = shapeClass(s);
      if (tunedClass(cls) && !this.records[this.key(cls)] && !todo.has(cls)) todo.set(cls, s);
    }
    const made: TuningRecord[] = [];
    for (const [cls, shape] of todo) {
      const candidates = matmulCandidates(this.kind, cls, this.subgroups);
      const timings = await timeCandidates(this.gpu, shape, candidates);
      const best = pickCandidate(timings);
      const record: TuningRecord = { params: normalParams(candidates[best]!), name: timings[best]!.name, shape: { ...shape }, candidates: timings, at: new Date().toISOString() };
      this.records[this.key(cls)] = record;
      made.push(record);
      log?.(`matmul ${cls} (${shape.m}x${shape.n}x${shape.k}): ${timings.map((t) => `${t.name} ${t.bestMs.toFixed(1)} ms (first ${t.firstMs.toFixed(0)})`).join(", ")} -> ${record.name}`);
    }
    if (made.length) this.save();
    return made;
  }

  private save(): void {
    const fs = nodeBuiltin("node:fs");
    const path = nodeBuiltin("node:path");
    if (!this.file || !fs || !path) return;
    // NOTE: read again and merge, so processes tuning other adapters or classes keep theirs;
    // written to a temporary name and renamed, so a reader never sees half a file.
    const all = readRecords(this.file);
    all[this.gpu.adapterName] = { ...all[this.gpu.adapterName], ...this.records };
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ format: 1, adapters: all } satisfies TuningFile, null, 1) + "\n");
      fs.renameSync(tmp, this.file);
    } catch {
      // NOTE: a read-only cache folder costs the tuning again next run, nothing else.
    }
  }
}

/**
 * The candidate to keep: the lowest score, where a score is the best run plus the first
 * dispatch's extra time spread over {@link COMPILE_CALLS} calls (llvmpipe compiles a kernel at its
 * first dispatch, in every process that has no shader cache: a kernel that compiles 6 s longer
 * must save 30 ms a call to win). The built-in choice (candidate 0) is kept unless another scores
 * {@link MIN_GAIN} lower: timings on a loaded machine are noisy, and a change must pay for itself.
 */
export function pickCandidate(timings: readonly CandidateTiming[]): number {
  const score = (t: CandidateTiming) => t.bestMs + Math.max(0, t.firstMs - t.bestMs) / COMPILE_CALLS;
  let best = 0;
  timings.forEach((t, i) => {
    if (score(t) < score(timings[best]!)) best = i;
  });
  return best !== 0 && score(timings[best]!) < (1 - MIN_GAIN) * score(timings[0]!) ? best : 0;
}

/** The stored records by adapter name; a missing or unreadable file is no records. */
function readRecords(file: string | undefined): Record<string, Record<string, TuningRecord>> {
  const fs = nodeBuiltin("node:fs");
  if (!file || !fs) return {};
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<TuningFile>;
    return parsed.format === 1 && parsed.adapters && typeof parsed.adapters === "object" ? parsed.adapters : {};
  } catch {
    return {};
  }
}

/**
 * Each candidate's first dispatch and best run on `shape` (random operands on the device, no
 * epilogue). Runs are interleaved across candidates so a change in the machine's load hits all
 * alike; a candidate that does not compile on the adapter gets Infinity.
 */
export async function timeCandidates(gpu: GpuContext, shape: MatmulShape, candidates: readonly MatmulParams[]): Promise<CandidateTiming[]> {
  const { device } = gpu;
  const { batch, m, n, k } = shape;
  const values = (count: number) => Float32Array.from({ length: count }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const buffers = [batch * m * k, batch * k * n].map((count, i) => {
    const b = createStorage(device, count * 4, `tune-${i ? "b" : "a"}`);
    upload(device, b, values(count));
    return b;
  });
  const out = createStorage(device, batch * m * n * 4, "tune-out");
  const runs: ({ run: () => Promise<number> } | undefined)[] = [];
  const timings: CandidateTiming[] = [];
  try {
    for (const p of candidates) {
      const { wgsl, workgroups } = matmulKernel({ ...shape, ...p });
      const timing: CandidateTiming = { name: paramsName(p), firstMs: Infinity, bestMs: Infinity };
      timings.push(timing);
      try {
        const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module: device.createShaderModule({ code: wgsl }), entryPoint: "main" } });
        const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [...buffers, out].map((buffer, binding) => ({ binding, resource: { buffer } })) });
        const run = async () => {
          const t0 = performance.now();
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(...workgroups);
          pass.end();
          device.queue.submit([enc.finish()]);
          await quietWait(gpu.spinsWhileWaiting, device.queue.onSubmittedWorkDone());
          return performance.now() - t0;
        };
        timing.firstMs = await run();
        runs.push({ run });
      } catch {
        runs.push(undefined);
      }
    }
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      // NOTE: slow shapes get fewer rounds; the first is always made.
      if (round > 0 && performance.now() - started > ROUND_BUDGET_MS * round) break;
      for (const [i, r] of runs.entries()) if (r) timings[i]!.bestMs = Math.min(timings[i]!.bestMs, await r.run());
    }
  } finally {
    for (const b of [...buffers, out]) b.destroy();
  }
  return timings;
}
