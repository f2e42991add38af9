import { formatLocation, type Span } from "../base/source.js";
import type { Graph, Node, Value } from "../ir/graph.js";
import { formatShape, numel, type Dim, type DType } from "../ir/types.js";
import type { InputTransform } from "../runtime/data-source.js";
import { ELEM, OnnxGraph, type Elem, type OnnxAttrs } from "./export-graph.js";
import { EXPORT_RULES, unsupportedReason, type RuleCtx } from "./export-ops.js";
import { encodeModel, type ModelProto, type ValueInfoProto } from "./proto.js";

/**
 * The ONNX exporter: a typed inference graph (compiled with mode "infer") and the values of its
 * params and state become one ONNX model (opset 17) that ONNX Runtime and other tools can serve.
 *
 * 1. Prune: keep the graph's outputs (not the `metric.*` ones, which read the labels) and the
 *    nodes and args they depend on; the loss and the labels drop out.
 * 2. Check: every kept node has a rule (export-ops.ts) its attributes fit, and every symbolic dim
 *    (the batch `B`) is the dim of some input, so it can be read at run time; else one
 *    OnnxExportError lists every problem with its source location.
 * 3. Declare: inputs keep their names and get their dtype (i32 as int32) with symbolic dims as
 *    dim_params; params and state become f32 initializers named as in the checkpoint.
 * 4. Emit: each node's rule adds ONNX nodes (with the node's source location as doc string).
 *    Every IR value may exist in several element types (FLOAT, and BOOL or INT64 where an ONNX op
 *    wants those); `input()` makes each Cast once.
 * 5. Outputs keep their names; an output produced directly by a node is written under its name,
 *    otherwise an Identity (or a Cast to its declared type) names it.
 */

/** The opset the exporter writes. */
export const OPSET = 17;
/** The ONNX IR version that goes with opset 17. */
const IR_VERSION = 8;

/** A graph that cannot be exported, with every reason; a user error, not a compiler bug. */
export class OnnxExportError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot export to ONNX: ${problems.join("; ")}`);
    this.name = "OnnxExportError";
  }
}

/** Options for {@link exportOnnx}. */
export interface ExportOptions {
  /** Values of the params and state (batchnorm statistics) the graph reads, by name. */
  values: Record<string, Float32Array>;
  /** Model metadata (ModelProto.metadata_props): the checkpoint it came from, the input transform ... */
  metadata?: Record<string, string>;
  /**
   * Put the input transform training used in front of the network (the single input): the model
   * then takes raw values, as `netc run` does (bytes 0..255, features in their own units).
   */
  inputTransform?: InputTransform;
  /** The model's doc string. */
  docString?: string;
  producerVersion?: string;
}

/** One declared input or output of an exported model. */
export interface ExportedTensor {
  name: string;
  /** The ONNX element type code. */
  elem: Elem;
  shape: Dim[];
}

/** An exported model: its bytes, the decoded form, and what it takes and gives. */
export interface ExportResult {
  bytes: Uint8Array;
  model: ModelProto;
  inputs: ExportedTensor[];
  outputs: ExportedTensor[];
}

/** The ONNX element type an IR dtype is declared as at the model's boundary. */
function declaredElem(dtype: DType): Elem {
  return dtype === "i32" ? ELEM.INT32 : dtype === "bool" ? ELEM.BOOL : dtype === "f16" ? ELEM.FLOAT16 : ELEM.FLOAT;
}

/**
 * The part of an inference graph that computes its outputs (without `metric.*`): a pruned copy,
 * with no loss, gradients, updates or kernels. What {@link exportOnnx} writes.
 */
export function exportedGraph(g: Graph): Graph {
  const out = g.clone();
  out.outputs = out.outputs.filter((o) => !o.name.startsWith("metric."));
  const live = new Set<Value>();
  const stack = out.outputs.map((o) => o.value);
  while (stack.length) {
    const v = stack.pop()!;
    if (live.has(v)) continue;
    live.add(v);
    if (v.producer) stack.push(...v.producer.inputs);
  }
  out.nodes = out.nodes.filter((n) => live.has(n.out));
  out.args = out.args.filter((a) => live.has(a));
  out.loss = undefined;
  out.grads = [];
  out.updates = [];
  out.kernels = undefined;
  return out;
}

/** `file:line:col (source text)` of a span, for messages. */
function where(span: Span): string {
  const { line } = span.file.position(span.start);
  const text = span.file.lineText(line).trim();
  return `${formatLocation(span)}${text ? ` (\`${text.length > 60 ? text.slice(0, 57) + "..." : text}\`)` : ""}`;
}

/** Exports a typed inference graph with its params' values as an ONNX model. */
export function exportOnnx(full: Graph, opts: ExportOptions): ExportResult {
  if (!full.typed) throw new Error("internal: exportOnnx needs a typed graph");
  const g = exportedGraph(full);
  check(g, opts);
  const og = new OnnxGraph();
  const names = new Map<Value, Map<Elem, string>>();
  const has = (v: Value, elem: Elem, name: string) => {
    let m = names.get(v);
    if (!m) names.set(v, (m = new Map()));
    if (!m.has(elem)) m.set(elem, name);
  };

  // Inputs and initializers keep their own names; outputs are claimed before any fresh name.
  const inputs: ExportedTensor[] = [];
  const transform = opts.inputTransform?.kind === "none" ? undefined : opts.inputTransform;
  const symbolAt = new Map<string, { input: string; axis: number }>();
  for (const a of g.args) og.reserve(a.arg!.name);
  for (const o of g.outputs) og.reserve(o.name);
  for (const a of g.args) {
    const name = a.arg!.name;
    if (a.arg!.role === "param" || a.arg!.role === "state") {
      const data = opts.values[name]!;
      has(a, ELEM.FLOAT, og.floatTensor(name, a.type.shape as number[], data));
      continue;
    }
    const elem = declaredElem(a.type.dtype);
    inputs.push({ name, elem, shape: a.type.shape });
    a.type.shape.forEach((d, axis) => typeof d === "string" && !symbolAt.has(d) && symbolAt.set(d, { input: name, axis }));
    // NOTE: a transformed input's value is the transform's result (the only input, checked).
    if (transform) has(a, ELEM.FLOAT, applyTransform(og, a, transform));
    else has(a, elem, name);
  }

  const dims = new Map<string, string>();
  const dimOf = (sym: string): string => {
    let name = dims.get(sym);
    if (!name) {
      const at = symbolAt.get(sym)!;
      name = og.node("Shape", [at.input], { start: at.axis, end: at.axis + 1 }, og.fresh(`dim_${sym}`));
      dims.set(sym, name);
    }
    return name;
  };
  const shapeTensor = (shape: readonly Dim[]): string => {
    if (shape.every((d) => typeof d === "number")) return og.ints(shape as number[]);
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of shape) {
      if (typeof d === "number") run.push(d);
      else {
        if (run.length) parts.push(og.ints(run));
        run = [];
        parts.push(dimOf(d));
      }
    }
    if (run.length) parts.push(og.ints(run));
    return parts.length === 1 ? parts[0]! : og.node("Concat", parts, { axis: 0 });
  };

  /** `v` as element type `elem`: the name it has, or a Cast made once. */
  const as = (v: Value, elem: Elem): string => {
    const m = names.get(v);
    if (!m) throw new Error(`internal: ONNX export reached %${v.id} before its definition`);
    const got = m.get(elem);
    if (got) return got;
    // NOTE: integers convert from an integer form when there is one (an int32 input's ids).
    const from = [...m.entries()].find(([e]) => elem === ELEM.INT64 && e === ELEM.INT32) ?? [...m.entries()][0]!;
    const name = og.node("Cast", [from[1]], { to: elem }, og.fresh(`v${v.id}_as${elem}`));
    m.set(elem, name);
    return name;
  };

  // The first output naming each value is written by that value's node when it can be.
  const outputOf = new Map<Value, { name: string; elem: Elem }>();
  for (const o of g.outputs) if (o.value.producer && !outputOf.has(o.value)) outputOf.set(o.value, { name: o.name, elem: declaredElem(o.value.type.dtype) });
  const written = new Set<string>();

  for (const n of g.nodes) {
    og.doc = formatLocation(n.span);
    const ctx: RuleCtx = {
      node: n,
      input: (i, elem = ELEM.FLOAT) => as(n.inputs[i]!, elem),
      emit: (op, ins, attrs) => og.node(op, ins, attrs),
      result: (op: string, ins: string[], attrs: OnnxAttrs = {}, elem: Elem = ELEM.FLOAT) => {
        const target = outputOf.get(n.out);
        const direct = target && target.elem === elem ? target.name : undefined;
        if (direct) written.add(direct);
        has(n.out, elem, og.node(op, ins, attrs, direct ?? og.fresh(`v${n.out.id}`)));
      },
      alias: (name, elem = ELEM.FLOAT) => has(n.out, elem, name),
      scalar: (v) => og.scalar(v),
      floats: (d, v) => og.floats(d, v),
      ints: (v, scalar) => og.ints(v, scalar),
      shape: shapeTensor,
    };
    (EXPORT_RULES[n.op as keyof typeof EXPORT_RULES] as (c: RuleCtx) => void)(ctx);
  }

  og.doc = "";
  const outputs: ExportedTensor[] = [];
  for (const o of g.outputs) {
    const elem = declaredElem(o.value.type.dtype);
    outputs.push({ name: o.name, elem, shape: o.value.type.shape });
    if (written.has(o.name)) continue;
    const m = names.get(o.value)!;
    if (m.has(elem)) og.node("Identity", [m.get(elem)!], {}, o.name);
    else og.node("Cast", [[...m.values()][0]!], { to: elem }, o.name);
  }

  const info = (t: ExportedTensor): ValueInfoProto => ({
    name: t.name,
    type: { tensorType: { elemType: t.elem, shape: { dim: t.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  });
  const model: ModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: "netc",
    ...(opts.producerVersion ? { producerVersion: opts.producerVersion } : {}),
    ...(opts.docString ? { docString: opts.docString } : {}),
    graph: {
      name: g.name,
      node: og.nodes,
      initializer: og.initializers,
      input: inputs.map(info),
      output: outputs.map(info),
    },
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return { bytes: encodeModel(model), model, inputs, outputs };
}

/** Step 2: every reason the pruned graph cannot be exported, thrown together. */
function check(g: Graph, opts: ExportOptions): void {
  const problems: string[] = [];
  if (!g.outputs.length) problems.push(`${g.name} has no outputs to export`);
  const argNames = new Set(g.args.map((a) => a.arg!.name));
  for (const o of g.outputs) if (argNames.has(o.name)) problems.push(`output ${o.name} has the name of an input or param, and ONNX names each tensor once`);
  const byOp = new Map<string, { reason: string; nodes: Node[] }>();
  for (const n of g.nodes) {
    const reason = unsupportedReason(n);
    if (!reason) continue;
    const key = `${n.op} (${reason})`;
    if (!byOp.has(key)) byOp.set(key, { reason, nodes: [] });
    byOp.get(key)!.nodes.push(n);
  }
  for (const [key, { nodes }] of byOp) {
    const more = nodes.length > 1 ? ` and ${nodes.length - 1} more` : "";
    problems.push(`unsupported op ${key} at ${where(nodes[0]!.span)}${more}`);
  }
  const bound = new Set(g.args.filter((a) => a.arg!.role !== "param" && a.arg!.role !== "state").flatMap((a) => a.type.shape.filter((d) => typeof d === "string")));
  for (const a of g.args) {
    const name = a.arg!.name;
    if (a.arg!.role !== "param" && a.arg!.role !== "state") continue;
    if (a.type.shape.some((d) => typeof d === "string")) problems.push(`${a.arg!.role} ${name} has a symbolic shape ${formatShape(a.type.shape)}`);
    else if (!opts.values[name]) problems.push(`no value for ${a.arg!.role} ${name}`);
    else if (opts.values[name]!.length !== numel(a.type.shape as number[]))
      problems.push(`${name} has ${opts.values[name]!.length} values, but its shape ${formatShape(a.type.shape)} holds ${numel(a.type.shape as number[])}`);
  }
  for (const n of g.nodes)
    for (const d of n.out.type.shape)
      if (typeof d === "string" && !bound.has(d)) {
        problems.push(`dim ${d} is not the size of any input (at ${where(n.span)})`);
        bound.add(d);
      }
  if (opts.inputTransform && opts.inputTransform.kind !== "none" && g.args.filter((a) => a.arg!.role === "input").length !== 1)
    problems.push("an input transform needs a network with exactly one input");
  if (problems.length) throw new OnnxExportError(problems);
}

/** The training input transform in front of `input`: the name of the transformed (FLOAT) values. */
function applyTransform(og: OnnxGraph, input: Value, t: Exclude<InputTransform, { kind: "none" }>): string {
  const name = input.arg!.name;
  og.doc = `input transform: ${t.kind}`;
  const x = input.type.dtype === "f32" ? name : og.node("Cast", [name], { to: ELEM.FLOAT });
  let out: string;
  if (t.kind === "unit") out = og.node("Div", [x, og.scalar(255)]);
  else {
    const row = input.type.shape.slice(1);
    if (!row.every((d) => typeof d === "number") || numel(row as number[]) !== t.mean.length)
      throw new OnnxExportError([`the input transform has ${t.mean.length} features, but ${name} has rows of ${formatShape(row)}`]);
    const dims = [1, ...(row as number[])];
    out = og.node("Div", [og.node("Sub", [x, og.floats(dims, t.mean)]), og.floats(dims, t.std)]);
  }
  og.doc = "";
  return out;
}
