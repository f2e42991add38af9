import { NetcError } from "../base/errors.js";
import { arenaOf } from "../ir/arena.js";
import { dimsKey, type Plan, type PlanArena, type PlanTensor, type PlanVariant } from "../ir/plan.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import type { GpuContext } from "./device.js";
import { arenaBuffers } from "./arena-buffers.js";
import { createStorage, readBack } from "./gpu-buffers.js";
import { checkPlanFits } from "./limits.js";
import { compileAhead, type AheadReport } from "./parallel-compile.js";
import { PipelineCache } from "./pipelines.js";
import { quietWait } from "./quiet-wait.js";
import { shortLocation, StepProfiler, TimestampQueries, type KernelLabel, type ProfileMethod } from "./profiler.js";
import { checkedUpdates, GpuStepStats, keepsStats, STATS_LENGTH, STEP_STATS } from "./step-stats.js";
import { badPersistent, Feeder, missingWeight, unreadable, type FeedTensor, type StepRunner } from "./runner.js";

interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/** Milliseconds spent preparing runners, for the `train` report. */
export interface PrepareTimes {
  /** Generating WGSL (in-process plans only: a loaded plan carries its WGSL). */
  codegen: number;
  pipelines: number;
  /** Kernels compiled ahead in parallel (see parallel-compile.ts), when it was done. */
  ahead?: AheadReport;
}

/** Options for {@link WebGpuRunner.create}. */
export interface WebGpuRunnerOptions {
  /**
   * Bind this runner's persistent values (params and state, matched by name) to the buffers of
   * another runner on the same device instead of allocating its own: a runner specialised for
   * the last partial batch, or the inference plan of the same network, then reads and updates
   * the same weights with no copy. The owner must outlive this runner.
   */
  sharePersistentWith?: WebGpuRunner;
  /**
   * With `warm`, on a driver that compiles at the first dispatch: compile the kernels on sibling
   * devices in parallel first (see parallel-compile.ts). Off by default: it opens devices, which
   * a command-line run can afford and a test suite of many small runners need not pay for.
   */
  compileAhead?: boolean;
  /**
   * Dispatch every kernel once before returning (nothing persistent changes: kernels write only
   * their own outputs), so the drivers that compile at the first dispatch (llvmpipe) do it now
   * and `times.pipelines` holds all of the shader compilation.
   */
  warm?: boolean;
  /**
   * Temporaries share buffers by the variant's arena (default true). Off, every value has a
   * buffer of its own, so `readValue` can read any of them after a step (for debugging).
   */
  arena?: boolean;
}

/**
 * Runs a Plan on WebGPU: one storage buffer per plan buffer (aliases share), every kernel's
 * pipeline and bind group made once, and a step that is one command encoder and one submit.
 * Values asked for are copied into one staging buffer in the same submit and mapped once; steps
 * that read nothing never wait for the device.
 */
export class WebGpuRunner implements StepRunner {
  readonly name: string;
  readonly kernelsPerStep: number;
  readonly readable: readonly string[];
  /**
   * Totals of what this runner has encoded (kernel dispatches, compute passes, queue submits),
   * kept as three additions per step: `netc bench` reports their difference over one step.
   */
  readonly encoded = { dispatches: 0, passes: 0, submits: 0 };
  private buffers: GPUBuffer[] = [];
  /** The arena the temporaries share, when on; values it may overwrite within a step cannot be read after it. */
  private arena?: PlanArena;
  /** The buffers of the arena's slots, lent to runners that share this one's persistent buffers. */
  private arenaSlots: GPUBuffer[] = [];
  /** Buffers this runner allocated (and destroys); shared persistent buffers belong to their owner. */
  private owned = new Set<GPUBuffer>();
  /** Persistent buffers by name, for runners that share them. */
  private persistentByName = new Map<string, GPUBuffer>();
  private dispatches: Dispatch[] = [];
  private statsDispatches: Dispatch[] = [];
  /** Where each readable value goes in the staging buffer (byte offset and length). */
  private slots = new Map<string, { buffer: number | "stats"; offset: number; bytes: number; count: number }>();
  /** Training plans: the step statistics (shared with the owner's), and this runner's rows for them. */
  private stepStats?: GpuStepStats;
  private ownsStats = false;
  private rowsBuffer?: GPUBuffer;
  private staging: GPUBuffer;
  private feeder: Feeder;
  private fed: { tensor: PlanTensor; buffer: number }[];
  /** What each fed tensor holds now; the same (immutable) array again needs no upload. */
  private uploaded = new Map<number, Float32Array>();
  /** Set by {@link startProfile}: the steps that follow are timed kernel by kernel. */
  private profiler?: StepProfiler;
  private queries?: TimestampQueries;

  private constructor(
    private readonly gpu: GpuContext,
    private readonly plan: Plan,
    private readonly dims: DimBindings,
    readonly variant: PlanVariant,
    readonly times: PrepareTimes,
  ) {
    this.name = `webgpu (${gpu.adapterName})`;
    this.kernelsPerStep = variant.kernels.length;
    const readable: PlanTensor[] = [...(plan.loss !== undefined ? [{ name: "loss", dtype: "f32" as const, shape: [], buffer: plan.loss }] : []), ...plan.outputs];
    this.readable = readable.map((t) => t.name);
    let offset = 0;
    for (const t of readable) {
      const bytes = this.bytes(t.buffer);
      this.slots.set(t.name, { buffer: t.buffer, offset, bytes, count: this.count(t.buffer) });
      offset += bytes;
    }
    if (keepsStats(plan)) {
      this.readable = [...this.readable, STEP_STATS];
      this.slots.set(STEP_STATS, { buffer: "stats", offset, bytes: STATS_LENGTH * 4, count: STATS_LENGTH });
      offset += STATS_LENGTH * 4;
    }
    this.staging = gpu.device.createBuffer({ size: Math.max(4, offset), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "read-staging" });
    const feeds: [PlanTensor[], FeedTensor["role"]][] = [[plan.inputs, "input"], [plan.labels, "label"], [plan.hypers, "hyper"]];
    this.fed = feeds.flatMap(([ts]) => ts.map((tensor) => ({ tensor, buffer: tensor.buffer })));
    this.feeder = new Feeder(plan.name, feeds.flatMap(([ts, role]) => ts.map((t) => ({ ...t, role }))), dims, plan.schedule);
  }

  /** Creates the variant's pipelines in parallel (each compiled once per cache), allocates buffers, binds them. */
  static async create(
    gpu: GpuContext,
    plan: Plan,
    dims: DimBindings,
    initial: Record<string, Float32Array>,
    cache = new PipelineCache(gpu.device),
    more: WebGpuRunnerOptions = {},
  ): Promise<WebGpuRunner> {
    const owner = more.sharePersistentWith;
    if (owner && owner.gpu.device !== gpu.device) throw new NetcError("runners can share weights only on one device");
    const t0 = performance.now();
    const variant = variantFor(plan, dims);
    const t1 = performance.now();
    // NOTE: checked before any buffer or pipeline exists: a plan too big for the device is the
    // user's to change, and Dawn would otherwise only log validation errors and compute nothing.
    checkPlanFits(plan, dims, gpu.limits);
    const pipelines = await Promise.all(variant.kernels.map((k) => cache.get(plan.shaders[k.shader]!, k.entry)));
    const r = new WebGpuRunner(gpu, plan, dims, variant, { codegen: t1 - t0, pipelines: 0 });
    r.allocate(owner, more.arena === false ? undefined : (variant.arena ?? arenaOf(plan, variant)));
    for (const p of plan.params) {
      if (owner?.persistentByName.has(p.name)) continue;
      const data = initial[p.name];
      if (!data) throw missingWeight(plan.name, p.name, concreteShape(p.shape, dims));
      r.write(p.buffer, data, p.name);
    }
    r.dispatches = variant.kernels.map((k, i) => ({
      pipeline: pipelines[i]!,
      workgroups: k.workgroups,
      bindGroup: gpu.device.createBindGroup({
        layout: pipelines[i]!.getBindGroupLayout(0),
        // NOTE: sized: an arena slot may be bigger than the value, and kernels bound their threads by arrayLength.
        entries: k.bindings.map((b, binding) => ({ binding, resource: { buffer: r.buffers[b]!, size: r.bytes(b) } })),
      }),
    }));
    if (keepsStats(plan)) await r.addStats(cache, owner);
    if (more.warm && more.compileAhead) {
      const shaders = variant.kernels.map((k, i) => ({ wgsl: plan.shaders[k.shader]!, entry: k.entry, bindings: k.bindings.length, pipeline: pipelines[i]! }));
      r.times.ahead = await compileAhead(gpu, shaders);
    }
    if (more.warm) await r.warm();
    r.times.pipelines = performance.now() - t1;
    return r;
  }

  /** The step statistics' dispatches after the step's kernels (see step-stats.ts). */
  private async addStats(cache: PipelineCache, owner: WebGpuRunner | undefined): Promise<void> {
    const device = this.gpu.device;
    this.ownsStats = !owner?.stepStats;
    this.stepStats = owner?.stepStats ?? new GpuStepStats(device);
    const input = this.plan.inputs[0];
    const rows = input ? concreteShape(input.shape, this.dims)[0] ?? 1 : 1;
    this.rowsBuffer = createStorage(device, 4, "step-rows");
    device.queue.writeBuffer(this.rowsBuffer, 0, Float32Array.of(rows));
    const acc = this.plan.outputs.find((o) => o.name === "metric.accuracy");
    const checked = checkedUpdates(this.plan).map((u) => ({ buffer: this.buffers[u.value]!, count: this.count(u.value), state: u.state }));
    this.statsDispatches = await this.stepStats.dispatches(cache, this.gpu.limits.maxStorageBuffersPerShaderStage, this.buffers[this.plan.loss!]!, acc && this.buffers[acc.buffer], this.rowsBuffer, checked);
  }

  /** One pass of every kernel, awaited: pipelines compile at their first dispatch on some drivers. */
  private async warm(): Promise<void> {
    const device = this.gpu.device;
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    // NOTE: the stats kernel would count a step: only the owner of a fresh accumulator runs it
    // (and zeroes the accumulator after); its sharers run the same pipeline, compiled by then.
    const count = record(pass, this.dispatches, this.ownsStats ? this.statsDispatches : this.statsDispatches.slice(0, -1));
    pass.end();
    device.queue.submit([enc.finish()]);
    this.noteSubmit(count, 1);
    // NOTE: the check kernels may have set the flag from uninitialised values.
    if (this.ownsStats) this.stepStats!.reset();
    else if (this.stepStats) device.queue.writeBuffer(this.stepStats.flag, 0, new Uint32Array(1));
    await quietWait(this.gpu.spinsWhileWaiting, device.queue.onSubmittedWorkDone());
  }

  private allocate(owner: WebGpuRunner | undefined, arena: PlanArena | undefined): void {
    // NOTE: a runner sharing the owner's persistent buffers borrows its arena too: they never run at once.
    const { slots, owned } = arena ? arenaBuffers(this.gpu.device, arena, owner?.arenaSlots) : { slots: [], owned: [] };
    for (const b of owned) this.owned.add(b);
    if (arena) [this.arena, this.arenaSlots] = [arena, slots];
    this.plan.buffers.forEach((b, i) => {
      if (b.alias !== undefined) {
        this.buffers[i] = this.buffers[b.alias]!;
        return;
      }
      const slot = arena?.slotOf[i] ?? -1;
      if (slot >= 0) {
        this.buffers[i] = slots[slot]!;
        return;
      }
      const persistent = b.role === "param" || b.role === "state";
      const shared = persistent ? owner?.persistentByName.get(b.label) : undefined;
      if (shared && shared.size !== this.bytes(i)) throw new Error(`internal: shared ${b.label} has ${shared.size} bytes, this plan wants ${this.bytes(i)}`);
      const buffer = shared ?? createStorage(this.gpu.device, this.bytes(i), b.label);
      if (!shared) this.owned.add(buffer);
      this.buffers[i] = buffer;
      if (persistent) this.persistentByName.set(b.label, buffer);
    });
  }

  private write(buffer: number, data: Float32Array, name: string): void {
    const expected = this.count(buffer);
    if (data.length !== expected) throw badPersistent(this.plan.name, name, [], data.length, expected);
    if (data.byteLength === 0) return;
    this.gpu.device.queue.writeBuffer(this.buffers[buffer]!, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined> {
    const got = await this.run(batch, readLoss && this.plan.loss !== undefined ? ["loss"] : []);
    return got["loss"]?.[0];
  }

  async run(batch: Record<string, Float32Array>, read: readonly string[]): Promise<Record<string, Float32Array>> {
    const slots = read.map((name) => {
      const s = this.slots.get(name);
      if (!s) throw unreadable(this.plan.name, name, this.readable);
      return [name, s] as const;
    });
    const prof = this.profiler && this.profiler.remaining > 0 ? this.profiler : undefined;
    const timeKernels = prof?.kernelStep() ?? false;
    const t0 = prof ? performance.now() : 0;
    const arrays = this.feeder.feed(batch);
    for (const { tensor, buffer } of this.fed) {
      const data = arrays.get(tensor.name)!;
      if (this.uploaded.get(buffer) === data) continue;
      this.write(buffer, data, tensor.name);
      this.uploaded.set(buffer, data);
    }
    const device = this.gpu.device;
    const t1 = prof ? performance.now() : 0;
    const enc = device.createCommandEncoder();
    let count: number;
    let passes = 1;
    if (timeKernels && prof!.method === "timestamps") {
      count = this.recordTimed(enc);
      passes = count;
    } else {
      const pass = enc.beginComputePass();
      count = record(pass, this.dispatches, this.statsDispatches);
      pass.end();
    }
    // NOTE: the reads are copied before the updates, so they see this step's forward values.
    for (const [, s] of slots) enc.copyBufferToBuffer(s.buffer === "stats" ? this.stepStats!.stats : this.buffers[s.buffer]!, 0, this.staging, s.offset, s.bytes);
    for (const u of this.plan.updates) enc.copyBufferToBuffer(this.buffers[u.value]!, 0, this.buffers[u.param]!, 0, this.bytes(u.param));
    device.queue.submit([enc.finish()]);
    this.noteSubmit(count, passes);
    const t2 = prof ? performance.now() : 0;
    const out: Record<string, Float32Array> = {};
    let readMs = 0;
    if (slots.length > 0) {
      await quietWait(this.gpu.spinsWhileWaiting, this.staging.mapAsync(GPUMapMode.READ));
      const t3 = prof ? performance.now() : 0;
      try {
        const mapped = this.staging.getMappedRange();
        // NOTE: copied out of the mapped range, which unmap detaches.
        for (const [name, s] of slots) out[name] = new Float32Array(mapped.slice(s.offset, s.offset + 4 * s.count));
      } finally {
        this.staging.unmap();
      }
      if (prof) readMs = performance.now() - t3;
    }
    if (prof) {
      const t4 = performance.now();
      // NOTE: a timestamped step's host time counts a pass per kernel; only usual steps give it.
      if (!(timeKernels && prof.method === "timestamps")) prof.addHost(t1 - t0, t2 - t1, readMs, t4 - t0);
      if (timeKernels) prof.addKernelTimes(prof.method === "timestamps" ? await this.queries!.read() : await this.timeAlone());
      prof.endStep();
    }
    return out;
  }

  /**
   * Times the steps that follow kernel by kernel (all of them, or the next `steps`), with
   * timestamp queries where the device has them, else by running each kernel alone after the
   * step (or so when `method` is "alone"). Profiled steps wait for the device, so they are
   * slower than others as a whole.
   */
  startProfile(steps = Infinity, method?: ProfileMethod): StepProfiler {
    const timestamps = method !== "alone" && this.gpu.device.features.has("timestamp-query");
    const labels = this.kernelLabels();
    this.queries?.destroy();
    this.queries = timestamps ? new TimestampQueries(this.gpu.device, labels.length, this.gpu.spinsWhileWaiting) : undefined;
    this.profiler = new StepProfiler(labels, timestamps ? "timestamps" : "alone", steps);
    return this.profiler;
  }

  /** Each dispatch of a step named by its kernel and the `.net` location its output came from. */
  kernelLabels(): KernelLabel[] {
    const kernels = this.variant.kernels.map((k) => {
      // NOTE: named by its main output (extra outputs, such as Adam's moments, follow it).
      const at = this.plan.buffers[k.bindings[k.bindings.length - (k.outputs ?? 1)]!]?.at;
      const name = k.ops ? `${k.name} ${k.ops}` : k.name;
      return at ? { name, at: shortLocation(at) } : { name };
    });
    return [...kernels, ...this.statsDispatches.map((_, i) => ({ name: i === this.statsDispatches.length - 1 ? "step statistics" : "non-finite check" }))];
  }

  /** A step with each dispatch in its own compute pass between timestamp writes; returns the dispatch count. */
  private recordTimed(enc: GPUCommandEncoder): number {
    let i = 0;
    for (const list of [this.dispatches, this.statsDispatches])
      for (const d of list) {
        const pass = this.queries!.pass(enc, i++);
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(...d.workgroups);
        pass.end();
      }
    this.queries!.resolve(enc);
    return i;
  }

  /**
   * Each step kernel submitted alone, three times, timed to the queue's completion. The step's
   * statistics kernels are left out (run again, they would count the step twice) and read 0.
   */
  private async timeAlone(): Promise<number[]> {
    const device = this.gpu.device;
    const ms: number[] = [];
    await quietWait(this.gpu.spinsWhileWaiting, device.queue.onSubmittedWorkDone());
    for (const d of this.dispatches) {
      const t = performance.now();
      for (let r = 0; r < 3; r++) {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        record(pass, [d], []);
        pass.end();
        device.queue.submit([enc.finish()]);
      }
      await quietWait(this.gpu.spinsWhileWaiting, device.queue.onSubmittedWorkDone());
      ms.push((performance.now() - t) / 3);
    }
    return [...ms, ...this.statsDispatches.map(() => 0)];
  }

  resetStats(values?: Float32Array): void {
    this.stepStats?.reset(values);
  }

  async params(): Promise<Record<string, Float32Array>> {
    return this.readMany(this.plan.params.filter((p) => p.role === "param"));
  }

  async state(): Promise<Record<string, Float32Array>> {
    return this.readMany(this.plan.params);
  }

  async load(values: Record<string, Float32Array>): Promise<void> {
    for (const [name, data] of Object.entries(values)) {
      const p = this.plan.params.find((x) => x.name === name);
      if (!p) throw badPersistent(this.plan.name, name, this.plan.params.map((x) => x.name));
      this.write(p.buffer, data, name);
    }
  }

  /** Reads tensors back by name through one staging buffer and one map. */
  private async readMany(tensors: PlanTensor[]): Promise<Record<string, Float32Array>> {
    const device = this.gpu.device;
    let total = 0;
    const at = tensors.map((t) => {
      const offset = total;
      total += this.bytes(t.buffer);
      return offset;
    });
    const staging = device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "state-staging" });
    try {
      const enc = device.createCommandEncoder();
      tensors.forEach((t, i) => enc.copyBufferToBuffer(this.buffers[t.buffer]!, 0, staging, at[i]!, this.bytes(t.buffer)));
      device.queue.submit([enc.finish()]);
      this.noteSubmit(0, 0);
      await quietWait(this.gpu.spinsWhileWaiting, staging.mapAsync(GPUMapMode.READ));
      const mapped = staging.getMappedRange();
      const out: Record<string, Float32Array> = {};
      tensors.forEach((t, i) => (out[t.name] = new Float32Array(mapped.slice(at[i]!, at[i]! + 4 * this.count(t.buffer)))));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** Bytes of the plan's storage buffers this runner allocated (shared and borrowed ones are their owner's). */
  get allocatedBytes(): number {
    let n = 0;
    for (const b of this.owned) n += b.size;
    return n;
  }

  /** Reads the buffer of IR value `id` back (tests compare these with the CPU reference). */
  async readValue(id: number): Promise<Float32Array> {
    const i = this.plan.buffers.findIndex((b) => b.value === id);
    if (i < 0) throw new Error(`internal: value %${id} has no buffer in ${this.plan.name}`);
    if (this.arena && !survivesStep(this.plan, i)) throw new Error(`internal: value %${id} of ${this.plan.name} shares arena memory; create the runner with arena: false to read it`);
    return (await readBack(this.gpu.device, this.buffers[i]!, this.bytes(i), this.gpu.spinsWhileWaiting)).subarray(0, this.count(i));
  }

  /** Adds one submit, with its dispatches and compute passes, to {@link encoded}. */
  private noteSubmit(dispatches: number, passes: number): void {
    this.encoded.dispatches += dispatches;
    this.encoded.passes += passes;
    this.encoded.submits++;
  }

  /** Elements of a buffer under this runner's dims. */
  private count(buffer: number): number {
    return numel(concreteShape(this.plan.buffers[buffer]!.shape, this.dims));
  }

  /** Bytes a buffer takes (at least 4: WebGPU has no empty bindings). */
  private bytes(buffer: number): number {
    return Math.max(4, this.count(buffer) * 4);
  }

  dispose(): void {
    this.queries?.destroy();
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    if (this.ownsStats) this.stepStats?.destroy();
    this.rowsBuffer?.destroy();
    this.staging.destroy();
  }
}

/** The plan's schedule for `dims`: one it carries, or (in-process) one made now. */
export function variantFor(plan: Plan, dims: DimBindings): PlanVariant {
  const key = dimsKey(dims);
  const have = plan.variants.find((v) => dimsKey(v.dims) === key);
  if (have) return have;
  if (plan.specialise) return plan.specialise(dims);
  const carried = plan.variants.map((v) => dimsKey(v.dims)).join("; ");
  throw new NetcError(`${plan.name}: this plan carries kernels for ${carried || "no dims"}, not for ${key}`);
}

/** Records the dispatches of `kernels`, then of `stats`, in `pass` (no list of both per step); returns how many. */
function record(pass: GPUComputePassEncoder, kernels: readonly Dispatch[], stats: readonly Dispatch[]): number {
  for (const list of [kernels, stats])
    for (const d of list) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
    }
  return kernels.length + stats.length;
}

/** Whether plan buffer `i` holds its value after a step with the arena on: args, the loss, outputs, updated values. */
function survivesStep(plan: Plan, i: number): boolean {
  const root = (j: number): number => (plan.buffers[j]!.alias === undefined ? j : root(plan.buffers[j]!.alias!));
  const r = root(i);
  if (plan.buffers[r]!.role !== undefined) return true;
  const kept = [...(plan.loss !== undefined ? [plan.loss] : []), ...plan.outputs.map((o) => o.buffer), ...plan.updates.map((u) => u.value)];
  return kept.some((k) => root(k) === r);
}
