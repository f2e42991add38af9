import type { Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import type { Plan } from "../ir/plan.js";
import { concreteShape, type DimBindings } from "../ir/types.js";
import { graphOf } from "./cpu-backend.js";

/**
 * Where a non-finite value first appears in a step, found by replaying the step on the CPU
 * reference with the same weights and batch:
 *   1. params or state that already hold NaN or ±Inf are named (an earlier update blew them up);
 *   2. otherwise the nodes run in order, and the first whose inputs are all finite but whose
 *      result is not is named, with its source location and its inputs' ranges.
 * Returns a sentence for the user, or undefined when the replay stays finite.
 */
export function traceNonFinite(plan: Plan, state: Record<string, Float32Array>, batch: Record<string, Float32Array>, dims: DimBindings): string | undefined {
  const bad = nonFiniteWeights(plan, state);
  if (bad.length) {
    // NOTE: optimizer moments and batchnorm statistics are named as state, not as weights.
    const weights = new Set(plan.params.filter((p) => p.role === "param").map((p) => p.name));
    const what = bad.every((n) => !weights.has(n)) ? "state" : bad.length === 1 ? "weight" : "weights";
    return `the ${what} ${bad.slice(0, 4).join(", ")}${bad.length > 4 ? ", ..." : ""} already ${bad.length === 1 ? "holds" : "hold"} NaN or infinite values (an earlier update diverged: a smaller learning rate, or gradient clipping, may help)`;
  }
  return firstNonFinite(plan, state, batch, dims);
}

/** The params and state of `plan` holding a NaN or infinite value. */
export function nonFiniteWeights(plan: Plan, state: Record<string, Float32Array>): string[] {
  return plan.params.filter((p) => !allFinite(state[p.name]!)).map((p) => p.name);
}

/** Step 2 of {@link traceNonFinite}: the first node that turns finite inputs into a non-finite result. */
export function firstNonFinite(plan: Plan, state: Record<string, Float32Array>, batch: Record<string, Float32Array>, dims: DimBindings): string | undefined {
  const g = graphOf(plan);
  const args = new Map<Value, Tensor>();
  for (const a of g.args) {
    const data = state[a.arg!.name] ?? batch[a.arg!.name];
    if (!data) return undefined;
    args.set(a, { shape: concreteShape(a.type.shape, dims), data });
  }
  const env = interpret(g, args, { dims, precision: "f32" });
  for (const [i, n] of g.nodes.entries()) {
    const out = env.get(n.out)!.data;
    if (allFinite(out) || !n.inputs.every((v) => allFinite(env.get(v)!.data))) continue;
    const at = plan.graph.nodes[i]?.at;
    const ranges = n.inputs.map((v, k) => `input ${k} in [${fmt(min(env.get(v)!.data))}, ${fmt(max(env.get(v)!.data))}]`).join(", ");
    let count = 0;
    for (const x of out) if (!Number.isFinite(x)) count++;
    return `the first non-finite value comes from \`${n.op}\`${at ? ` at ${at}` : ""} (${n.origin === "forward" ? "forward pass" : n.origin === "grad" ? "gradient" : "optimizer update"}; ${ranges || "no inputs"}; ${count} of ${out.length} results NaN or infinite)`;
  }
  return undefined;
}

function allFinite(xs: ArrayLike<number>): boolean {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i]!)) return false;
  return true;
}

function min(xs: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.min(m, xs[i]!);
  return m;
}

function max(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]!);
  return m;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}
