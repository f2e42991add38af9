import type { Graph, Value } from "../graph.js";
import { Builder } from "../ops/builder.js";
import type { PassContext } from "./pass.js";

/**
 * optimizer: appends the parameter updates of one training step.
 * 1. Add the per-step scalars as `hyper` args (the learning rate, Adam's bias corrections): the
 *    host computes them each step, so schedules and warm-up need no graph change.
 * 2. For each param p with gradient g, add its optimizer state as `state` args (zeros at start)
 *    and build the new values:
 *    - SGD: g' = g + wd·p; with momentum μ: v := μ·v + g', step = nesterov ? g' + μ·v : v; p := p - lr·step.
 *    - Adam: m := β1·m + (1-β1)·g; v := β2·v + (1-β2)·g²; p := p - lr·(m·bc1) / (sqrt(v·bc2) + ε);
 *      with weight decay, PyTorch's coupled L2: g := g + wd·p before the moments.
 *    - AdamW: Adam's step plus decoupled decay: p := p - lr·(… + wd·p).
 * 3. Record `update x := new` for params and state; the runtime writes them at the end of the step.
 * With `clip = c`, every gradient is first scaled by min(1, c / ‖g‖), ‖g‖ the global norm over all
 * params (PyTorch's clip_grad_norm_), so the step keeps its direction.
 * Nodes carry the optimizer's span from the training section, with origin "update".
 */
export function optimizer(input: Graph, ctx: PassContext): Graph {
  // NOTE: only appends args and nodes, so it shares the input's nodes rather than copying them.
  const g = input.derive();
  const opt = ctx.train?.optimizer;
  if (!opt || g.grads.length === 0) return g;
  const b = new Builder(g, opt.span, "update");
  const scalar = { dtype: "f32" as const, shape: [] };
  const hyper = (name: string) => g.addArg({ role: "hyper", name }, scalar, opt.span);
  const state = (p: Value, name: string) =>
    g.addArg({ role: "state", name: `${p.arg!.name}.${name}`, init: { kind: "zeros", options: {} } }, p.type, opt.span);
  // NOTE: one node per constant, shared by every param's update (not one per param per use).
  const consts = new Map<number, Value>();
  const c = (v: number) => {
    let k = consts.get(v);
    if (!k) consts.set(v, (k = b.const(v)));
    return k;
  };
  const lr = hyper("lr");
  if (ctx.train?.clip) {
    const squares = g.grads.map(({ grad }) => b.op("sum", [b.mul(grad, grad)], { keepdims: false }));
    const norm = b.op("sqrt", [squares.reduce((acc, s) => b.add(acc, s))]);
    const scale = b.op("min", [c(1), b.div(c(ctx.train.clip), b.add(norm, c(1e-6)))]);
    g.grads = g.grads.map(({ param, grad }) => ({ param, grad: b.mul(grad, scale) }));
  }

  if (opt.kind === "sgd") {
    for (const { param: p, grad } of g.grads) {
      const gw = opt.weightDecay ? b.add(grad, b.mul(c(opt.weightDecay), p)) : grad;
      let step = gw;
      if (opt.momentum) {
        const v = state(p, "velocity");
        const vNew = b.add(b.mul(c(opt.momentum), v), gw);
        g.updates.push({ param: v, value: vNew });
        step = opt.nesterov ? b.add(gw, b.mul(c(opt.momentum), vNew)) : vNew;
      }
      g.updates.push({ param: p, value: b.sub(p, b.mul(lr, step)) });
    }
  } else {
    const bc1 = hyper("adam.bc1");
    const bc2 = hyper("adam.bc2");
    for (const { param: p, grad: raw } of g.grads) {
      const grad = opt.kind === "adam" && opt.weightDecay ? b.add(raw, b.mul(c(opt.weightDecay), p)) : raw;
      const m = state(p, "m");
      const v = state(p, "v");
      const mNew = b.add(b.mul(c(opt.beta1), m), b.mul(c(1 - opt.beta1), grad));
      const vNew = b.add(b.mul(c(opt.beta2), v), b.mul(c(1 - opt.beta2), b.mul(grad, grad)));
      let step = b.div(b.mul(mNew, bc1), b.add(b.op("sqrt", [b.mul(vNew, bc2)]), c(opt.eps)));
      if (opt.kind === "adamw" && opt.weightDecay) step = b.add(step, b.mul(c(opt.weightDecay), p));
      g.updates.push({ param: m, value: mNew }, { param: v, value: vNew }, { param: p, value: b.sub(p, b.mul(lr, step)) });
    }
  }
  return g;
}
