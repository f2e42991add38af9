import { SourceFile, type Span } from "../base/source.js";
import { Graph, type Attrs, type Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import { Builder, OPS } from "../ir/ops.js";
import type { DType } from "../ir/types.js";
import { decodeModel, type AttributeProto, type ModelProto, type NodeProto, type ValueInfoProto } from "./proto.js";
import {
  castValue,
  dtypeOf,
  isFloat,
  isInteger,
  sizeOf,
  tensorFromProto,
  TensorDecodeError,
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

/**
 * Why a model could not be imported: it uses something not supported, it is malformed, or its
 * results depend on a random generator netc cannot reproduce (training-mode Dropout).
 */
export class OnnxImportError extends Error {
  constructor(
    message: string,
    readonly kind: "unsupported" | "invalid" | "random",
  ) {
    super(message);
  }
}

/** Throws an "unsupported" import error. */
export function unsupported(message: string): never {
  throw new OnnxImportError(message, "unsupported");
}

/** Throws an "invalid" import error. */
export function invalid(message: string): never {
  throw new OnnxImportError(message, "invalid");
}

/** A value known at import time. */
export interface Static {
  kind: "static";
  t: HostTensor;
}

/** A value computed at run time by the IR graph. */
export interface Dynamic {
  kind: "dynamic";
  dtype: OnnxDType;
  value: Value;
  /** For graph inputs: the name and the fed value a handler may specialise on. */
  input?: { name: string; feed?: HostTensor };
}

/** An ONNX value during import. */
export type Term = Static | Dynamic;

/** A static term. */
export function st(t: HostTensor): Static {
  return { kind: "static", t };
}

/** A dynamic term of `dtype` for an IR value. */
export function dyn(value: Value, dtype: OnnxDType): Dynamic {
  return { kind: "dynamic", dtype, value };
}

/** The concrete dims of a term. */
export function dimsOf(x: Term): number[] {
  return x.kind === "static" ? x.t.dims : (x.value.type.shape as number[]);
}

/** The ONNX dtype of a term. */
export function dtypeOfTerm(x: Term): OnnxDType {
  return x.kind === "static" ? x.t.dtype : x.dtype;
}

/** The IR dtype that holds an ONNX dtype (every buffer is f32 at run time; bools are 0/1). */
export function irDType(d: OnnxDType): DType {
  if (d === "bool") return "bool";
  if (isInteger(d)) return "i32";
  return "f32";
}

/** Emits primitives into a graph, eagerly typed; turns static terms into IR values on demand. */
export class Emitter {
  readonly b: Builder;
  /** Data of the arguments made for static tensors, by argument. */
  readonly constants = new Map<Value, HostTensor>();
  private made = new Map<HostTensor, Value>();
  private count = 0;

  constructor(
    readonly graph: Graph,
    span: Span,
    /** In a fold, every static becomes an argument (the interpreter reads them all). */
    readonly folding = false,
    /** Statics that stay arguments even with one element (`netc import` keeps initializers as params). */
    private readonly keep?: (t: HostTensor) => boolean,
  ) {
    this.b = new Builder(graph, span, "forward");
  }

  /** Appends a primitive `op(inputs){attrs}`; its type is inferred now. */
  op(name: string, inputs: Value[], attrs: Attrs = {}): Value {
    return this.b.op(name, inputs, attrs);
  }

  /** A scalar f32 constant. */
  scalar(v: number): Value {
    return this.b.const(v);
  }

  /** Whether the registry has an op (conv, pool, gather ... arrive over time). */
  has(op: string): boolean {
    return op in OPS;
  }

  /** The IR value of a term: dynamic as is; static as a constant or an argument holding its data. */
  value(x: Term): Value {
    if (x.kind === "dynamic") return x.value;
    const t = x.t;
    const known = this.made.get(t);
    if (known) return known;
    let v: Value;
    if (!this.folding && t.data.length === 1 && Number.isFinite(t.data[0]!) && !this.keep?.(t)) {
      v = this.scalar(t.data[0]!);
      if (t.dims.length) v = this.op("reshape", [v], { shape: [...t.dims] });
    } else {
      let name = `const${this.count++}`;
      while (this.graph.argNamed(name)) name = `const${this.count++}`;
      v = this.graph.addArg({ role: "param", name }, { dtype: irDType(t.dtype), shape: [...t.dims] }, this.b.span);
      this.constants.set(v, t);
    }
    this.made.set(t, v);
    return v;
  }
}

/** Reads a node's attributes by name, with defaults, checking their types. */
export class AttrReader {
  private byName = new Map<string, AttributeProto>();

  constructor(
    attrs: AttributeProto[],
    private readonly where: string,
  ) {
    for (const a of attrs) {
      if (a.refAttrName) unsupported(`${where}: attribute ${a.name} refers to a function attribute`);
      this.byName.set(a.name ?? "", a);
    }
  }

  /** Whether the attribute is present. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  private get(name: string, type: string): AttributeProto | undefined {
    const a = this.byName.get(name);
    if (a && a.type !== undefined && a.type !== type) invalid(`${this.where}: attribute ${name} is ${a.type}, expected ${type}`);
    return a;
  }

  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  /** An INT attribute. */
  int(name: string, dflt?: number): number | undefined {
    const a = this.get(name, "INT");
    return a ? Number(a.i ?? 0) : dflt;
  }

  float(name: string, dflt: number): number;
  float(name: string): number | undefined;
  /** A FLOAT attribute. */
  float(name: string, dflt?: number): number | undefined {
    const a = this.get(name, "FLOAT");
    return a ? (a.f ?? 0) : dflt;
  }

  /** An INTS attribute. */
  ints(name: string): number[] | undefined {
    const a = this.get(name, "INTS");
    return a ? (a.ints ?? []).map(Number) : undefined;
  }

  /** A FLOATS attribute. */
  floats(name: string): number[] | undefined {
    const a = this.get(name, "FLOATS");
    return a ? [...(a.floats ?? [])] : undefined;
  }

  string(name: string, dflt: string): string;
  string(name: string): string | undefined;
  /** A STRING attribute (UTF-8). */
  string(name: string, dflt?: string): string | undefined {
    const a = this.get(name, "STRING");
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : dflt;
  }

  /** A STRINGS attribute. */
  strings(name: string): string[] | undefined {
    const a = this.get(name, "STRINGS");
    return a ? (a.strings ?? []).map((s) => new TextDecoder().decode(s)) : undefined;
  }

  /** A TENSOR attribute, decoded. */
  tensor(name: string): HostTensor | undefined {
    const a = this.get(name, "TENSOR");
    return a?.t ? decodeTensor(a.t as Parameters<typeof tensorFromProto>[0], `${this.where}: attribute ${name}`) : undefined;
  }

  /** Names of all attributes present. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}

function decodeTensor(t: Parameters<typeof tensorFromProto>[0], where: string): HostTensor {
  try {
    return tensorFromProto(t);
  } catch (e) {
    if (e instanceof TensorDecodeError) unsupported(`${where}: ${e.message}`);
    throw e;
  }
}

/** What a handler gets: the node, its inputs as terms, attributes, and where to emit. */
export class NodeCtx {
  constructor(
    readonly node: NodeProto,
    readonly opset: number,
    readonly inputs: (Term | undefined)[],
    readonly attr: AttrReader,
    readonly e: Emitter,
    private readonly specialised: Set<string>,
  ) {}

  /** The op type. */
  get op(): string {
    return this.node.opType ?? "";
  }

  /** `Op node-name` for messages. */
  get where(): string {
    return `${this.op}${this.node.name ? ` ${this.node.name}` : ""}`;
  }

  /** Input `i`, which the op requires. */
  input(i: number): Term {
    const x = this.inputs[i];
    if (!x) invalid(`${this.where}: input ${i} is missing`);
    return x;
  }

  /** Input `i` when given (optional inputs are absent or named ""). */
  optional(i: number): Term | undefined {
    return this.inputs[i];
  }

  /** Whether output `i` is requested (present with a non-empty name). */
  wants(i: number): boolean {
    return !!this.node.output?.[i];
  }

  /** Number of outputs listed. */
  get outputCount(): number {
    return this.node.output?.length ?? 0;
  }

  /**
   * The value of a term that must be known at import time (a shape, axes, a ratio). A graph
   * input that was fed is specialised on its value (and recorded); anything else computed at
   * run time is unsupported.
   */
  static(x: Term, what: string): HostTensor {
    if (x.kind === "static") return x.t;
    if (x.input?.feed) {
      this.specialised.add(x.input.name);
      return x.input.feed;
    }
    return unsupported(`${this.where}: ${what} must be known at import time`);
  }

  /** A static term's values as integers. */
  ints(x: Term, what: string): number[] {
    return Array.from(this.static(x, what).data, (v) => Math.trunc(v));
  }

  /** The IR value of a term. */
  value(x: Term): Value {
    return this.e.value(x);
  }

  /** Appends a primitive. */
  emit(op: string, inputs: Value[], attrs: Attrs = {}): Value {
    return this.e.op(op, inputs, attrs);
  }

  /** A scalar f32 constant. */
  scalar(v: number): Value {
    return this.e.scalar(v);
  }

  /**
   * A primitive that may be missing or reject these operands (conv, pool, gather arrive over
   * time): undefined then, and the handler builds the result another way.
   */
  tryEmit(op: string, inputs: Value[], attrs: Attrs = {}): Value | undefined {
    if (!this.e.has(op)) return undefined;
    try {
      return this.e.op(op, inputs, attrs);
    } catch {
      return undefined;
    }
  }
}

/** An op's lowering: terms for its outputs, in order (undefined for outputs it does not produce). */
export type Handler = (n: NodeCtx) => (Term | undefined)[];

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
  const e = new Emitter(graph, span, false, opts.keepInitializers ? (t) => initNames.has(t) && t.dims.length > 0 : undefined);
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
  const fe = new Emitter(scratch, e.b.span, true);
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
