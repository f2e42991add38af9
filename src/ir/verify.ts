import type { Graph, Value } from "./graph.js";
import { opDef } from "./ops.js";

/**
 * Checks the graph's invariants: values defined before use, arity as registered (-1: one or
 * more), kernels that cover nodes at most once and only read what is defined outside them. A
 * failure is a compiler bug, so it throws.
 */
export function verifyGraph(g: Graph): void {
  const defined = new Set<Value>(g.args);
  for (const n of g.nodes) {
    const def = opDef(n.op);
    const arityOk = def.arity === -1 ? n.inputs.length >= 1 : n.inputs.length === def.arity;
    if (!arityOk) throw new Error(`internal: ${n.op} has ${n.inputs.length} inputs, wants ${def.arity === -1 ? "one or more" : def.arity}`);
    for (const v of n.inputs) if (!defined.has(v)) throw new Error(`internal: ${n.op} reads %${v.id} before it is defined`);
    if (n.out.producer !== n) throw new Error(`internal: %${n.out.id} has the wrong producer`);
    defined.add(n.out);
  }
  for (const v of g.roots()) if (!defined.has(v)) throw new Error(`internal: root %${v.id} is not defined`);
  if (g.kernels) {
    const seen = new Set<number>();
    for (const k of g.kernels) {
      const inside = new Set(k.nodes.map((n) => n.out));
      for (const n of k.nodes) {
        if (seen.has(n.out.id)) throw new Error(`internal: node %${n.out.id} is in two kernels`);
        seen.add(n.out.id);
        for (const v of n.inputs)
          if (!inside.has(v) && !k.inputs.includes(v) && !(v.producer && opDef(v.producer.op).kind === "source"))
          throw new Error(`internal: kernel ${k.name} reads %${v.id} without binding it`);
      }
      if (k.output !== k.nodes.at(-1)!.out) throw new Error(`internal: kernel ${k.name} output is not its last node`);
    }
  }
}
