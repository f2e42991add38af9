import { ValueTable, type Graph, type Kernel, type Value } from "./graph.js";
import { opDef } from "./ops/registry.js";

/**
 * Checks the graph's invariants: values defined before use, arity as registered (-1: one or
 * more), kernels that cover nodes at most once and only read what is defined outside them. A
 * failure is a compiler bug, so it throws.
 */
export function verifyGraph(g: Graph): void {
  // NOTE: value ids are unique within a graph (tables indexed by id rely on it): checked here too.
  const defined = new ValueTable<true>(g.idCount);
  const define = (v: Value) => {
    if (defined.valueNumbered(v.id)) throw new Error(`internal: two values are numbered %${v.id}`);
    defined.set(v, true);
  };
  for (const a of g.args) define(a);
  for (const n of g.nodes) {
    const def = opDef(n.op);
    const arityOk = def.arity === -1 ? n.inputs.length >= 1 : n.inputs.length === def.arity;
    if (!arityOk) throw new Error(`internal: ${n.op} has ${n.inputs.length} inputs, wants ${def.arity === -1 ? "one or more" : def.arity}`);
    for (const v of n.inputs) if (!defined.has(v)) throw new Error(`internal: ${n.op} reads %${v.id} before it is defined`);
    if (n.out.producer !== n) throw new Error(`internal: %${n.out.id} has the wrong producer`);
    define(n.out);
  }
  for (const v of g.roots()) if (!defined.has(v)) throw new Error(`internal: root %${v.id} is not defined`);
  if (g.kernels) {
    const kernelOf = new ValueTable<Kernel>(g.idCount);
    for (const k of g.kernels) {
      for (const n of k.nodes) {
        if (kernelOf.has(n.out)) throw new Error(`internal: node %${n.out.id} is in two kernels`);
        kernelOf.set(n.out, k);
      }
      for (const n of k.nodes) {
        for (const v of n.inputs)
          if (kernelOf.get(v) !== k && !k.inputs.includes(v) && !(v.producer && opDef(v.producer.op).kind === "source"))
          throw new Error(`internal: kernel ${k.name} reads %${v.id} without binding it`);
      }
      if (k.output !== k.nodes.at(-1)!.out) throw new Error(`internal: kernel ${k.name} output is not its last node`);
    }
  }
}
