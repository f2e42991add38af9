import type { Graph } from "../ir/graph.js";
import type { Plan } from "../ir/plan.js";
import type { DataColumn } from "../ir/training.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import { initialValues } from "./init.js";

/** Starting values of every param and state (optimizer moments, batchnorm statistics), from its initialiser and the seed. */
export function initialParams(g: Graph, dims: DimBindings, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of g.persistent) out[p.arg!.name] = initialValues(p.arg!.init!, concreteShape(p.type.shape, dims), seed, p.arg!.name);
  return out;
}

/** Starting values of a plan's params and state (their shapes hold no batch dims). */
export function planInitialValues(plan: Plan, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of plan.params) out[p.name] = initialValues(p.init ?? { kind: "zeros", options: {} }, concreteShape(p.shape, {}), seed, p.name);
  return out;
}

/**
 * The full batches of literal data columns, in order (the last partial batch is left out). Tests
 * build single steps with it; training goes through the Trainer, which also runs the partial batch.
 */
export function batches(data: DataColumn[], batch: number): Record<string, Float32Array>[] {
  const rows = data[0]?.shape[0] ?? 0;
  const out: Record<string, Float32Array>[] = [];
  for (let start = 0; start + batch <= rows; start += batch) {
    const b: Record<string, Float32Array> = {};
    for (const c of data) {
      const width = numel(c.shape.slice(1));
      b[c.name] = c.values.subarray(start * width, (start + batch) * width);
    }
    out.push(b);
  }
  return out;
}
