import type { Diagnostics } from "../../frontend/diagnostics.js";
import type { Graph } from "../graph.js";
import type { TrainSpec } from "../training.js";

/** What every pass receives besides the graph. */
export interface PassContext {
  d: Diagnostics;
  train?: TrainSpec;
}

/** A pass: a function from graph to graph (it transforms a copy). */
export type Pass = (g: Graph, ctx: PassContext) => Graph;
