import { formatLocation } from "../frontend/source.js";
import type { ArgRole, Attrs, AttrValue, Graph, Kernel, Node, Origin, Value } from "./graph.js";
import { formatType } from "./types.js";

/** Options for the Graphviz form. */
export interface DotOptions {
  /** Add each node's source location (`file:line:col`) to its label. */
  debugInfo?: boolean;
}

/** Fill and border colours of op nodes, and the background of kernels, by origin. */
const ORIGIN_STYLE: Record<Origin, { fill: string; border: string; cluster: string; clusterBorder: string }> = {
  forward: { fill: "#dbeafe", border: "#2563eb", cluster: "#f3f7fe", clusterBorder: "#93b4ee" },
  grad: { fill: "#ffedd5", border: "#ea580c", cluster: "#fff8f0", clusterBorder: "#f3b27f" },
  update: { fill: "#dcfce7", border: "#16a34a", cluster: "#f2fcf5", clusterBorder: "#86d19f" },
};

/** Fill colours of graph arguments, by role. */
const ROLE_FILL: Record<ArgRole, string> = {
  input: "#fef9c3",
  label: "#fef9c3",
  param: "#ede9fe",
  state: "#f3e8ff",
  hyper: "#f3f4f6",
};

const FONT = "Helvetica";

/** A DOT string literal. */
function q(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** `[key=value, ...]` with every value quoted. */
function attrList(attrs: Record<string, string | number>): string {
  return `[${Object.entries(attrs)
    .map(([k, v]) => `${k}=${typeof v === "number" ? v : q(v)}`)
    .join(", ")}]`;
}

function formatAttr(v: AttrValue): string {
  return Array.isArray(v) ? `[${v.join(",")}]` : String(v);
}

function formatAttrs(attrs: Attrs): string {
  const keys = Object.keys(attrs).sort();
  return keys.length ? ` {${keys.map((k) => `${k}=${formatAttr(attrs[k]!)}`).join(", ")}}` : "";
}

/**
 * The graph as Graphviz DOT: one node per IR value (arguments as ellipses, op results as boxes,
 * constants as small plaintext), edges from each operand to its user, each fused kernel as a
 * `cluster_kN` subgraph, colours by origin (forward, grad, update), and sink nodes for the
 * outputs, the loss and the updates. Values are named as in `printGraph` (args by name, results
 * `%0..` in order) and double as node ids, so the output is deterministic.
 */
export function graphToDot(g: Graph, opts: DotOptions = {}): string {
  const names = new Map<Value, string>();
  for (const a of g.args) names.set(a, `%${a.arg!.name}`);
  let counter = 0;
  for (const n of g.nodes) names.set(n.out, `%${counter++}`);
  const ref = (v: Value) => names.get(v) ?? `%?${v.id}`;
  const type = (v: Value) => (g.typed ? formatType(v.type) : "?");
  const loc = (n: Node) => (opts.debugInfo ? `\n${formatLocation(n.span)}` : "");

  const kernelOf = new Map<Node, Kernel>();
  for (const k of g.kernels ?? []) for (const n of k.nodes) kernelOf.set(n, k);

  const lines: string[] = [];
  lines.push(`digraph ${q(g.name)} {`);
  lines.push(
    `  graph ${attrList({ label: `graph @${g.name}`, labelloc: "t", fontname: FONT, fontsize: 16, rankdir: "TB", nodesep: 0.25, ranksep: 0.35, newrank: "true" })};`,
  );
  lines.push(`  node ${attrList({ fontname: FONT, fontsize: 11, penwidth: 1.2, margin: "0.12,0.04", height: 0.3 })};`);
  lines.push(`  edge ${attrList({ color: "#6b7280", arrowsize: 0.6 })};`);

  lines.push("");
  lines.push("  // arguments");
  for (const a of g.args) {
    const info = a.arg!;
    lines.push(
      `  ${q(ref(a))} ${attrList({ shape: "ellipse", style: "filled", fillcolor: ROLE_FILL[info.role], color: "#6b7280", label: `${ref(a)}\n${info.role} ${type(a)}` })};`,
    );
  }

  const nodeLine = (n: Node, indent: string): string => {
    const name = ref(n.out);
    const instr = `${name} = ${n.op}${n.inputs.length ? " " + n.inputs.map(ref).join(", ") : ""}${formatAttrs(n.attrs)} : ${type(n.out)}`;
    const tooltip = opts.debugInfo ? `${instr}\n${formatLocation(n.span)}` : instr;
    if (n.inputs.length === 0)
      return `${indent}${q(name)} ${attrList({ shape: "plaintext", fontsize: 9, fontcolor: "#374151", height: 0.2, margin: "0.02,0.02", label: `${name} = ${n.op}${formatAttrs(n.attrs)}\n${type(n.out)}${loc(n)}`, tooltip })};`;
    const s = ORIGIN_STYLE[n.origin];
    return `${indent}${q(name)} ${attrList({ shape: "box", style: "rounded,filled", fillcolor: s.fill, color: s.border, label: `${name} = ${n.op}${formatAttrs(n.attrs)}\n${type(n.out)}${loc(n)}`, tooltip })};`;
  };

  lines.push("");
  lines.push("  // operations");
  const done = new Set<Kernel>();
  for (const n of g.nodes) {
    const k = kernelOf.get(n);
    if (!k) {
      lines.push(nodeLine(n, "  "));
      continue;
    }
    if (done.has(k)) continue;
    done.add(k);
    // A kernel is coloured by its result's origin, as printGraph labels it.
    const s = ORIGIN_STYLE[k.nodes.at(-1)!.origin];
    lines.push(`  subgraph ${q(`cluster_${k.name}`)} {`);
    lines.push(
      `    graph ${attrList({ label: `${k.name} ${k.kind}`, labeljust: "l", fontsize: 10, fontcolor: "#374151", style: "rounded,filled,dashed", fillcolor: s.cluster, color: s.clusterBorder, margin: 8 })};`,
    );
    for (const m of k.nodes) lines.push(nodeLine(m, "    "));
    lines.push("  }");
  }

  const sinks: { id: string; from: Value; label: string }[] = [
    ...g.outputs.map((o) => ({ id: `output ${o.name}`, from: o.value, label: `output "${o.name}"` })),
    ...(g.loss ? [{ id: "loss", from: g.loss, label: "loss" }] : []),
    // Gradients are results of their own only without an optimizer; otherwise updates consume them.
    ...(g.updates.length ? [] : g.grads.map((x) => ({ id: `grad ${ref(x.param)}`, from: x.grad, label: `grad ${ref(x.param)}` }))),
    ...g.updates.map((u) => ({ id: `update ${ref(u.param)}`, from: u.value, label: `update ${ref(u.param)}` })),
  ];
  if (sinks.length) {
    lines.push("");
    lines.push("  // results");
    for (const s of sinks)
      lines.push(`  ${q(s.id)} ${attrList({ shape: "invhouse", style: "filled,bold", fillcolor: "#ffffff", color: "#111827", fontsize: 11, label: s.label })};`);
  }

  lines.push("");
  lines.push("  // operand -> user");
  for (const n of g.nodes) for (const x of n.inputs) lines.push(`  ${q(ref(x))} -> ${q(ref(n.out))};`);
  for (const s of sinks) lines.push(`  ${q(ref(s.from))} -> ${q(s.id)} ${attrList({ color: "#111827", style: "bold" })};`);
  lines.push("}");
  return lines.join("\n") + "\n";
}
