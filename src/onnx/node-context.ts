import type { Span } from "../base/source.js";
import { Graph, type Attrs, type Value } from "../ir/graph.js";
import { Builder } from "../ir/ops/builder.js";
import { isOpName } from "../ir/ops/registry.js";
import type { DType } from "../ir/types.js";
import type { AttributeProto, NodeProto } from "./proto.js";
import {
  isInteger,
  tensorFromProto,
  TensorDecodeError,
  type HostTensor,
  type OnnxDType,
} from "./tensor.js";

// What an ONNX op handler (src/onnx/ops/) works with: terms (static host tensors or IR values),
// the Emitter that adds typed primitives, a node's attributes and inputs (NodeCtx), and the
// errors an import can end with. src/onnx/importer.ts walks the model and calls the handlers.

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
    /** Registered primitives to treat as absent, so handlers take their other lowering (tests). */
    readonly withoutOps: ReadonlySet<string> = new Set(),
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

  /** Whether the registry has an op (conv, pool, gather ... arrive over time) and it is not left out. */
  has(op: string): boolean {
    return isOpName(op) && !this.withoutOps.has(op);
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

export function decodeTensor(t: Parameters<typeof tensorFromProto>[0], where: string): HostTensor {
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
