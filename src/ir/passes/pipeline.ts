import type { Graph } from "../graph.js";
import { verifyGraph } from "../verify.js";
import { autodiff } from "./autodiff.js";
import { fuse } from "./fuse.js";
import { inferShapes } from "./infer-shapes.js";
import { optimizer } from "./optimizer.js";
import type { Pass, PassContext } from "./pass.js";
import { simplify } from "./simplify.js";

/** The passes in the order they run; the names feed `netc ir --after NAME`. */
export const PIPELINE: readonly (readonly [string, Pass])[] = [
  ["infer-shapes", inferShapes],
  ["autodiff", autodiff],
  ["optimizer", optimizer],
  ["simplify", simplify],
  ["fuse", fuse],
];

/** Every name `--after` accepts: the frontend's output plus each pass. */
export const STAGE_NAMES: readonly string[] = ["lower", ...PIPELINE.map(([n]) => n)];

/** Time spent in each pass, in milliseconds. */
export type PassTimes = Record<string, number>;

/**
 * Runs the pipeline on the lowered graph, stopping after `after` (default: all) or at the first
 * pass that reports a user error. Every intermediate graph is verified.
 */
export function runPipeline(g: Graph, ctx: PassContext, after?: string): { graph: Graph; times: PassTimes } {
  // NOTE: `g` is reassigned pass by pass, so no variable here keeps an earlier stage's graph alive.
  const times: PassTimes = {};
  if (after === "lower") return { graph: g, times };
  for (const [name, pass] of PIPELINE) {
    if (ctx.d.hasErrors && name !== "infer-shapes") break;
    const t0 = performance.now();
    g = pass(g, ctx);
    times[name] = performance.now() - t0;
    if (ctx.d.hasErrors) break;
    verifyGraph(g);
    if (name === after) break;
  }
  return { graph: g, times };
}
