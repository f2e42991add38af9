import type { SourceFile, Span } from "../base/source.js";
import { Graph, NO_ATTRS, Node, Value, type ArgInfo, type AttrValue, type Attrs, type Origin } from "./graph.js";
import type { DType, Dim } from "./types.js";

/**
 * A graph as JSON, for the Plan's CPU reference: args, nodes in order and the roots. Kernels are
 * left out (the CPU runs nodes one by one). Each node keeps `at`, its source location
 * (`file:line:col`), so a problem found at run time can still name the line it came from.
 */
export interface GraphJson {
  name: string;
  args: { id: number; dtype: DType; shape: Dim[]; arg: ArgInfo }[];
  nodes: { op: string; inputs: number[]; attrs: Record<string, JsonAttr>; id: number; dtype: DType; shape: Dim[]; origin: Origin; at?: string }[];
  outputs: { name: string; value: number }[];
  loss?: number;
  updates: { param: number; value: number }[];
}

/** An attribute as JSON: non-finite numbers (pool padding's -Infinity) are spelled out. */
export type JsonAttr = AttrValue | { number: string };

/**
 * The JSON form of a typed graph; `at` gives a node's location (omitted when it gives nothing),
 * asked once per node: planOf's remembers each span's.
 */
export function graphToJson(g: Graph, at?: (span: Span) => string | undefined): GraphJson {
  return {
    name: g.name,
    args: g.args.map((a) => ({ id: a.id, dtype: a.type.dtype, shape: [...a.type.shape], arg: a.arg! })),
    nodes: g.nodes.map((n) => {
      const where = at?.(n.span);
      return {
        op: n.op,
        inputs: n.inputs.map((v) => v.id),
        attrs: n.attrs === NO_ATTRS ? {} : Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, attrToJson(v)])),
        id: n.out.id,
        dtype: n.out.type.dtype,
        shape: [...n.out.type.shape],
        origin: n.origin,
        ...(where ? { at: where } : {}),
      };
    }),
    outputs: g.outputs.map((o) => ({ name: o.name, value: o.value.id })),
    ...(g.loss ? { loss: g.loss.id } : {}),
    updates: g.updates.map((u) => ({ param: u.param.id, value: u.value.id })),
  };
}

/** Rebuilds a typed graph from its JSON form; a malformed one throws (the Plan is checked before). */
export function graphFromJson(j: GraphJson): Graph {
  const g = new Graph(j.name);
  g.typed = true;
  const span: Span = { file: detachedFile(j.name), start: 0, end: 0 };
  const byId = new Map<number, Value>();
  const get = (id: number): Value => {
    const v = byId.get(id);
    if (!v) throw new Error(`internal: plan graph ${j.name} uses value %${id} before defining it`);
    return v;
  };
  // NOTE: values keep their ids, so a plan's buffers (which name values by id) match the graph's.
  for (const a of j.args) {
    const v = new Value(a.id, { dtype: a.dtype, shape: a.shape }, span);
    v.arg = a.arg;
    g.args.push(v);
    byId.set(a.id, v);
  }
  for (const n of j.nodes) {
    const attrs: Attrs = Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, attrFromJson(v)]));
    const out = new Value(n.id, { dtype: n.dtype, shape: n.shape }, span);
    const node = new Node(n.op, n.inputs.map(get), attrs, out, span, n.origin);
    out.producer = node;
    g.nodes.push(node);
    byId.set(n.id, out);
  }
  g.outputs = j.outputs.map((o) => ({ name: o.name, value: get(o.value) }));
  if (j.loss !== undefined) g.loss = get(j.loss);
  g.updates = j.updates.map((u) => ({ param: get(u.param), value: get(u.value) }));
  return g;
}

function attrToJson(v: AttrValue): JsonAttr {
  return typeof v === "number" && !Number.isFinite(v) ? { number: String(v) } : v;
}

function attrFromJson(v: JsonAttr): AttrValue {
  return typeof v === "object" && !Array.isArray(v) ? Number(v.number) : v;
}

/** A stand-in source file for graphs read back from JSON (their spans point nowhere). */
function detachedFile(path: string): SourceFile {
  return { path, text: "", lineStarts: [0], position: () => ({ line: 0, col: 0 }), lineText: () => "" };
}
