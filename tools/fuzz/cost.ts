import type { GraphJson } from "../../src/ir/graph-json.js";
import { opDef } from "../../src/ir/ops/registry.js";
import type { Plan } from "../../src/ir/plan.js";
import { concreteShape, numel, type DimBindings } from "../../src/ir/types.js";

/**
 * What a case's CPU step will cost, estimated from the compiled graph's shapes before it runs, so
 * that the fuzzer can leave out steps that are legal but too large for its time budget (a
 * `repeat(3000, ResBlock)` or an LSTM over 1,000 steps: minutes of interpreter time) and count
 * only a step under the budget that does not end as a hang.
 *
 * The unit is one inner-loop iteration of the reference interpreter (src/ir/interp.ts), which is
 * what the CPU backend runs: an elementwise or movement op costs one per output element and
 * input, a reduction one per input element, a matmul one per multiply-add, a convolution one per
 * tap; every node adds {@link NODE_COST} for its allocation and bookkeeping (it dominates the
 * step of a deep net of small tensors).
 */

/** A node's fixed cost in loop iterations: allocation, shape binding, the interpreter's dispatch. */
export const NODE_COST = 400;

/** Graph runs of a fuzz case on the CPU: two training steps and, when one is not finite, their replay. */
const RUNS_PER_CASE = 4;

/** The estimated cost of one run of `graph` with `dims` bound (see above). */
export function graphCost(graph: GraphJson, dims: DimBindings): number {
  const shapes = new Map<number, number[]>();
  const size = (id: number) => numel(shapes.get(id) ?? []);
  for (const a of graph.args) shapes.set(a.id, concreteShape(a.shape, dims));
  let total = 0;
  for (const n of graph.nodes) {
    const shape = concreteShape(n.shape, dims);
    shapes.set(n.id, shape);
    const out = numel(shape);
    const ins = n.inputs.map((id) => shapes.get(id) ?? []);
    total += NODE_COST + nodeCost(n.op, out, ins, n.inputs.map(size));
  }
  return total;
}

function nodeCost(op: string, out: number, ins: number[][], sizes: number[]): number {
  const kind = opDef(op).kind;
  const inputs = sizes.reduce((a, b) => a + b, 0);
  if (kind === "reduce") return sizes[0] ?? out;
  if (kind === "contraction") {
    // NOTE: [.., M, K] x [.., K, N]: the product of the operands' sizes over the output's is
    // (batch ·) K², whichever side is transposed; its root bounds K from above.
    const [a = 1, b = 1] = sizes;
    return out * Math.sqrt((a * b) / Math.max(1, out)) + inputs;
  }
  if (kind === "window") {
    const w = ins[1] ?? [];
    // conv: each output sums C/groups × kernel taps (the weight's size over its filters);
    // conv_grad_input: each output (an input position) reads up to F × kernel taps;
    // conv_grad_weight: each weight sums over the batch and output positions (g's size over F).
    if (op === "conv") return out * (numel(w) / Math.max(1, w[0] ?? 1)) + inputs;
    if (op === "conv_grad_input") return out * (numel(w) / Math.max(1, w[1] ?? 1)) + inputs;
    if (op === "conv_grad_weight") return out * (numel(w) / Math.max(1, w[1] ?? 1)) + inputs;
    // pooling and gathers: one window (or index) per output, bounded by what they read.
    return out + inputs + Math.max(0, ...sizes);
  }
  // elementwise, movement, source: per output element, an index computation per input.
  return out * (1 + ins.length) + inputs;
}

/** The estimated cost of a fuzz case's CPU training (its steps, their replay, a validation pass). */
export function caseCost(plan: Plan, dims: DimBindings, inferDims?: DimBindings, infer?: Plan): number {
  return RUNS_PER_CASE * graphCost(plan.graph, dims) + (infer && inferDims ? graphCost(infer.graph, inferDims) : 0);
}

/**
 * Interpreter iterations per second of the CPU step at its slowest: on two cores shared by five
 * busy processes, the examples' steps ran at 0.9e7 to 6e7 a second.
 */
export const SLOWEST_RATE = 1e7;

/**
 * The default step budget for a timeout: what the slowest rate does in it, so a step under the
 * budget ends within the timeout even on a loaded machine, and one that does not is a hang.
 */
export function defaultBudget(timeoutSeconds: number): number {
  return timeoutSeconds * SLOWEST_RATE;
}
