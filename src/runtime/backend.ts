import { NetcError } from "../base/errors.js";
import { batchBindings, type Plan } from "../ir/plan.js";
import type { DimBindings } from "../ir/types.js";
import type { GpuContext } from "./device.js";
import { PipelineCache } from "./pipelines.js";
import type { StepRunner } from "./runner.js";
import { WebGpuRunner, type PrepareTimes } from "./webgpu.js";

/**
 * Where runners come from: the CPU reference or one WebGPU device (with one pipeline cache, so a
 * second specialisation of a plan compiles only the kernels whose WGSL differs).
 */
export interface Backend {
  readonly kind: "cpu" | "webgpu";
  /** A runner of `plan` for batch size `rows`, sharing persistent buffers with `shareWith` when given. */
  create(plan: Plan, rows: number, initial: Record<string, Float32Array>, shareWith?: StepRunner): Promise<StepRunner>;
  /** Milliseconds spent on codegen and pipelines so far (zero on the CPU). */
  readonly times: PrepareTimes;
  /** Errors the device reported so far (validation, out of memory, device lost); none on the CPU. */
  deviceErrors?(): readonly string[];
}

/**
 * The WebGPU backend on an open device; `compileAhead` compiles each new runner's kernels on
 * sibling devices in parallel where that helps (see parallel-compile.ts).
 */
export function webgpuBackend(gpu: GpuContext, cache = new PipelineCache(gpu.device), opts: { compileAhead?: boolean } = {}): Backend {
  const times: PrepareTimes = { codegen: 0, pipelines: 0 };
  return {
    kind: "webgpu",
    times,
    deviceErrors: () => gpu.errors,
    async create(plan, rows, initial, shareWith) {
      if (shareWith && !(shareWith instanceof WebGpuRunner)) throw new NetcError("a WebGPU runner can share weights only with a WebGPU runner (pools of one backend)");
      const r = await WebGpuRunner.create(gpu, plan, dimsFor(plan, rows), initial, cache, { sharePersistentWith: shareWith, warm: true, compileAhead: opts.compileAhead });
      times.codegen += r.times.codegen;
      times.pipelines += r.times.pipelines;
      if (r.times.ahead && r.times.ahead.shaders > 0) {
        const a = (times.ahead ??= { devices: 0, shaders: 0, ms: 0 });
        a.devices = Math.max(a.devices, r.times.ahead.devices);
        a.shaders += r.times.ahead.shaders;
        a.ms += r.times.ahead.ms;
      }
      return r;
    },
  };
}

/** The dim bindings of a plan for a batch size; a symbol the batch does not bind is an error. */
export function dimsFor(plan: Plan, rows: number): DimBindings {
  if (!Number.isInteger(rows) || rows < 1) throw new NetcError(`${plan.name}: a batch needs a whole number of rows (at least 1), got ${rows}`);
  const dims = batchBindings(plan, rows);
  const unbound = new Set<string>();
  for (const b of plan.buffers) for (const d of b.shape) if (typeof d === "string" && !(d in dims)) unbound.add(d);
  if (unbound.size) throw new RunnerSetupError(`dims ${[...unbound].join(", ")} of ${plan.name} are not bound by any input`);
  return dims;
}

/** A plan that cannot be run as it stands (a user error, e.g. a dim nothing binds). */
export class RunnerSetupError extends NetcError {}

/**
 * The runners of one plan by batch size, made when first needed. The first one owns the
 * persistent values (params and state); every later one (the last partial batch, another split's
 * size) shares them, so there is one copy of the weights however many sizes run. A pool can also
 * share with another pool's owner: the inference graph of a network reads the training graph's
 * weights in place.
 */
export class RunnerPool {
  private runners = new Map<number, StepRunner>();
  private first?: StepRunner;

  /**
   * @param initial starting persistent values (ignored for those shared from `shareWith`)
   * @param shareWith a pool whose owner's persistent values this pool uses (matched by name)
   */
  constructor(
    readonly backend: Backend,
    readonly plan: Plan,
    private readonly initial: Record<string, Float32Array>,
    private readonly shareWith?: RunnerPool,
  ) {}

  /** The runner for batches of `rows` rows. */
  async get(rows: number): Promise<StepRunner> {
    const have = this.runners.get(rows);
    if (have) return have;
    const owner = this.first ?? (this.shareWith ? await this.shareWith.owner() : undefined);
    const r = await this.backend.create(this.plan, rows, this.first ? {} : this.initial, owner);
    this.runners.set(rows, r);
    this.first ??= r;
    return r;
  }

  /** The runner that owns (or first bound) the persistent values; made for the first size asked, or 1 row. */
  async owner(): Promise<StepRunner> {
    return this.first ?? this.get(1);
  }

  /** Whether any runner exists yet. */
  get started(): boolean {
    return this.first !== undefined;
  }

  /** Every persistent value by name. */
  async state(): Promise<Record<string, Float32Array>> {
    return (await this.owner()).state();
  }

  /** Overwrites persistent values by name (seen by every runner of the pool and its sharers). */
  async load(values: Record<string, Float32Array>): Promise<void> {
    await (await this.owner()).load(values);
  }

  /** Zeroes the step statistics every runner of the pool adds to, or writes a copy back (see step-stats.ts). */
  async resetStats(values?: Float32Array): Promise<void> {
    (await this.owner()).resetStats(values);
  }

  /** Kernels per step of the first runner (0 before any). */
  get kernelsPerStep(): number {
    return this.first?.kernelsPerStep ?? 0;
  }

  /** Frees the runners; the owner last, since the others bind its buffers. */
  dispose(): void {
    for (const r of this.runners.values()) if (r !== this.first) r.dispose();
    this.first?.dispose();
    this.runners.clear();
    this.first = undefined;
  }
}
