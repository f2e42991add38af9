import type { Span } from "../base/source.js";

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

/** A dataset named by the training section, loaded by the runtime (src/data) when training starts. */
export interface DatasetRef {
  name: string;
  /** Use only the first `limit` training rows (quick runs). */
  limit?: number;
  /** The network input its rows feed; its targets feed the label `labels`. */
  input: string;
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
  /** Literal data columns (`data { x = [...] }`); empty when a dataset is named. */
  data: DataColumn[];
  dataset?: DatasetRef;
  /** Share of the training rows held out for validation (0: none). */
  validation: number;
  /** Largest global gradient norm (clipping); 0: no clipping. */
  clip: number;
  /** Metrics reported with the loss; each is an output `metric.NAME` of the graph. */
  metrics: string[];
  span: Span;
}

/**
 * What the per-step scalars depend on: the optimizer's base rate (and Adam's betas), the schedule,
 * the warm-up and the seed. A TrainSpec is one; a Plan carries the plain-data copy
 * {@link hyperSchedule} makes, so a runner can supply the scalars itself.
 */
export interface HyperSchedule {
  optimizer: { kind: OptimizerSpec["kind"]; lr: number; beta1?: number; beta2?: number };
  schedule: ScheduleSpec;
  warmup: number;
  seed: number;
}

/** The plain-data part of a training section the hyper scalars follow (no spans). */
export function hyperSchedule(spec: TrainSpec): HyperSchedule {
  const o = spec.optimizer;
  return {
    optimizer: o.kind === "sgd" ? { kind: o.kind, lr: o.lr } : { kind: o.kind, lr: o.lr, beta1: o.beta1, beta2: o.beta2 },
    schedule: { ...spec.schedule },
    warmup: spec.warmup,
    seed: spec.seed,
  };
}

/** The learning rate at a 0-based step: warm-up, then the schedule. */
export function learningRate(spec: HyperSchedule, step: number): number {
  const base = spec.optimizer.lr;
  const s = spec.schedule;
  let lr = base;
  if (s.kind === "step") lr = base * Math.pow(s.gamma, Math.floor(step / s.every));
  else if (s.kind === "cosine") lr = s.minLr + 0.5 * (base - s.minLr) * (1 + Math.cos(Math.PI * Math.min(step, s.steps) / s.steps));
  return spec.warmup > 0 && step < spec.warmup ? (lr * (step + 1)) / spec.warmup : lr;
}

/**
 * The per-step scalars a training step reads (`hyper` args): the learning rate, for Adam the
 * bias corrections 1/(1-β1^t) and 1/(1-β2^t) at the 1-based step t, and the step's random seed
 * (dropout masks), a function of the run's seed and the step so a resumed run repeats it.
 */
export function hyperValues(spec: HyperSchedule, step: number): Record<string, number> {
  // NOTE: the seed is an f32 holding an integer, so it stays below 2^24 to be exact.
  const out: Record<string, number> = { lr: learningRate(spec, step), "step.seed": (spec.seed * 7919 + step * 104729 + 1) % 16777216 };
  const o = spec.optimizer;
  if (o.kind !== "sgd") {
    out["adam.bc1"] = 1 / (1 - Math.pow(o.beta1 ?? 0.9, step + 1));
    out["adam.bc2"] = 1 / (1 - Math.pow(o.beta2 ?? 0.999, step + 1));
  }
  return out;
}
