import type { Graph } from "../graph.js";
import { Builder } from "../ops.js";
import type { PassContext } from "./pass.js";

/**
 * optimizer: appends the parameter updates of one training step.
 * 1. For each param p with gradient g, build the optimizer's new value (SGD: p - lr·g).
 * 2. Record `update p := new`; the runtime writes it back at the end of the step.
 * Nodes carry the optimizer's span from the training section, with origin "update".
 */
export function optimizer(input: Graph, ctx: PassContext): Graph {
  const g = input.clone();
  const opt = ctx.train?.optimizer;
  if (!opt || g.grads.length === 0) return g;
  const b = new Builder(g, opt.span, "update");
  const lr = b.const(opt.lr);
  g.updates = g.grads.map(({ param, grad }) => ({ param, value: b.sub(param, b.mul(lr, grad)) }));
  return g;
}
