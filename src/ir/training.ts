import type { Span } from "../frontend/source.js";

/** An optimizer as the training section names it. */
export interface OptimizerSpec {
  kind: "sgd";
  lr: number;
  span: Span;
}

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
  epochs: number;
  batch: number;
  seed: number;
  logEvery: number;
  data: DataColumn[];
  span: Span;
}
