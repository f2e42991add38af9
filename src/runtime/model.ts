import { NetcError } from "../base/errors.js";
import type { Plan, PlanTensor } from "../ir/plan.js";
import { numel } from "../ir/types.js";
import { RunnerPool, webgpuBackend, type Backend } from "./backend.js";
import { acquireGpu, releaseGpu, type GpuContext } from "./device.js";
import { argmaxRows, thresholdRows } from "./metrics.js";
import { readSource, type ByteSource } from "../base/read-source.js";
import { decodeSafetensors } from "./safetensors.js";
import { transformRows, type InputTransform } from "./transform.js";

/**
 * A built model at run time: what `netc build` embeds in a module (the inference Plan, the input
 * transform, the class names) loaded with its weights onto WebGPU, or onto the CPU reference when
 * there is no adapter. Only the runtime is needed: no parser, no passes, no codegen.
 */

/** What a built module embeds. */
export interface ModelDescription {
  plan: Plan;
  transform: InputTransform;
  /** For a classifier: the output whose argmax (or 0.5 threshold, for one column) is the class, and the class names. */
  classes?: { output: string; names: string[] };
  /** The weights file's name, beside the module. */
  weights: string;
}

/** Options for `load()`. */
export interface LoadOptions {
  /** The weights: a path (Node) or URL, or the file's bytes; default: the file beside the module. */
  weights?: ByteSource;
  /** `auto` (default): WebGPU when an adapter is found, else the CPU reference; or insist on one. */
  backend?: "auto" | "webgpu" | "cpu";
  /** An open device to run on (it stays open on dispose); default: one acquired and released with the model. */
  gpu?: GpuContext;
  /** Called as loading moves on (a page's progress line): what is being done now. */
  onProgress?: (stage: LoadStage) => void;
}

/** The stages of `load()`, in order: weights and device (together), then the pipelines, then ready. */
export type LoadStage =
  | { stage: "fetching"; what: string }
  | { stage: "pipelines"; backend: "webgpu" | "cpu"; kernels: number }
  | { stage: "ready"; ms: number };

/** What `predict` accepts for one input: rows of values, flat and row-major. */
export type InputArray = Float32Array | Int32Array | Uint8Array | Uint8ClampedArray | readonly number[];

/** The outputs of `predict` by name (each rows × the output's row shape), and the classes of a classifier. */
export type Prediction = Record<string, Float32Array> & { classes?: string[] };

/** A loaded model. */
export interface Model {
  readonly name: string;
  /** Which backend runs it. */
  readonly backend: "webgpu" | "cpu";
  /** The adapter's name on WebGPU ("cpu" on the CPU reference), and why there is no GPU when there is none. */
  readonly device: string;
  readonly fallbackReason?: string;
  /** The batch sizes it carries kernels for; other row counts are cut into these (the last part padded). */
  readonly batchSizes: readonly number[];
  /** Runs the network on rows of every input (at least one row). */
  predict(inputs: Record<string, InputArray>): Promise<Prediction>;
  /** Frees the device buffers (and the device, when `load` opened it). */
  dispose(): void;
}

/**
 * Loads a built model: reads the weights, opens the backend and prepares the runner of the
 * smallest batch size, so the first prediction only dispatches.
 * @param base the module's own URL (`import.meta.url`): the default weights sit beside it
 */
export async function loadModel(desc: ModelDescription, base: string | URL, options: LoadOptions = {}): Promise<Model> {
  const want = options.backend ?? "auto";
  if (!["auto", "webgpu", "cpu"].includes(want)) throw new NetcError(`backend must be "auto", "webgpu" or "cpu", got ${JSON.stringify(want)}`);
  const plan = desc.plan;
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => {});
  progress({ stage: "fetching", what: want === "cpu" || options.gpu ? "the weights" : "the weights, and opening WebGPU" });
  // NOTE: the weights are read while the device opens (Dawn's start-up is most of a warm load).
  const [weights, got] = await Promise.all([
    readWeights(options.weights ?? new URL(desc.weights, base), plan),
    options.gpu || want === "cpu" ? undefined : acquireGpu(),
  ]);
  let gpu = options.gpu;
  let fallbackReason: string | undefined;
  if (got?.ok) gpu = got.gpu;
  else if (got && want === "webgpu") throw new NetcError(`no WebGPU adapter: ${got.reason}`);
  else if (got) fallbackReason = got.reason;
  const owned = gpu !== undefined && options.gpu === undefined ? gpu : undefined;
  let backend: Backend;
  if (gpu) backend = webgpuBackend(gpu);
  else backend = (await import("./cpu-backend.js")).cpuBackend();
  const sizes = plan.variants.map((v) => v.dims[plan.batchDims[0] ?? ""] ?? 1).sort((a, b) => a - b);
  if (sizes.length === 0) throw new NetcError(`${plan.name}: the plan carries no batch size to run`);
  const pool = new RunnerPool(backend, plan, weights);
  try {
    // NOTE: every kernel's pipeline is created at once (createComputePipelineAsync, in parallel).
    const variant = plan.variants.find((v) => (v.dims[plan.batchDims[0] ?? ""] ?? 1) === sizes[0]);
    progress({ stage: "pipelines", backend: backend.kind, kernels: variant?.kernels.length ?? 0 });
    await pool.get(sizes[0]!);
    progress({ stage: "ready", ms: performance.now() - t0 });
  } catch (e) {
    pool.dispose();
    if (owned) releaseGpu(owned);
    throw e;
  }
  return new LoadedModel(desc, pool, sizes, gpu ? gpu.adapterName : "cpu", fallbackReason, owned);
}

class LoadedModel implements Model {
  readonly name: string;
  readonly backend: "webgpu" | "cpu";

  constructor(
    private readonly desc: ModelDescription,
    private readonly pool: RunnerPool,
    readonly batchSizes: readonly number[],
    readonly device: string,
    readonly fallbackReason: string | undefined,
    private readonly ownedGpu: GpuContext | undefined,
  ) {
    this.name = desc.plan.name;
    this.backend = pool.backend.kind;
  }

  async predict(inputs: Record<string, InputArray>): Promise<Prediction> {
    const plan = this.desc.plan;
    if (typeof inputs !== "object" || inputs === null) throw new NetcError(`${plan.name}.predict wants an object of inputs (${plan.inputs.map((t) => `${t.name}: ${describe(t)}`).join(", ")})`);
    const unknown = Object.keys(inputs).filter((k) => !plan.inputs.some((t) => t.name === k));
    if (unknown.length) throw new NetcError(`${plan.name} has no input ${unknown.map((k) => `"${k}"`).join(", ")}; its inputs: ${plan.inputs.map((t) => `${t.name}: ${describe(t)}`).join(", ")}`);
    let rows = -1;
    const flat = new Map<string, Float32Array>();
    for (const t of plan.inputs) {
      const data = inputs[t.name];
      if (data === undefined) throw new NetcError(`${plan.name}.predict: input "${t.name}" (${describe(t)}) is missing`);
      if (!isArrayLike(data)) throw new NetcError(`${plan.name}.predict: input "${t.name}" must be a typed array or an array of numbers, got ${typeof data}`);
      const width = numel(t.shape.slice(1) as number[]);
      const n = data.length / width;
      if (!Number.isInteger(n) || n < 1)
        throw new NetcError(`${plan.name}.predict: input "${t.name}" is ${describe(t)}: rows of ${width} values, got ${data.length} values`);
      if (rows >= 0 && n !== rows) throw new NetcError(`${plan.name}.predict: the inputs hold different row counts (${rows} and ${n} in "${t.name}")`);
      rows = n;
      const bytes = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
      // NOTE: the training transform applies to the one input training fed from the data.
      flat.set(t.name, plan.inputs.length === 1 ? transformRows(data, this.desc.transform, bytes) : Float32Array.from(data));
    }
    const parts = new Map<string, Float32Array[]>(plan.outputs.map((o) => [o.name, []]));
    for (let start = 0; start < rows; ) {
      const size = this.batchFor(rows - start);
      const n = Math.min(size, rows - start);
      const feed: Record<string, Float32Array> = {};
      for (const t of plan.inputs) {
        const width = numel(t.shape.slice(1) as number[]);
        const chunk = new Float32Array(size * width);
        chunk.set(flat.get(t.name)!.subarray(start * width, (start + n) * width));
        feed[t.name] = chunk;
      }
      const runner = await this.pool.get(size);
      const got = await runner.run(feed, plan.outputs.map((o) => o.name));
      for (const o of plan.outputs) {
        const width = got[o.name]!.length / size;
        parts.get(o.name)!.push(got[o.name]!.subarray(0, n * width));
      }
      start += n;
    }
    const out: Prediction = {};
    for (const [name, chunks] of parts) out[name] = concat(chunks);
    const c = this.desc.classes;
    if (c) {
      const values = out[c.output]!;
      const width = values.length / rows;
      const ids = width === 1 ? thresholdRows(values) : argmaxRows(values, width);
      out.classes = Array.from(ids, (k) => c.names[k] ?? String(k));
    }
    return out;
  }

  /** The batch size for the next `remaining` rows: the largest carried one, or the smallest that holds them all. */
  private batchFor(remaining: number): number {
    const largest = this.batchSizes.at(-1)!;
    return remaining >= largest ? largest : this.batchSizes.find((s) => s >= remaining)!;
  }

  dispose(): void {
    this.pool.dispose();
    if (this.ownedGpu) releaseGpu(this.ownedGpu);
  }
}

/** `f32[B, 4]` */
function describe(t: PlanTensor): string {
  return `${t.dtype}[${t.shape.join(", ")}]`;
}

function isArrayLike(x: unknown): x is InputArray {
  return Array.isArray(x) || ArrayBuffer.isView(x);
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return Float32Array.from(parts[0]!);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The weights of `plan` from bytes, a path or a URL, checked against its params. */
async function readWeights(src: NonNullable<LoadOptions["weights"]>, plan: Plan): Promise<Record<string, Float32Array>> {
  const what = src instanceof ArrayBuffer || ArrayBuffer.isView(src) ? `the weights of ${plan.name}` : String(src);
  const bytes = await readSource(src, what);
  const { tensors } = decodeSafetensors(bytes, what);
  const out: Record<string, Float32Array> = {};
  const problems: string[] = [];
  for (const p of plan.params) {
    const t = tensors[p.name];
    const shape = p.shape as number[];
    if (!t) problems.push(`no tensor "${p.name}" (${describe(p)})`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) problems.push(`"${p.name}" is [${t.shape.join(", ")}], the model's is [${shape.join(", ")}]`);
    else out[p.name] = t.values;
  }
  if (problems.length) throw new NetcError(`${what} does not fit ${plan.name}: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? `; and ${problems.length - 5} more` : ""}`);
  return out;
}
