import type { Span } from "../frontend/source.js";

/** An optimizer as the training section names it, with every option resolved to a number. */
export type OptimizerSpec =
  | { kind: "sgd"; lr: number; momentum: number; nesterov: boolean; weightDecay: number; span: Span }
  | { kind: "adam" | "adamw"; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; span: Span };

/** How the learning rate changes with the step (the optimizer's `lr` is the base rate). */
export type ScheduleSpec =
  | { kind: "constant" }
  | { kind: "step"; every: number; gamma: number }
  | { kind: "cosine"; steps: number; minLr: number };

/** A column of training data: rows along the first axis. */
export interface DataColumn {
  name: string;
  shape: number[];
  values: Float32Array;
  span: Span;
}

/** Everything the training section says, resolved and checked by the frontend. */
export interface TrainSpec {
  optimizer: OptimizerSpec;
  schedule: ScheduleSpec;
  /** Linear warm-up from 0 to the scheduled rate over this many steps (0: none). */
  warmup: number;
  epochs: number;
  batch: number;
  seed: number;
  logEvery: number;
  data: DataColumn[];
  span: Span;
}

/** The learning rate at a 0-based step: warm-up, then the schedule. */
export function learningRate(spec: TrainSpec, step: number): number {
  const base = spec.optimizer.lr;
  const s = spec.schedule;
  let lr = base;
  if (s.kind === "step") lr = base * Math.pow(s.gamma, Math.floor(step / s.every));
  else if (s.kind === "cosine") lr = s.minLr + 0.5 * (base - s.minLr) * (1 + Math.cos(Math.PI * Math.min(step, s.steps) / s.steps));
  return spec.warmup > 0 && step < spec.warmup ? (lr * (step + 1)) / spec.warmup : lr;
}

/**
 * The per-step scalars an optimizer reads (`hyper` args): the learning rate and, for Adam, the
 * bias corrections 1/(1-β1^t) and 1/(1-β2^t) at the 1-based step t.
 */
export function hyperValues(spec: TrainSpec, step: number): Record<string, number> {
  const out: Record<string, number> = { lr: learningRate(spec, step) };
  const o = spec.optimizer;
  if (o.kind !== "sgd") {
    out["adam.bc1"] = 1 / (1 - Math.pow(o.beta1, step + 1));
    out["adam.bc2"] = 1 / (1 - Math.pow(o.beta2, step + 1));
  }
  return out;
}
