import { NetcError } from "../base/errors.js";
import type { Graph, Value } from "../ir/graph.js";
import type { StepProfiler } from "./profiler.js";
import { hyperValues, type HyperSchedule } from "../ir/training.js";
import { concreteShape, formatShape, numel, type DimBindings, type Dim, type DType } from "../ir/types.js";

/** A compiled training step (or inference pass) on some backend. */
export interface StepRunner {
  /** "cpu" or "webgpu (adapter name)". */
  readonly name: string;
  /**
   * Runs one step (forward, backward, update) on a batch; returns the loss when `readLoss`.
   * Batches are treated as immutable: passing the same object again may skip its upload.
   */
  step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined>;
  /**
   * Runs one step and reads back the named values ("loss" and graph output names such as
   * "metric.accuracy" or "probs"), all in one read-back. Values are those of this step's forward
   * pass (before its updates). Hyper scalars the batch leaves out (learning rate, Adam's bias
   * corrections, the dropout seed) follow the training schedule at this runner's step count.
   * A missing or mis-sized input, or an unknown name to read, is a NetcError. Calls must not overlap.
   */
  run(batch: Record<string, Float32Array>, read: readonly string[]): Promise<Record<string, Float32Array>>;
  /**
   * The names `run` can read: "loss" (when the graph has one), the graph's outputs, and for a
   * training step "step.stats": loss and accuracy summed over the steps since the last
   * `resetStats`, and the first of them with a non-finite loss or weights (see step-stats.ts).
   */
  readonly readable: readonly string[];
  /** Zeroes the step statistics (shared by the runners of a pool), or writes a copy read earlier back. */
  resetStats(values?: Float32Array): void;
  /** Current parameter values by name. */
  params(): Promise<Record<string, Float32Array>>;
  /** Every persistent value by name: params and state (optimizer moments, batchnorm running statistics). */
  state(): Promise<Record<string, Float32Array>>;
  /**
   * Overwrites persistent values by name (any subset). A name that is not a persistent value, or
   * a wrong number of values, is a NetcError.
   */
  load(values: Record<string, Float32Array>): Promise<void>;
  /** Kernels launched per step. */
  readonly kernelsPerStep: number;
  /**
   * Times the next `steps` steps (all when omitted) kernel by kernel; the profiler's `report()`
   * gives the medians. Absent where the backend has no kernels to time (the CPU reference).
   */
  startProfile?(steps?: number): StepProfiler;
  /** Frees device resources (buffers shared from another runner stay with their owner). */
  dispose(): void;
}

/** A tensor a step is fed: an input, a label or a hyper scalar. */
export interface FeedTensor {
  name: string;
  dtype: DType;
  shape: Dim[];
  role: "input" | "label" | "hyper";
}

/**
 * Checks each step's batch against what the step is fed, and completes it: hyper scalars not
 * given come from the schedule at the feeder's step count (one per `feed`).
 */
export class Feeder {
  private steps = 0;

  constructor(
    private readonly owner: string,
    private readonly tensors: readonly FeedTensor[],
    private readonly dims: DimBindings,
    private readonly schedule?: HyperSchedule,
  ) {}

  /** The arrays of one step by tensor name. */
  feed(batch: Record<string, Float32Array>): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    const auto = this.schedule ? hyperValues(this.schedule, this.steps) : undefined;
    this.steps++;
    for (const t of this.tensors) {
      let data = Object.hasOwn(batch, t.name) ? batch[t.name] : undefined;
      if (data === undefined && t.role === "hyper") {
        const v = auto?.[t.name];
        if (v === undefined) throw new NetcError(`${this.owner}: hyper scalar "${t.name}" was not given, and there is no training schedule to take it from`);
        data = Float32Array.of(v);
      }
      if (data === undefined) throw new NetcError(`${this.owner}: the batch has no ${t.role} "${t.name}" (${describe(t, this.dims)}); it feeds ${this.tensors.filter((x) => x.role !== "hyper").map((x) => x.name).join(", ")}`);
      if (!(data instanceof Float32Array)) throw new NetcError(`${this.owner}: ${t.role} "${t.name}" must be a Float32Array, got ${typeName(data)}`);
      const want = numel(concreteShape(t.shape, this.dims));
      if (data.length !== want) throw new NetcError(`${this.owner}: ${t.role} "${t.name}" is ${describe(t, this.dims)}: ${want} values, got ${data.length}`);
      out.set(t.name, data);
    }
    return out;
  }
}

/** `f32[B, 4] with B = 3` */
function describe(t: FeedTensor, dims: DimBindings): string {
  const bound = t.shape.filter((d): d is string => typeof d === "string").map((d) => `${d} = ${dims[d]}`);
  return `${t.dtype}${formatShape(t.shape)}${bound.length ? ` with ${[...new Set(bound)].join(", ")}` : ""}`;
}

function typeName(x: unknown): string {
  return x === null ? "null" : typeof x === "object" ? (x as object).constructor?.name ?? "object" : typeof x;
}

/** The fed tensors of a graph: its inputs, labels and hyper scalars. */
export function feedOfGraph(g: Graph): FeedTensor[] {
  return g.perStep.map((a) => ({ name: a.arg!.name, dtype: a.type.dtype, shape: a.type.shape, role: a.arg!.role as FeedTensor["role"] }));
}

/** The names a runner of `g` can read back: "loss" (when there is one) and every output's name. */
export function readableNames(g: Graph): string[] {
  return [...(g.loss ? ["loss"] : []), ...g.outputs.map((o) => o.name)];
}

/** The value behind a readable name; an unknown name is a NetcError listing the readable ones. */
export function readableValue(g: Graph, name: string): Value {
  const v = name === "loss" ? g.loss : g.outputs.find((o) => o.name === name)?.value;
  if (!v) throw unreadable(g.name, name, readableNames(g));
  return v;
}

/** The error for a name `run` cannot read. */
export function unreadable(owner: string, name: string, readable: readonly string[]): NetcError {
  return new NetcError(`${owner} has no value "${name}" to read (readable: ${readable.join(", ") || "none"})`);
}

/** The error for a persistent value that does not exist or has the wrong size. */
export function badPersistent(owner: string, name: string, known: readonly string[], got?: number, want?: number): NetcError {
  if (want === undefined) return new NetcError(`${owner} has no param or state called "${name}" (it has ${known.slice(0, 8).join(", ")}${known.length > 8 ? ", ..." : ""})`);
  return new NetcError(`${owner}: "${name}" holds ${want} values, got ${got}`);
}

/** The persistent arg of `g` called `name`, or a NetcError (used by `load`). */
export function persistentNamed(g: Graph, name: string): Value {
  const v = g.persistent.find((p) => p.arg!.name === name);
  if (!v) throw badPersistent(g.name, name, g.persistent.map((p) => p.arg!.name));
  return v;
}

/** The error for a param or state given no starting value. */
export function missingWeight(owner: string, name: string, shape: readonly number[]): NetcError {
  return new NetcError(`${owner}: no value was given for "${name}" (${formatShape(shape)})`);
}
