import { formatLocation } from "../base/source.js";
import type { ArgRole, Graph, Kernel, Node, Origin, Value } from "./graph.js";
import { formatAttrs, formatOptions, valueNames } from "./print.js";
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

// NOTE: Graphviz sizes boxes from its own font metrics, not the viewer's fonts. Courier's are
// exact for any monospace font (every glyph 0.6em wide), so IR text fits its box everywhere;
// proportional fonts are estimated and a wider fallback (DejaVu Sans for Helvetica) overflows.
const FONT = "Helvetica";
const CODE_FONT = "Courier";

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

/**
 * The graph as Graphviz DOT: one node per IR value (arguments as ellipses, op results as boxes,
 * constants as small plaintext), edges from each operand to its user, each fused kernel as a
 * `cluster_kN` subgraph, colours by origin (forward, grad, update), and sink nodes for the
 * outputs, the loss and the updates. Values are named as in `printGraph` (args by name, results
 * `%0..` in order), and node ids are those names without the `%`, so the output is deterministic.
 */
export function graphToDot(g: Graph, opts: DotOptions = {}): string {
  const ref = valueNames(g);
  // NOTE: Graphviz takes a node name that starts with `%` for one of its own anonymous ids and
  // renumbers it (the SVG titles came out as other values' numbers), so ids drop the `%`:
  // args by name, results by number. Sinks get a `sink:` prefix, which no value name has.
  const id = (v: Value) => q(ref(v).slice(1));
  const type = (v: Value) => (g.typed ? formatType(v.type) : "?");
  // Before infer-shapes every type is `?`: labels leave it out rather than show a line of `?`.
  const typeLine = (v: Value) => (g.typed ? `\n${formatType(v.type)}` : "");
  const loc = (n: Node) => (opts.debugInfo ? `\n${formatLocation(n.span)}` : "");

  const kernelOf = new Map<Node, Kernel>();
  for (const k of g.kernels ?? []) for (const n of k.nodes) kernelOf.set(n, k);

  const lines: string[] = [];
  lines.push(`digraph ${q(g.name)} {`);
  lines.push(
    `  graph ${attrList({ label: `graph @${g.name}`, labelloc: "t", fontname: FONT, fontsize: 16, rankdir: "TB", nodesep: 0.25, ranksep: 0.35, newrank: "true" })};`,
  );
  lines.push(`  node ${attrList({ fontname: CODE_FONT, fontsize: 11, penwidth: 1.2, margin: "0.12,0.04", height: 0.3 })};`);
  lines.push(`  edge ${attrList({ color: "#6b7280", arrowsize: 0.6 })};`);

  lines.push("");
  lines.push("  // arguments");
  for (const a of g.args) {
    const info = a.arg!;
    const label = `${ref(a)}\n${info.role}${g.typed ? " " + type(a) : ""}`;
    const tooltip = `${info.role} ${ref(a)}: ${type(a)}${info.init ? ` = ${info.init.kind}${formatOptions(info.init.options)}` : ""}`;
    lines.push(`  ${id(a)} ${attrList({ shape: "ellipse", style: "filled", fillcolor: ROLE_FILL[info.role], color: "#6b7280", label, tooltip })};`);
  }

  const nodeLine = (n: Node, indent: string): string => {
    const name = ref(n.out);
    const instr = `${name} = ${n.op}${n.inputs.length ? " " + n.inputs.map(ref).join(", ") : ""}${formatAttrs(n.attrs)} : ${type(n.out)}`;
    const tooltip = opts.debugInfo ? `${instr}\n${formatLocation(n.span)}` : instr;
    const label = `${name} = ${n.op}${formatAttrs(n.attrs)}${typeLine(n.out)}${loc(n)}`;
    if (n.inputs.length === 0)
      return `${indent}${id(n.out)} ${attrList({ shape: "plaintext", fontsize: 9, fontcolor: "#374151", height: 0.2, margin: "0.02,0.02", label, tooltip })};`;
    const s = ORIGIN_STYLE[n.origin];
    return `${indent}${id(n.out)} ${attrList({ shape: "box", style: "rounded,filled", fillcolor: s.fill, color: s.border, label, tooltip })};`;
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
      `    graph ${attrList({ label: `${k.name} ${k.kind}`, labeljust: "l", fontname: CODE_FONT, fontsize: 10, fontcolor: "#374151", style: "rounded,filled,dashed", fillcolor: s.cluster, color: s.clusterBorder, margin: 8 })};`,
    );
    for (const m of k.nodes) lines.push(nodeLine(m, "    "));
    lines.push("  }");
  }

  const sinks: { id: string; from: Value; label: string }[] = [
    ...g.outputs.map((o) => ({ id: `sink: output ${o.name}`, from: o.value, label: `output "${o.name}"` })),
    ...(g.loss ? [{ id: "sink: loss", from: g.loss, label: "loss" }] : []),
    // Gradients are results of their own only without an optimizer; otherwise updates consume them.
    ...(g.updates.length ? [] : g.grads.map((x) => ({ id: `sink: grad ${ref(x.param)}`, from: x.grad, label: `grad ${ref(x.param)}` }))),
    ...g.updates.map((u) => ({ id: `sink: update ${ref(u.param)}`, from: u.value, label: `update ${ref(u.param)}` })),
  ];
  if (sinks.length) {
    lines.push("");
    lines.push("  // results");
    for (const s of sinks)
      lines.push(`  ${q(s.id)} ${attrList({ shape: "invhouse", style: "filled,bold", fillcolor: "#ffffff", color: "#111827", fontsize: 11, label: s.label })};`);
  }

  lines.push("");
  lines.push("  // operand -> user");
  for (const n of g.nodes) for (const x of n.inputs) lines.push(`  ${id(x)} -> ${id(n.out)};`);
  for (const s of sinks) lines.push(`  ${id(s.from)} -> ${q(s.id)} ${attrList({ color: "#111827", style: "bold" })};`);
  lines.push("}");
  return lines.join("\n") + "\n";
}
