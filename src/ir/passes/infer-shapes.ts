import type { Graph, Value } from "../graph.js";
import { opDef } from "../ops/registry.js";
import type { InferCtx } from "../ops/types.js";
import { formatShape, formatType, type Dim, type TensorType } from "../types.js";
import type { PassContext } from "./pass.js";

/**
 * infer-shapes: gives every value its type and unifies symbolic dims.
 * 1. Walk nodes in order; each op's registered shape rule computes its result type.
 * 2. Dims that must agree (matmul's inner dim, broadcast dims) are unified: a symbol binds to a
 *    number or another symbol (union-find), a clash between two numbers is a user error at the node.
 * 3. A node whose input already failed is skipped, so one mistake gives one error, not a cascade.
 *    Before a block's body is typed, the types its inputs declare are unified with the arguments
 *    (`ctx.checks`); when one does not fit, the error is at the call and the body is skipped.
 * 4. Bindings are substituted into every type; the loss must be a scalar; declared output types
 *    must match; a param's dims must be numbers or dims an input carries (a layer's `dense1.in`
 *    is bound here, from the input it is applied to).
 */
export function inferShapes(input: Graph, ctx: PassContext): Graph {
  const g = input.clone();
  const bound = new Map<string, Dim>();
  const find = (d: Dim): Dim => {
    while (typeof d === "string" && bound.has(d)) d = bound.get(d)!;
    return d;
  };
  const unify = (a: Dim, b: Dim): Dim | undefined => {
    const x = find(a);
    const y = find(b);
    if (x === y) return x;
    if (typeof x === "string") {
      bound.set(x, y);
      return y;
    }
    if (typeof y === "string") {
      bound.set(y, x);
      return x;
    }
    return undefined;
  };

  const failed = new Set<Value>();
  const checks = [...(ctx.checks ?? [])].sort((a, b) => a.before - b.before);
  // NOTE: only block calls bring checks; a graph without them needs no index of its values.
  const byId = new Map(checks.length ? [...g.args, ...g.nodes.map((n) => n.out)].map((v) => [v.id, v]) : []);
  let nextCheck = 0;
  let skipUntil = -1;
  const runChecks = (upTo: number) => {
    for (; nextCheck < checks.length && checks[nextCheck]!.before <= upTo; nextCheck++) {
      const c = checks[nextCheck]!;
      const value = byId.get(c.value.id);
      if (!value || failed.has(value)) continue;
      const have = resolve(value.type, find);
      const fits =
        c.declared.dtype === have.dtype &&
        c.declared.shape.length === have.shape.length &&
        c.declared.shape.every((d, i) => unify(d, have.shape[i]!) !== undefined);
      if (fits) continue;
      const declared = formatType(resolve(c.declared, find));
      if (c.what.kind === "input") {
        ctx.d.error("NC3020", c.span, { name: c.what.name, block: c.what.block, expected: declared, actual: formatType(have) });
        skipUntil = Math.max(skipUntil, c.end);
      } else ctx.d.error("NC3009", c.span, { declared, name: c.what.name, actual: formatType(have) });
    }
  };
  for (const [i, n] of g.nodes.entries()) {
    runChecks(i);
    if (i < skipUntil || n.inputs.some((v) => failed.has(v))) {
      failed.add(n.out);
      continue;
    }
    let ok = true;
    const ictx: InferCtx = {
      op: n.op,
      error: (code, args) => {
        ok = false;
        ctx.d.error(code, n.span, args);
      },
      unify,
    };
    const t = opDef(n.op).infer(
      n.inputs.map((v) => resolve(v.type, find)),
      n.attrs,
      ictx,
    );
    if (!t || !ok) failed.add(n.out);
    else n.out.type = t;
  }
  runChecks(Infinity);

  for (const v of g.args) v.type = resolve(v.type, find);
  for (const n of g.nodes) n.out.type = resolve(n.out.type, find);
  for (const n of g.nodes) {
    for (const key of ["shape", "dims"]) {
      const a = n.attrs[key];
      if (Array.isArray(a)) n.attrs[key] = (a as Dim[]).map(find);
    }
  }

  // A param's size must be known before training: a symbol no input carries can never be bound.
  const inputDims = new Set(g.args.filter((a) => a.arg!.role === "input" || a.arg!.role === "label").flatMap((a) => a.type.shape));
  // NOTE: a param read by a node that failed (or was skipped) stays unbound because of that error.
  const readByFailed = new Set(g.nodes.filter((n) => failed.has(n.out)).flatMap((n) => n.inputs));
  for (const p of g.params) {
    const loose = p.type.shape.filter((d) => typeof d === "string" && !inputDims.has(d));
    if (loose.length && !readByFailed.has(p)) ctx.d.error("NC3010", p.span, { name: p.arg!.name, dims: loose.join(", ") });
  }

  if (g.loss && !failed.has(g.loss) && g.loss.type.shape.length !== 0) {
    ctx.d.error("NC3008", g.loss.span, { shape: formatShape(g.loss.type.shape) });
  }
  for (const o of g.outputs) {
    if (!o.declared || failed.has(o.value)) continue;
    const want = resolve(o.declared, find);
    const have = o.value.type;
    const same =
      want.dtype === have.dtype &&
      want.shape.length === have.shape.length &&
      want.shape.every((d, i) => unify(d, have.shape[i]!) !== undefined);
    if (!same) ctx.d.error("NC3009", o.value.span, { declared: formatType(want), name: o.name, actual: formatType(have) });
  }
  g.typed = true;
  return g;
}

function resolve(t: TensorType, find: (d: Dim) => Dim): TensorType {
  return { dtype: t.dtype, shape: t.shape.map(find) };
}
