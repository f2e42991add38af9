import type { DiagnosticCode } from "../base/diagnostics.js";
import type { Span } from "../base/source.js";
import type { Attrs, Init, Value } from "../ir/graph.js";
import type { DType, Dim } from "../ir/types.js";

// What a function of the `.net` language is, apart from any table of them: the function tables
// (functions.ts, conv-layers.ts, mode-layers.ts, recurrent.ts) all import this, and none another.

/** Emits one primitive node during lowering (types come later, from infer-shapes). */
export type Emit = (op: string, inputs: Value[], attrs?: Attrs) => Value;

/** A static keyword-argument value, checked against the function's signature. */
export type KwValue = number | boolean | number[] | string | Dim[];

/**
 * A keyword argument's kind; "function" is the name of a one-argument function (`relu`),
 * "padding" is `same`, `valid`, an integer or a list of integers; `size` is a count of units, filters, heads...: a whole number from 1
 * to 2^31 - 1; `shape` is a list of dims, each a whole number or a symbolic dim's name (`[B, 16]`).
 */
export type KwKind = "int" | "size" | "ints" | "bool" | "number" | "function" | "padding" | "shape";

/** What a layer may do besides emitting nodes: declare the params of its instance. */
export interface LayerCtx {
  /** The instance name (`dense1`), given as `dense1: dense(...)` or numbered by the frontend. */
  instance: string;
  /** Declares the param `instance.name`; a symbolic dim (`dense1.in`) is fixed by infer-shapes. */
  param(name: string, shape: Dim[], init: Init): Value;
  /** Applies a function from the table by name (for `activation = relu`). */
  apply(fn: string, x: Value): Value | undefined;
  /** The shape of a value as far as it is known now (a layer that unrolls needs its length). */
  shape(v: Value): Dim[] | undefined;
  /** The dtype of a value as far as it is known now. */
  dtype(v: Value): DType | undefined;
  /** Reports a user error at the layer call. */
  error(code: DiagnosticCode, args: Record<string, string | number>): void;
  /** True when lowering a training step; false for inference (dropout off, batchnorm on running statistics). */
  training: boolean;
  /** Declares `instance.name`, state that is not trained but kept across steps and in checkpoints. */
  state(name: string, shape: Dim[], init: Init): Value;
  /** Writes `value` into `state` at the end of each training step. */
  update(state: Value, value: Value): void;
  /** The random seed of the current step (a per-step scalar), for dropout masks. */
  seed(): Value;
  /** A symbolic dim written in the source, as the graph names it (`r1.B` inside block instance `r1`). */
  symbol(name: string): string;
}

/** A function users can call in a `.net` expression: primitives by their user names and composites. */
export interface FunctionDef {
  /** Positional tensor parameter names. */
  params: string[];
  /** Required static arguments (`units` of dense), positional after the tensors or by keyword. */
  statics?: { name: string; kind: KwKind }[];
  /** Accepted keyword arguments and their kinds. */
  kwargs: Record<string, KwKind>;
  /** Layers have params: each call is an instance with its own, named `instance.param`. */
  layer?: boolean;
  /** Takes one or more tensors positionally (`concat(a, b, c)`); `params` names the first. */
  variadic?: boolean;
  /** Emits the primitives; undefined when it reported a user error through `layer.error`. */
  lower(emit: Emit, args: Value[], kw: Record<string, KwValue>, span: Span, layer: LayerCtx): Value | undefined;
}
