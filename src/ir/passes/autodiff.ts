import { ValueTable, type Graph, type Value } from "../graph.js";
import { Builder } from "../ops/builder.js";
import { opDef } from "../ops/registry.js";
import { sameShape, type Dim } from "../types.js";
import type { PassContext } from "./pass.js";

/**
 * autodiff: reverse-mode differentiation of the loss with respect to every param.
 * 1. Mark the values that depend on a param (only those need gradients).
 * 2. Seed d(loss)/d(loss) = 1, then visit nodes in reverse order; each op's registered rule gives
 *    its inputs' gradients shaped like its output.
 * 3. Un-broadcast once, here, not in each rule: sum over the axes broadcasting added, then reshape.
 * 4. Accumulate gradients of values used more than once with `add`.
 * 5. Record one gradient per param (a zero tensor for a param the loss does not use).
 * 6. Gradients asked for by name (`ctx.gradients`: params or inputs) become outputs `grad.NAME`.
 *    In inference mode (an evaluation) only those are computed and the graph has no `grads`.
 * New nodes carry the span of the forward node they differentiate, with origin "grad".
 */
export function autodiff(input: Graph, ctx: PassContext): Graph {
  // NOTE: autodiff only appends nodes, so it shares the forward graph's nodes rather than copying them.
  const g = input.derive();
  const asked = (ctx.gradients ?? []).map((name) => {
    const a = g.argNamed(name);
    if (!a) throw new Error(`internal: no arg "${name}" to differentiate`);
    return a;
  });
  const training = ctx.mode !== "infer";
  if (!g.loss || (!training && asked.length === 0)) return g;
  const loss = g.loss;

  // NOTE: tables by value id, not sets and maps of values: this runs over every node of the step.
  const needs = new ValueTable<true>(g.idCount);
  for (const p of training ? [...g.params, ...asked] : asked) needs.set(p, true);
  for (const n of g.nodes) if (n.inputs.some((v) => needs.has(v))) needs.set(n.out, true);

  const b = new Builder(g, loss.span, "grad");
  const grads = new ValueTable<Value>(g.idCount);
  grads.set(loss, b.const(1));

  const forward = [...g.nodes];
  for (let i = forward.length - 1; i >= 0; i--) {
    const n = forward[i]!;
    const gOut = grads.get(n.out);
    if (!gOut || !needs.has(n.out)) continue;
    const rule = opDef(n.op).grad;
    if (!rule) continue;
    b.span = n.span;
    const gIns = rule(b, gOut, n.inputs, n.out, n.attrs);
    n.inputs.forEach((x, k) => {
      const gx = gIns[k];
      if (!gx || !needs.has(x)) return;
      const shaped = unbroadcast(b, gx, x.type.shape);
      const prev = grads.get(x);
      grads.set(x, prev ? b.add(prev, shaped) : shaped);
    });
  }

  const gradOf = (p: Value) => {
    const gp = grads.get(p);
    if (gp) return gp;
    b.span = p.span;
    return b.op("broadcast", [b.const(0)], { shape: p.type.shape });
  };
  if (training) g.grads = g.params.map((p) => ({ param: p, grad: gradOf(p) }));
  for (const a of asked) {
    const grad = g.grads.find((x) => x.param === a)?.grad ?? gradOf(a);
    g.outputs.push({ name: `grad.${a.arg!.name}`, value: grad });
  }
  return g;
}

/** Sums `g` over the axes broadcasting stretched, so it has `shape`. */
export function unbroadcast(b: Builder, g: Value, shape: readonly Dim[]): Value {
  if (sameShape(g.type.shape, shape)) return g;
  const extra = g.type.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.type.shape.length; i++) {
    if (i < extra) axes.push(i);
    else if (shape[i - extra] === 1 && g.type.shape[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? b.op("sum", [g], { axes, keepdims: false }) : g;
  return sameShape(summed.type.shape, shape) ? summed : b.op("reshape", [summed], { shape: [...shape] });
}
