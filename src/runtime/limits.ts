import { NetcError } from "../base/errors.js";
import { stepMemory } from "../ir/arena.js";
import type { Plan } from "../ir/plan.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import type { GpuLimits } from "./device.js";

/** WebGPU's default limits: what every adapter offers, for plans meant to run anywhere. */
export const DEFAULT_LIMITS: GpuLimits = {
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
};

/** What a plan needs of a device at one dims binding. */
export interface PlanNeeds {
  /** The largest buffer, its bytes and where it comes from. */
  largest: { label: string; bytes: number; at?: string };
  /** Bytes of a step's buffers, temporaries sharing by the variant's arena (see src/ir/arena.ts). */
  totalBytes: number;
  /** The same with a buffer per value (aliases counted once). */
  unsharedBytes: number;
  /** Everything over the limits, one sentence each. */
  problems: string[];
}

const mib = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MiB`;

/**
 * Checks a plan at `dims` against device limits: every buffer's size against the largest binding,
 * every kernel's storage buffers and workgroup counts. Nothing touches a device.
 */
export function planNeeds(plan: Plan, dims: DimBindings, limits: GpuLimits, variant = plan.variants.find((v) => Object.entries(dims).every(([k, n]) => v.dims[k] === n))): PlanNeeds {
  const problems: string[] = [];
  let largest: PlanNeeds["largest"] = { label: "", bytes: 0 };
  let unsharedBytes = 0;
  for (const b of plan.buffers) {
    if (b.alias !== undefined) continue;
    const bytes = Math.max(4, numel(concreteShape(b.shape, dims)) * 4);
    unsharedBytes += bytes;
    if (bytes > largest.bytes) largest = { label: b.label, bytes, ...(b.at ? { at: b.at } : {}) };
    if (bytes > limits.maxStorageBufferBindingSize) {
      const what = b.role === "param" || b.role === "state" || b.role === "input" ? `${b.role} ${b.label}` : `the value of ${b.label}`;
      problems.push(`${b.at ? `${b.at}: ` : ""}${what} [${concreteShape(b.shape, dims).join(", ")}] is ${mib(bytes)}; this device binds at most ${mib(limits.maxStorageBufferBindingSize)} per buffer`);
    }
  }
  for (const k of variant?.kernels ?? []) {
    if (k.bindings.length > limits.maxStorageBuffersPerShaderStage)
      problems.push(`kernel ${k.name} binds ${k.bindings.length} storage buffers; this device allows ${limits.maxStorageBuffersPerShaderStage}`);
    const over = k.workgroups.find((n) => n > limits.maxComputeWorkgroupsPerDimension);
    if (over !== undefined) problems.push(`kernel ${k.name} needs ${over} workgroups in one dimension; this device allows ${limits.maxComputeWorkgroupsPerDimension}`);
  }
  // NOTE: the arena's slots are as big as their largest tenant, so they add no binding over the limit.
  const totalBytes = variant ? stepMemory(plan, variant).total : unsharedBytes;
  return { largest, totalBytes, unsharedBytes, problems };
}

/** Throws a NetcError listing what does not fit (used before any buffer is made). */
export function checkPlanFits(plan: Plan, dims: DimBindings, limits: GpuLimits): void {
  const { problems } = planNeeds(plan, dims, limits);
  if (problems.length) throw new NetcError(`${plan.name} does not fit this device: ${problems.slice(0, 4).join("; ")}${problems.length > 4 ? `; and ${problems.length - 4} more` : ""}`);
}
