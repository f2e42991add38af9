import { ValueSet, ValueTable, type Graph, type Kernel, type Value } from "./graph.js";
import { opDef } from "./ops/registry.js";

/**
 * Checks the graph's invariants: values defined before use, arity as registered (-1: one or
 * more), kernels that cover nodes at most once and only read what is defined outside them. A
 * failure is a compiler bug, so it throws.
 */
export function verifyGraph(g: Graph): void {
  // NOTE: value ids are unique within a graph (tables indexed by id rely on it): checked here too.
  const defined = new ValueSet(g.idCount);
  const define = (v: Value) => {
    if (defined.valueNumbered(v.id)) throw new Error(`internal: two values are numbered %${v.id}`);
    defined.add(v);
  };
  for (const a of g.args) define(a);
  // NOTE: indexed loops: this runs after every pass over every node (see Consumers).
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    const def = opDef(n.op);
    const arityOk = def.arity === -1 ? n.inputs.length >= 1 : n.inputs.length === def.arity;
    if (!arityOk) throw new Error(`internal: ${n.op} has ${n.inputs.length} inputs, wants ${def.arity === -1 ? "one or more" : def.arity}`);
    for (let k = 0; k < n.inputs.length; k++) {
      const v = n.inputs[k]!;
      if (!defined.has(v)) throw new Error(`internal: ${n.op} reads %${v.id} before it is defined`);
    }
    if (n.out.producer !== n) throw new Error(`internal: %${n.out.id} has the wrong producer`);
    define(n.out);
  }
  const roots = g.roots();
  for (let i = 0; i < roots.length; i++) if (!defined.has(roots[i]!)) throw new Error(`internal: root %${roots[i]!.id} is not defined`);
  if (g.kernels) {
    const kernelOf = new ValueTable<Kernel>(g.idCount);
    for (let j = 0; j < g.kernels.length; j++) {
      const k = g.kernels[j]!;
      for (let i = 0; i < k.nodes.length; i++) {
        const n = k.nodes[i]!;
        if (kernelOf.has(n.out)) throw new Error(`internal: node %${n.out.id} is in two kernels`);
        kernelOf.set(n.out, k);
      }
      for (let i = 0; i < k.nodes.length; i++) {
        const ins = k.nodes[i]!.inputs;
        for (let m = 0; m < ins.length; m++) {
          const v = ins[m]!;
          if (kernelOf.get(v) !== k && !k.inputs.includes(v) && !(v.producer && opDef(v.producer.op).kind === "source"))
            throw new Error(`internal: kernel ${k.name} reads %${v.id} without binding it`);
        }
      }
      if (k.output !== k.nodes.at(-1)!.out) throw new Error(`internal: kernel ${k.name} output is not its last node`);
    }
  }
}
