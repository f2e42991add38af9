import type { Graph, Value } from "../ir/graph.js";

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
   * pass (before its updates). Calls must not overlap.
   */
  run(batch: Record<string, Float32Array>, read: readonly string[]): Promise<Record<string, Float32Array>>;
  /** The names `run` can read: "loss" (when the graph has one) and the graph's outputs. */
  readonly readable: readonly string[];
  /** Current parameter values by name. */
  params(): Promise<Record<string, Float32Array>>;
  /** Every persistent value by name: params and state (optimizer moments, batchnorm running statistics). */
  state(): Promise<Record<string, Float32Array>>;
  /**
   * Overwrites persistent values by name (any subset). A name that is not a persistent value of
   * the graph, or a wrong number of values, throws.
   */
  load(values: Record<string, Float32Array>): Promise<void>;
  /** Kernels launched per step. */
  readonly kernelsPerStep: number;
  /** Frees device resources (buffers shared from another runner stay with their owner). */
  dispose(): void;
}

/** The names a runner of `g` can read back: "loss" (when there is one) and every output's name. */
export function readableNames(g: Graph): string[] {
  return [...(g.loss ? ["loss"] : []), ...g.outputs.map((o) => o.name)];
}

/** The value behind a readable name; an unknown name throws, listing the readable ones. */
export function readableValue(g: Graph, name: string): Value {
  const v = name === "loss" ? g.loss : g.outputs.find((o) => o.name === name)?.value;
  if (!v) throw new Error(`internal: ${g.name} has no value "${name}" to read (readable: ${readableNames(g).join(", ") || "none"})`);
  return v;
}

/** The persistent arg of `g` called `name`, or a thrown error (used by `load`). */
export function persistentNamed(g: Graph, name: string): Value {
  const v = g.persistent.find((p) => p.arg!.name === name);
  if (!v) throw new Error(`internal: ${g.name} has no param or state called "${name}"`);
  return v;
}
