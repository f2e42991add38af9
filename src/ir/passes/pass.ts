import type { Diagnostics } from "../../base/diagnostics.js";
import type { Span } from "../../base/source.js";
import type { Graph, Value } from "../graph.js";
import type { TrainSpec } from "../training.js";
import type { TensorType } from "../types.js";

/**
 * A type the frontend expects a value to have: a block's input (NC3020 at the call) or a block
 * output's declared type (NC3009). infer-shapes checks it before typing node `before`; when an
 * input does not fit, the nodes up to `end` (the block's body) are skipped as consequences.
 */
export interface TypeCheck {
  /** A value of the lowered graph; matched by id in later copies. */
  value: Value;
  declared: TensorType;
  before: number;
  end: number;
  span: Span;
  what: { kind: "input"; name: string; block: string } | { kind: "output"; name: string };
}

/** What every pass receives besides the graph. */
export interface PassContext {
  d: Diagnostics;
  train?: TrainSpec;
  /** Types from the frontend for infer-shapes to check (block inputs and outputs). */
  checks?: TypeCheck[];
  /** `infer` compiles the forward pass only: autodiff and the optimizer leave the graph as it is. */
  mode?: "train" | "infer";
  /**
   * Args (params or inputs, by name) whose gradient of the loss becomes the output `grad.NAME`
   * (`compile`'s `read`); computed in either mode, without changing what the optimizer sees.
   */
  gradients?: readonly string[];
}

/** A pass: a function from graph to graph (it transforms a copy). */
export type Pass = (g: Graph, ctx: PassContext) => Graph;
