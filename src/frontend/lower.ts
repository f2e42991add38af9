import { dropRepeats, type Diagnostics } from "../base/diagnostics.js";
import type { Value, Graph } from "../ir/graph.js";
import type { TypeCheck } from "../ir/passes/pass.js";
import type { TrainSpec } from "../ir/training.js";
import type { Program } from "./ast.js";
import { feedableNames } from "./feed-hints.js";
import { linkProgram, type Linked } from "./modules.js";
import { Lowerer } from "./network-lowerer.js";

/**
 * The CST visitor's second half: lowers the network section (and every block instance it reaches)
 * to IR nodes, in network-lowerer.ts. The training section is lowered by lower-train.ts against this network's scope;
 * literal values, keyword arguments, types and initializers are checked in statics.ts; shapes a
 * layer needs during lowering come from eager-types.ts.
 */

/** What lowering produces: the forward graph (with the loss, when there is a training section). */
export interface Lowered {
  graph: Graph;
  train?: TrainSpec;
  /** Types block calls expect of their inputs (and declare for their outputs), checked by infer-shapes. */
  checks: TypeCheck[];
  /** Every let's value by name (`h1`; `r1.h` inside block instance `r1`), for `compile`'s `read`. */
  lets: Map<string, Value>;
}

/**
 * Which step the graph computes: a training step (dropout active, batchnorm on batch statistics
 * updating its running statistics), an evaluation (inference with the loss and metrics against
 * labels), or plain inference (dropout off, batchnorm on the running statistics; the outputs only,
 * the training section's loss and metrics are checked but dropped by `compile`).
 */
export type LowerMode = "train" | "eval" | "infer";

/**
 * Lowers the AST to the IR: resolves names, turns calls into primitives (composites via the
 * function table, blocks by instantiating their bodies), binds data columns to inputs and labels,
 * and builds the loss. Reports user errors into `d` and keeps going so independent mistakes are
 * all reported. `linked` is the block scope with imports loaded (see `linkProgram`); without it
 * no file can be read, so every import is reported missing.
 */
export function lowerProgram(
  p: Program,
  d: Diagnostics,
  linked: Linked = linkProgram(p, d),
  mode: LowerMode = "train",
): Lowered | undefined {
  const net = p.networks[0];
  if (!net) {
    d.error("NC2009", p.span);
    return undefined;
  }
  for (const extra of p.networks.slice(1)) d.error("NC2012", extra.name.span, { name: extra.name.name });
  const first = d.items.length;
  const l = new Lowerer(net.name.name, d, linked.scope, mode === "train");
  l.feedable = feedableNames(p.trains[0]);
  l.network(net);
  const train = p.trains[0] ? l.train(p.trains[0]) : undefined;
  l.checkUnusedBlocks(linked.blocks);
  dropRepeats(d, first);
  return { graph: l.graph, train, checks: l.checks, lets: l.lets };
}
