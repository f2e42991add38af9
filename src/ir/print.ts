import { formatLocation } from "../base/source.js";
import type { Attrs, AttrValue, Graph, Node, Value } from "./graph.js";
import { formatType } from "./types.js";

/** Options for the IR text form. */
export interface PrintOptions {
  /** Append `loc("file":line:col)` to every node. */
  debugInfo?: boolean;
}

/** An attribute value as IR text: lists as `[a,b]`. */
function formatAttr(v: AttrValue): string {
  if (Array.isArray(v)) return `[${v.join(",")}]`;
  return String(v);
}

/** ` {key=value, ...}` in key order, or "" for none. */
export function formatAttrs(attrs: Attrs): string {
  const keys = Object.keys(attrs).sort();
  return keys.length ? ` {${keys.map((k) => `${k}=${formatAttr(attrs[k]!)}`).join(", ")}}` : "";
}

/**
 * How dumps name values: args by name (`%x`), results by a number in order of appearance (`%3`).
 */
export function valueNames(g: Graph): (v: Value) => string {
  const names = new Map<Value, string>();
  for (const a of g.args) names.set(a, `%${a.arg!.name}`);
  let counter = 0;
  for (const n of g.nodes) names.set(n.out, `%${counter++}`);
  return (v) => names.get(v) ?? `%?${v.id}`;
}

/**
 * The IR as text: `%3 = matmul %x, %w1 : f32[B,3]`. Args print by name, results by a number
 * assigned in order of appearance, so dumps are deterministic and diff well.
 */
export function printGraph(g: Graph, opts: PrintOptions = {}): string {
  const ref = valueNames(g);
  const loc = (n: { span: Node["span"] }) => (opts.debugInfo ? `  loc("${formatLocation(n.span).replace(/:(\d+):(\d+)$/, '":$1:$2')})` : "");

  const lines: string[] = [];
  const sig = g.args.map((a) => {
    const info = a.arg!;
    const init = info.init ? ` = ${info.init.kind}${formatOptions(info.init.options)}` : "";
    return `${info.role} ${ref(a)}: ${g.typed ? formatType(a.type) : "?"}${init}`;
  });
  lines.push(`graph @${g.name}(`);
  for (const s of sig) lines.push(`    ${s},`);
  lines.push(`) {`);

  const kernelOf = new Map<Node, { name: string; kind: string; last: Node }>();
  for (const k of g.kernels ?? []) for (const n of k.nodes) kernelOf.set(n, { name: k.name, kind: k.kind, last: k.nodes.at(-1)! });

  let origin = "forward";
  let open: string | undefined;
  for (const n of g.nodes) {
    const k = kernelOf.get(n);
    // A kernel is labelled by its result's origin (an update fused into a gradient matmul is an update).
    const o = k ? k.last.origin : n.origin;
    if (o !== origin && (!k || open !== k.name)) {
      lines.push(`  // ${o}`);
      origin = o;
    }
    if (k && open !== k.name) {
      lines.push(`  kernel @${k.name} ${k.kind} {`);
      open = k.name;
    }
    const indent = k ? "    " : "  ";
    const args = n.inputs.map(ref).join(", ");
    const type = g.typed ? formatType(n.out.type) : "?";
    lines.push(`${indent}${ref(n.out)} = ${n.op}${args ? " " + args : ""}${formatAttrs(n.attrs)} : ${type}${loc(n)}`);
    if (k && k.last === n) {
      lines.push(`  }`);
      open = undefined;
    }
  }
  for (const o of g.outputs) lines.push(`  output "${o.name}" = ${ref(o.value)}`);
  if (g.loss) lines.push(`  loss = ${ref(g.loss)}`);
  for (const x of g.grads) lines.push(`  grad ${ref(x.param)} = ${ref(x.grad)}`);
  for (const u of g.updates) lines.push(`  update ${ref(u.param)} := ${ref(u.value)}`);
  lines.push(`}`);
  return lines.join("\n") + "\n";
}

/** An initialiser's options as `(key=value, ...)`, or "" for none. */
export function formatOptions(options: Record<string, number>): string {
  const keys = Object.keys(options).sort();
  return keys.length ? `(${keys.map((k) => `${k}=${options[k]}`).join(", ")})` : "";
}
