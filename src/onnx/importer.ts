import { SourceFile, type Span } from "../base/source.js";
import { Graph, type Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import { AttrReader, decodeTensor, dimsOf, dtypeOfTerm, Emitter, irDType, invalid, NodeCtx, OnnxImportError, st, unsupported, type Handler, type Term } from "./node-context.js";
import { decodeModel, type ModelProto, type NodeProto, type ValueInfoProto } from "./proto.js";
import {
  castValue,
  dtypeOf,
  isFloat,
  isInteger,
  sizeOf,
  type HostTensor,
  type OnnxDType,
} from "./tensor.js";

/**
 * The ONNX importer: one single-graph ModelProto becomes a netc IR `Graph` of primitives.
 *
 * 1. Every ONNX value is a `Term`: `Static` (a host tensor known at import time: initializers,
 *    Constant nodes, integer graph inputs the caller fed, and everything computed only from those)
 *    or `Dynamic` (an IR value computed at run time).
 * 2. Nodes are visited in order and handed to the op's handler (src/onnx/ops/), which emits
 *    primitives through an `Emitter` (eagerly typed, so every handler sees concrete shapes).
 * 3. A node whose inputs are all static is folded: its handler runs against a scratch graph whose
 *    arguments hold the static data, and the CPU reference (f64) evaluates it. So shape
 *    arithmetic (Shape, Gather, Concat, Range, Cast, Reshape of int64 shapes ...) costs one
 *    handler per op, not two implementations.
 * 4. A static tensor a dynamic computation reads becomes a scalar `const` (one finite element)
 *    or a graph argument with role "param" whose data is returned in `constants`.
 * 5. Graph inputs are arguments with role "input"; float32 and bool inputs stay dynamic, integer
 *    inputs (shapes, axes, indices) are specialised on the fed value. A handler may also
 *    specialise on a fed float input it needs as a number (Dropout's ratio), and says so.
 * Unsupported constructs raise `OnnxImportError` with kind "unsupported" (a reason to skip), a
 * malformed model kind "invalid"; neither is a compiler bug.
 */


/** Options for {@link importModel}. */
export interface ImportOptions {
  /** Values of graph inputs by name: integer ones become import-time constants. */
  feeds?: Map<string, HostTensor>;
  /** The file the model came from, for messages. */
  file?: string;
  /** Keep one-element initializers of rank 1 or more (a bias [1]) as arguments (params), not constants; scalars stay constants. */
  keepInitializers?: boolean;
  /** Sizes for symbolic input dims (dim_params) by name, without fed values (`netc import` binds the batch). */
  dims?: Record<string, number>;
  /** Registered primitives to import as if absent (conv, pool, gather): tests of the lowerings without them. */
  withoutOps?: ReadonlySet<string>;
}

/** A graph input the caller supplies at run time. */
export interface ImportedInput {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  arg: Value;
}

/** A graph output: its IR value and its ONNX type. */
export interface ImportedOutput {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  value: Value;
}

/** The result of importing a model. */
export interface ImportedModel {
  /** Typed, lowered graph (run `runPipeline` on it for the fused form). */
  graph: Graph;
  opset: number;
  inputs: ImportedInput[];
  outputs: ImportedOutput[];
  /** Data of the "param" arguments made for static tensors, by argument name. */
  constants: Record<string, Float32Array>;
  /** Graph inputs whose fed values were folded into the graph. */
  specialised: string[];
  /** The ONNX op types of the graph's nodes, in order of first use. */
  ops: string[];
  /** The initializer each constant argument holds unchanged, by argument name. */
  initializerOf: Record<string, string>;
  /** The initializers' decoded tensors (the ones handlers see as static terms) and their names. */
  initializerNames: Map<HostTensor, string>;
}

/** The ONNX opset version of the default domain. */
export function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  return Number(entry?.version ?? 1);
}

/** Reads a model.onnx file's bytes; a decode failure names the file. */
export function parseModelBytes(bytes: Uint8Array, file: string): ModelProto {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    return invalid(`${file}: not a valid ONNX model (${(e as Error).message})`);
  }
  if (!model.graph) invalid(`${file}: the model has no graph`);
  return model;
}

/** Imports a single-graph ONNX model into a netc IR graph. */
export function importModel(model: ModelProto, handlers: Record<string, Handler>, opts: ImportOptions = {}): ImportedModel {
  const file = opts.file ?? "<model>";
  const g = model.graph;
  if (!g) invalid(`${file}: the model has no graph`);
  const opset = defaultOpset(model);
  const span: Span = { file: new SourceFile(file, ""), start: 0, end: 0 };
  const graph = new Graph(g.name || "onnx");
  graph.typed = true;
  const initNames = new Map<HostTensor, string>();
  const e = new Emitter(graph, span, false, opts.keepInitializers ? (t) => initNames.has(t) && t.dims.length > 0 : undefined, opts.withoutOps);
  const env = new Map<string, Term>();
  const specialised = new Set<string>();
  const feeds = opts.feeds ?? new Map<string, HostTensor>();

  for (const init of g.initializer ?? []) {
    const t = decodeTensor(init, `${file}: initializer ${init.name}`);
    initNames.set(t, init.name ?? "");
    env.set(init.name ?? "", st(t));
  }

  const inputs: ImportedInput[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? "";
    if (env.has(name)) continue; // an initializer with a default, not overridden
    const { dtype, dims } = valueInfoType(vi, feeds.get(name), file, opts.dims);
    const feed = feeds.get(name);
    if (feed && (isInteger(dtype) || !(isFloat(dtype) || dtype === "bool"))) {
      env.set(name, st(feed));
      specialised.add(name);
      continue;
    }
    const arg = graph.addArg({ role: "input", name }, { dtype: irDType(dtype), shape: [...dims] }, span);
    inputs.push({ name, dtype, dims, arg });
    env.set(name, { kind: "dynamic", dtype, value: arg, input: { name, feed } });
  }

  const ops: string[] = [];
  for (const [index, node] of (g.node ?? []).entries()) {
    const op = node.opType ?? "";
    if (!ops.includes(op)) ops.push(op);
    const where = `node ${index} (${op}${node.name ? ` ${node.name}` : ""})`;
    if (node.domain && node.domain !== "ai.onnx") unsupported(`${where}: domain ${node.domain} is not supported`);
    const handler = handlers[op];
    if (!handler) unsupported(`op ${op} is not supported`);
    const ins = (node.input ?? []).map((name) => {
      if (!name) return undefined;
      const t = env.get(name);
      if (!t) invalid(`${where}: input ${name} is not defined before it is used`);
      return t;
    });
    let outs: (Term | undefined)[];
    try {
      outs = runNode(node, opset, ins, handler, e, specialised, where);
    } catch (err) {
      if (err instanceof OnnxImportError) throw err;
      // NOTE: a primitive built with types its shape rule rejects: a malformed model or an
      // importer bug. Either way the test must fail (not skip), with the node named.
      return invalid(`${where}: ${(err as Error).message.replace(/^internal: /, "")}`);
    }
    (node.output ?? []).forEach((name, k) => {
      if (!name) return;
      const t = outs[k];
      if (!t) unsupported(`${where}: output ${k} (${name}) is not supported`);
      env.set(name, t);
    });
  }

  const outputs: ImportedOutput[] = (g.output ?? []).map((vi) => {
    const name = vi.name ?? "";
    const t = env.get(name);
    if (!t) invalid(`${file}: graph output ${name} is never computed`);
    const value = e.value(t);
    return { name, dtype: dtypeOfTerm(t), dims: dimsOf(t), value };
  });
  graph.outputs = outputs.map((o) => ({ name: o.name, value: o.value }));

  const constants: Record<string, Float32Array> = {};
  const initializerOf: Record<string, string> = {};
  for (const [arg, t] of e.constants) {
    constants[arg.arg!.name] = Float32Array.from(t.data);
    const init = initNames.get(t);
    if (init !== undefined) initializerOf[arg.arg!.name] = init;
  }
  return { graph, opset, inputs, outputs, constants, specialised: [...specialised], ops, initializerOf, initializerNames: initNames };
}

/** The dtype and concrete dims of a graph input (symbolic dims are taken from the fed value). */
function valueInfoType(vi: ValueInfoProto, feed: HostTensor | undefined, file: string, symbols: Record<string, number> = {}): { dtype: OnnxDType; dims: number[] } {
  const tt = vi.type?.tensorType;
  if (!tt) unsupported(`${file}: input ${vi.name} is not a tensor`);
  const dtype = dtypeOf(tt.elemType);
  if (dtype.startsWith("dtype ")) unsupported(`${file}: input ${vi.name} has unknown ${dtype}`);
  const declared = tt.shape?.dim;
  let dims: number[];
  const bound = (d: { dimValue?: unknown; dimParam?: string }) => d.dimValue !== undefined || (d.dimParam !== undefined && Object.hasOwn(symbols, d.dimParam));
  if (declared && !feed && declared.every(bound)) dims = declared.map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : symbols[d.dimParam!]!));
  else if (declared && declared.every((d) => d.dimValue !== undefined)) dims = declared.map((d) => Number(d.dimValue));
  else if (feed) dims = feed.dims;
  else if (!tt.shape) return unsupported(`${file}: input ${vi.name} has no shape and no value to take it from`);
  else return unsupported(`${file}: input ${vi.name} has symbolic dims; bind them with a fed value`);
  if (feed && (feed.dims.length !== dims.length || feed.dims.some((d, i) => d !== dims[i])))
    invalid(`${file}: input ${vi.name} is declared [${dims.join(", ")}] but fed [${feed.dims.join(", ")}]`);
  return { dtype: dtype as OnnxDType, dims };
}

/** Runs one handler, folding it on the host when every input is static. */
function runNode(
  node: NodeProto,
  opset: number,
  ins: (Term | undefined)[],
  handler: Handler,
  e: Emitter,
  specialised: Set<string>,
  where: string,
): (Term | undefined)[] {
  const attr = new AttrReader(node.attribute ?? [], where);
  const present = ins.filter((x): x is Term => x !== undefined);
  const foldable = present.length > 0 && present.every((x) => x.kind === "static");
  if (!foldable) return handler(new NodeCtx(node, opset, ins, attr, e, specialised));

  const scratch = new Graph("fold");
  scratch.typed = true;
  const fe = new Emitter(scratch, e.b.span, true, undefined, e.withoutOps);
  const outs = handler(new NodeCtx(node, opset, ins, attr, fe, specialised));
  if (outs.every((o) => o === undefined || o.kind === "static")) return outs;
  const args = new Map<Value, Tensor>();
  for (const [arg, t] of fe.constants) args.set(arg, { shape: t.dims, data: t.data });
  const values = interpret(scratch, args, { dims: {}, precision: "f64" });
  return outs.map((o) => {
    if (!o || o.kind === "static") return o;
    const r = values.get(o.value) ?? args.get(o.value);
    if (!r) throw new Error(`internal: folded ${where} has no value`);
    const dims = o.value.type.shape as number[];
    const data = new Float64Array(sizeOf(dims));
    for (let i = 0; i < data.length; i++) data[i] = castValue(r.data[i]!, o.dtype);
    return st({ dtype: o.dtype, dims: [...dims], data });
  });
}
