import { NetcError } from "../base/errors.js";
import type { ArgRole, Init } from "./graph.js";
import type { GraphJson } from "./graph-json.js";
import type { HyperSchedule } from "./training.js";
import type { Dim, DimBindings, DType } from "./types.js";

/**
 * The Plan: what the compiler hands the runtime, as plain data (JSON plus weights kept apart).
 * The runtime (src/runtime) runs a Plan and nothing else: it never sees codegen or the frontend.
 *
 * - `buffers`: one per materialised value, shaped by symbolic dims (`["B", 784]`); a buffer's
 *   byte size is 4 × the product of its dims once they are bound (at least 4 bytes).
 * - `variants`: the dispatch schedule specialised to one binding of the dims (one batch size):
 *   kernels in order, each an index into `shaders` (WGSL shared across variants), the buffers it
 *   binds (inputs first, output last) and its workgroup counts. Kernels are specialised to
 *   concrete dims because llvmpipe and real GPUs alike run constant-bound loops faster than ones
 *   bounded by a uniform; a Plan carries the batch sizes it was built for.
 *   Each variant may carry its `arena`: the temporaries that share memory within a step.
 * - `graph`: the IR the CPU reference interprets when there is no GPU.
 */
export interface Plan {
  format: typeof PLAN_FORMAT;
  name: string;
  /** `train`: forward, backward and updates; `eval`: forward with loss and metrics; `infer`: outputs only. */
  mode: "train" | "eval" | "infer";
  /** The symbols the batch size binds: the leading dim of every input and label. */
  batchDims: string[];
  inputs: PlanTensor[];
  labels: PlanTensor[];
  /** Per-step scalars (learning rate, Adam's bias corrections, the dropout seed), with their values at step 0. */
  hypers: (PlanTensor & { default?: number })[];
  /** How the hyper scalars follow the step, so a runner can supply them itself. */
  schedule?: HyperSchedule;
  /** Params and persistent state (optimizer moments, batchnorm statistics) in declaration order. */
  params: PlanParam[];
  outputs: PlanTensor[];
  /** The buffer holding the loss, when the plan has one. */
  loss?: number;
  /** Copies at the end of each step: `param := value` (buffer indices). */
  updates: { param: number; value: number }[];
  buffers: PlanBuffer[];
  shaders: string[];
  variants: PlanVariant[];
  graph: GraphJson;
  /**
   * Present only on a plan made in this process with the compiler at hand: makes the variant
   * for dims the plan does not carry yet. Functions do not survive JSON, so a loaded plan runs
   * the variants it carries.
   */
  specialise?: (dims: DimBindings) => PlanVariant;
}

/** The format tag a Plan's JSON carries. */
export const PLAN_FORMAT = "netc-plan-1";

/** A named tensor of the plan's interface and the buffer holding it. */
export interface PlanTensor {
  name: string;
  dtype: DType;
  shape: Dim[];
  buffer: number;
}

/** A param or state tensor, with the initialiser a fresh run starts it from. */
export interface PlanParam extends PlanTensor {
  role: "param" | "state";
  init?: Init;
}

/** One storage buffer: the IR value it holds and that value's (symbolic) shape. */
export interface PlanBuffer {
  /** The IR value id (what the CPU reference calls it). */
  value: number;
  shape: Dim[];
  /** The value's name for labels and messages (an arg's name, or its kernel's). */
  label: string;
  role?: ArgRole;
  /** This value shares buffer `alias`'s memory (a reshape). */
  alias?: number;
  /** Where the value comes from in the source (`file:line:col`), for messages. */
  at?: string;
}

/** One dispatch of a variant's schedule. */
export interface PlanKernel {
  name: string;
  /**
   * What the kernel computes, for profiles: its ops in order (`matmul+add+max`), marked
   * `grad of` or `update of` when autodiff or the optimizer made it. Optional: older plans lack it.
   */
  ops?: string;
  /** How many of the last bindings are outputs, the main one first (absent: 1). */
  outputs?: number;
  /** Index into `Plan.shaders`, and the shader's entry point. */
  shader: number;
  entry: string;
  /** Buffer indices in binding order: inputs, then the output. */
  bindings: number[];
  workgroups: [number, number, number];
}

/** The schedule for one binding of the plan's dims. */
export interface PlanVariant {
  dims: DimBindings;
  kernels: PlanKernel[];
  /**
   * Where the temporaries live (see src/ir/arena.ts). Plans built before the arena lack it; a
   * runner then computes it from the kernels' bindings.
   */
  arena?: PlanArena;
}

/**
 * The static memory plan of a variant: temporaries that are never live at once share a storage
 * buffer (a slot) as big as the largest of them.
 */
export interface PlanArena {
  /** Bytes of each slot. */
  slots: number[];
  /** Per plan buffer: its slot, or -1 for a buffer of its own (args, outputs, the loss, updated values) or an alias, which follows its root. */
  slotOf: number[];
}

/** A canonical key for a dims binding (`B=4`). */
export function dimsKey(dims: DimBindings): string {
  return Object.keys(dims)
    .sort()
    .map((k) => `${k}=${dims[k]}`)
    .join(",");
}

/** The dims a batch of `rows` rows binds. */
export function batchBindings(plan: Pick<Plan, "batchDims">, rows: number): DimBindings {
  const dims: DimBindings = {};
  for (const d of plan.batchDims) dims[d] = rows;
  return dims;
}

/** The plan as JSON text (an in-process `specialise` is left out). */
export function planToJson(plan: Plan): string {
  const { specialise: _specialise, ...data } = plan;
  return JSON.stringify(data);
}

/**
 * A plan from JSON text or a parsed object; anything that is not a netc plan of this format
 * throws a {@link PlanFormatError} saying what it is instead.
 */
export function planFromJson(json: string | object): Plan {
  let data: unknown = json;
  if (typeof json === "string") {
    try {
      data = JSON.parse(json);
    } catch (e) {
      throw new PlanFormatError(`not JSON (${(e as Error).message})`);
    }
  }
  const p = data as Partial<Plan> | null;
  if (typeof p !== "object" || p === null) throw new PlanFormatError("not an object");
  if (p.format !== PLAN_FORMAT) throw new PlanFormatError(`format ${JSON.stringify(p.format)}, expected "${PLAN_FORMAT}" (built by another netc version?)`);
  for (const key of ["inputs", "labels", "hypers", "params", "outputs", "updates", "buffers", "shaders", "variants", "batchDims"] as const)
    if (!Array.isArray(p[key])) throw new PlanFormatError(`its "${key}" is not a list`);
  if (typeof p.graph !== "object" || p.graph === null) throw new PlanFormatError("it has no graph");
  return p as Plan;
}

/** A plan that cannot be read. */
export class PlanFormatError extends NetcError {
  constructor(problem: string) {
    super(`not a netc plan: ${problem}`);
    this.name = "PlanFormatError";
  }
}
