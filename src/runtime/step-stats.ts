/// <reference types="@webgpu/types" preserve="true" />
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../ir/plan.js";
import { createStorage } from "./gpu-buffers.js";
import type { PipelineCache } from "./pipelines.js";

/**
 * Step statistics of a training runner, accumulated on the device every step so that the figures
 * of an epoch cover all of its steps while the host reads back only now and then:
 *   1. after a step's kernels, a check kernel looks for a NaN or ±Inf in every updated value
 *      (tested on the exponent bits, so no fast-math assumption can fold it away), params and
 *      state apart (optimizer moments, batchnorm statistics: Adam's v overflows under a finite
 *      loss and finite weights, and then stops the weights moving), each workgroup adding what it
 *      saw to one flag word;
 *   2. the workgroup that finishes the check then adds loss × rows, accuracy × rows and rows to
 *      running sums, counts the step, and records the first step (counted since the last reset)
 *      whose loss, weights or state were non-finite: one dispatch a step (more check kernels only
 *      when the updated values are more than a kernel binds);
 *   3. `run` reads the sums under the name {@link STEP_STATS} with the other read-backs (one map),
 *      and `resetStats` zeroes them (the start of an epoch) or puts back a saved copy (a skipped
 *      step undone). The CPU runner keeps the same figures in memory.
 * The runners of one pool (batch sizes) share one accumulator, the owner's.
 */

/** The name under which a training runner's `run` reads its step statistics. */
export const STEP_STATS = "step.stats";

/** Slots of the statistics array (all f32; counts are exact up to 2^24). */
export const STATS_SLOTS = { lossSum: 0, accSum: 1, rows: 2, steps: 3, firstBad: 4, badLoss: 5, badWeights: 6, firstKind: 7, badState: 8 } as const;
/** Length of the statistics array. */
export const STATS_LENGTH = 9;

/** What was not finite at a step, as bits of {@link StepStats.firstKind}. */
export const BAD = { loss: 1, weights: 2, state: 4 } as const;

/** The statistics in words. */
export interface StepStats {
  /** Row-weighted sums and the rows and steps they cover. */
  lossSum: number;
  accSum: number;
  rows: number;
  steps: number;
  /** The first step (1-based, counted since the reset) whose loss, updated weights or state were not finite; 0 for none. */
  firstBad: number;
  /** Steps with a non-finite loss, with non-finite updated weights, and with non-finite updated state. */
  badLoss: number;
  badWeights: number;
  badState: number;
  /** What was not finite at the first bad step: the sum of {@link BAD}'s bits. */
  firstKind: number;
}

/** Reads a statistics array. */
export function statsOf(a: Float32Array): StepStats {
  const s = STATS_SLOTS;
  return { lossSum: a[s.lossSum]!, accSum: a[s.accSum]!, rows: a[s.rows]!, steps: a[s.steps]!, firstBad: a[s.firstBad]!, badLoss: a[s.badLoss]!, badWeights: a[s.badWeights]!, badState: a[s.badState]!, firstKind: a[s.firstKind]! };
}

/** Whether a plan's runners keep step statistics: training plans (a loss and updates). */
export function keepsStats(plan: Plan): boolean {
  return plan.loss !== undefined && plan.updates.length > 0;
}

/** {@link keepsStats} for the CPU runner's graph. */
export function keepsStatsGraph(g: Graph): boolean {
  return g.loss !== undefined && g.updates.length > 0;
}

/** The update values the flag checks (every one), each with whether it updates state rather than a param. */
export function checkedUpdates(plan: Plan): { value: number; state: boolean }[] {
  return plan.updates.map((u) => ({ value: u.value, state: plan.buffers[u.param]!.role !== "param" }));
}

/** Adds one step to a statistics array in place (the CPU runner's version of the stats kernel). */
export function accumulate(a: Float32Array, loss: number, accuracy: number | undefined, rows: number, weightsFinite: boolean, stateFinite = true): void {
  const s = STATS_SLOTS;
  a[s.steps]! += 1;
  const badLoss = !Number.isFinite(loss);
  if ((badLoss || !weightsFinite || !stateFinite) && a[s.firstBad] === 0) {
    a[s.firstBad] = a[s.steps]!;
    a[s.firstKind] = (badLoss ? BAD.loss : 0) + (weightsFinite ? 0 : BAD.weights) + (stateFinite ? 0 : BAD.state);
  }
  if (badLoss) a[s.badLoss]! += 1;
  if (!weightsFinite) a[s.badWeights]! += 1;
  if (!stateFinite) a[s.badState]! += 1;
  a[s.lossSum] = Math.fround(a[s.lossSum]! + Math.fround(loss * rows));
  if (accuracy !== undefined) a[s.accSum] = Math.fround(a[s.accSum]! + Math.fround(accuracy * rows));
  a[s.rows]! += rows;
}

/** Threads per workgroup of the check kernels. */
const CHECK_WG = 64;

/**
 * The flag word's fields: workgroups done (bits 0-9), workgroups that saw a non-finite param
 * (bits 10-19) and non-finite state (bits 20-29). One atomic add a workgroup updates all three,
 * so the workgroup that completes the count sees every other's findings in the value it gets
 * back (relaxed atomics order the operations on one word only).
 */
const FIELD = 10;
const FIELD_MASK = (1 << FIELD) - 1;
/**
 * Most workgroups the check kernels of a step use in all (at most FIELD_MASK, which a field
 * counts); grid-stride loops cover the rest. NOTE: 128, not 1023: on llvmpipe each workgroup's
 * barrier costs, and the merged kernel took 2.1-2.5 ms a step over the MLP's 270,000 values
 * with 1023 against 0.7-1.5 ms with 128 (a GPU still gets 8,192 threads).
 */
export const CHECK_GROUPS = 128;

/**
 * WGSL of a check kernel over buffers that hold params (`state[i]` false) or state (true): each
 * workgroup adds to the flag word that it is done and whether it saw a NaN or ±Inf (tested on the
 * exponent bits, so no fast-math assumption can fold it away). With `finish`, the workgroup that
 * completes `finish.total` (every workgroup of the step's check kernels; this is the last of
 * them) then adds the step to the statistics, records the first non-finite step, and clears the
 * word: the check and the statistics are one dispatch.
 */
export function checkShader(state: readonly boolean[], finish?: { accuracy: boolean; total: number }): string {
  const s = STATS_SLOTS;
  const count = state.length;
  const L = [`// the updated values are finite: a grid-stride loop over each; one atomic add a workgroup${finish ? "; the last workgroup adds the step's statistics" : ""}`];
  for (let i = 0; i < count; i++) L.push(`@group(0) @binding(${i}) var<storage, read> w${i}: array<f32>;`);
  const b = finish ? ["flag", "loss", ...(finish.accuracy ? ["acc"] : []), "rows", "stats"] : ["flag"];
  const at = (name: string) => count + b.indexOf(name);
  L.push(`@group(0) @binding(${at("flag")}) var<storage, read_write> flag: array<atomic<u32>>;`);
  if (finish) {
    L.push(`@group(0) @binding(${at("loss")}) var<storage, read> loss: array<f32>;`);
    if (finish.accuracy) L.push(`@group(0) @binding(${at("acc")}) var<storage, read> acc: array<f32>;`);
    L.push(`@group(0) @binding(${at("rows")}) var<storage, read> rows: array<f32>;`, `@group(0) @binding(${at("stats")}) var<storage, read_write> stats: array<f32>;`);
  }
  L.push(`var<workgroup> seen: atomic<u32>;`);
  L.push(`@compute @workgroup_size(${CHECK_WG})`, `fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {`);
  // NOTE: branch-free: the least of the exponent bits' complements is 0 exactly when some value
  // has every exponent bit set (NaN or ±Inf).
  L.push(`  let stride = nwg.x * ${CHECK_WG}u;`, `  var least_w = 0x7f800000u;`, `  var least_s = 0x7f800000u;`);
  for (let i = 0; i < count; i++) {
    const least = state[i] ? "least_s" : "least_w";
    L.push(`  for (var j = gid.x; j < arrayLength(&w${i}); j += stride) { ${least} = min(${least}, ~bitcast<u32>(w${i}[j]) & 0x7f800000u); }`);
  }
  L.push(`  if (least_w == 0u) { atomicOr(&seen, 1u); }`, `  if (least_s == 0u) { atomicOr(&seen, 2u); }`);
  L.push(`  let found = workgroupUniformLoad(&seen);`);
  L.push(`  if (lid != 0u) { return; }`);
  L.push(`  let add = 1u + select(0u, ${1 << FIELD}u, (found & 1u) != 0u) + select(0u, ${1 << (2 * FIELD)}u, (found & 2u) != 0u);`);
  if (!finish) {
    L.push(`  atomicAdd(&flag[0], add);`, `}`, "");
    return L.join("\n");
  }
  L.push(
    `  let word = atomicAdd(&flag[0], add) + add;`,
    `  if ((word & ${FIELD_MASK}u) != ${finish.total}u) { return; }`,
    `  atomicStore(&flag[0], 0u);`,
    `  let n = rows[0];`,
    `  let l = loss[0];`,
    `  let steps = stats[${s.steps}] + 1.0;`,
    `  stats[${s.steps}] = steps;`,
    `  let bad_loss = (bitcast<u32>(l) & 0x7f800000u) == 0x7f800000u;`,
    `  let bad_weights = ((word >> ${FIELD}u) & ${FIELD_MASK}u) != 0u;`,
    `  let bad_state = ((word >> ${2 * FIELD}u) & ${FIELD_MASK}u) != 0u;`,
    `  if ((bad_loss || bad_weights || bad_state) && stats[${s.firstBad}] == 0.0) {`,
    `    stats[${s.firstBad}] = steps;`,
    `    stats[${s.firstKind}] = select(0.0, ${BAD.loss}.0, bad_loss) + select(0.0, ${BAD.weights}.0, bad_weights) + select(0.0, ${BAD.state}.0, bad_state);`,
    `  }`,
    `  if (bad_loss) { stats[${s.badLoss}] = stats[${s.badLoss}] + 1.0; }`,
    `  if (bad_weights) { stats[${s.badWeights}] = stats[${s.badWeights}] + 1.0; }`,
    `  if (bad_state) { stats[${s.badState}] = stats[${s.badState}] + 1.0; }`,
    `  stats[${s.lossSum}] = stats[${s.lossSum}] + l * n;`,
    ...(finish.accuracy ? [`  stats[${s.accSum}] = stats[${s.accSum}] + acc[0] * n;`] : []),
    `  stats[${s.rows}] = stats[${s.rows}] + n;`,
    `}`,
    "",
  );
  return L.join("\n");
}

/** The device side of the statistics: the shared accumulator, and a runner's dispatches into it. */
export class GpuStepStats {
  /** The statistics (f32) and the weights flag (u32), owned by the first runner of a pool. */
  readonly stats: GPUBuffer;
  readonly flag: GPUBuffer;

  constructor(private readonly device: GPUDevice) {
    this.stats = createStorage(device, STATS_LENGTH * 4, "step-stats");
    this.flag = createStorage(device, 4, "step-flag");
  }

  /** Zeroes the statistics, or writes a saved copy back. */
  reset(values?: Float32Array): void {
    const a = values ?? new Float32Array(STATS_LENGTH);
    this.device.queue.writeBuffer(this.stats, 0, a.buffer, a.byteOffset, STATS_LENGTH * 4);
    this.device.queue.writeBuffer(this.flag, 0, new Uint32Array(1));
  }

  /**
   * The dispatches one runner adds to its step: check kernels over the updated values (as many
   * as a kernel can bind), the last of which also adds the step's statistics (see checkShader).
   * `rows` is a buffer the caller owns and destroys.
   */
  async dispatches(
    cache: PipelineCache,
    maxBindings: number,
    loss: GPUBuffer,
    accuracy: GPUBuffer | undefined,
    rows: GPUBuffer,
    checked: { buffer: GPUBuffer; count: number; state: boolean }[],
  ): Promise<{ pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; workgroups: [number, number, number] }[]> {
    // NOTE: the last kernel binds the flag, loss, rows, statistics (and accuracy) besides its values; the others, the flag.
    const lastPer = Math.max(1, maxBindings - (accuracy ? 5 : 4));
    const per = Math.max(1, maxBindings - 1);
    const groups: { buffer: GPUBuffer; count: number; state: boolean }[][] = [];
    const rest = checked.length > lastPer ? checked.length - lastPer : 0;
    for (let i = 0; i < rest; i += per) groups.push(checked.slice(i, Math.min(rest, i + per)));
    groups.push(checked.slice(rest));
    const bind = (pipeline: GPUComputePipeline, buffers: (GPUBuffer | GPUBufferBinding)[]) =>
      this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((b, binding) => ({ binding, resource: "buffer" in b ? b : { buffer: b } })) });
    // The workgroups of each kernel (the step's total counted by the flag word stays within CHECK_GROUPS).
    const share = Math.max(1, Math.floor(CHECK_GROUPS / groups.length));
    const sizes = groups.map((g) => Math.max(1, Math.min(share, Math.ceil(Math.max(0, ...g.map((c) => c.count)) / CHECK_WG))));
    const total = sizes.reduce((a, b) => a + b, 0);
    return Promise.all(
      groups.map(async (g, i) => {
        const last = i === groups.length - 1;
        const pipeline = await cache.get(checkShader(g.map((c) => c.state), last ? { accuracy: accuracy !== undefined, total } : undefined));
        // NOTE: sized: an updated value may live in a bigger arena slot, and the check reads arrayLength of each.
        const values = g.map((c) => ({ buffer: c.buffer, size: Math.max(4, c.count * 4) }));
        const buffers = last ? [...values, this.flag, loss, ...(accuracy ? [accuracy] : []), rows, this.stats] : [...values, this.flag];
        return { pipeline, bindGroup: bind(pipeline, buffers), workgroups: [sizes[i]!, 1, 1] as [number, number, number] };
      }),
    );
  }

  destroy(): void {
    this.stats.destroy();
    this.flag.destroy();
  }
}
