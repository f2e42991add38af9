import type { Node } from "../ir/graph.js";
import { padPairs, sliceAxes } from "../ir/ops/movement.js";
import { reduceAxes } from "../ir/ops/reduce.js";
import { opDef, type OpName } from "../ir/ops/registry.js";
import { OP_NAMES } from "../ir/ops/types.js";
import { strictCtx } from "../ir/ops/shape.js";
import { span, windowAttrs, type WindowAttrs } from "../ir/ops/window.js";
import type { Dim } from "../ir/types.js";
import { ELEM, type Elem, type OnnxAttrs } from "./export-graph.js";

/**
 * How each IR primitive becomes ONNX (opset 17) nodes: one rule per op, in a table typed over
 * every op name, so `tsc` refuses a new primitive without a rule. Ops that cannot appear in an
 * inference graph (gradients, random numbers) say why instead.
 *
 * Values: netc holds every tensor as f32 (integers and bools as f32 numbers), and rules read
 * their operands as FLOAT unless they ask for another element type (Where's condition as BOOL,
 * Gather's indices as INT64); the exporter inserts the Casts. Comparisons produce BOOL.
 */

/** What a rule sees: the IR node, its operands as ONNX names, and ways to add nodes. */
export interface RuleCtx {
  node: Node;
  /** Operand `i` as an ONNX tensor name of element type `elem` (default FLOAT), cast if needed. */
  input(i: number, elem?: Elem): string;
  /** Adds a node with a fresh output name (an intermediate). */
  emit(op: string, inputs: string[], attrs?: OnnxAttrs): string;
  /** Adds the node computing the IR node's result, of element type `elem` (default FLOAT). */
  result(op: string, inputs: string[], attrs?: OnnxAttrs, elem?: Elem): void;
  /** The IR node's result is an existing ONNX tensor (a constant, or an operand unchanged). */
  alias(name: string, elem?: Elem): void;
  /** A scalar f32 constant. */
  scalar(value: number): string;
  /** A constant f32 tensor. */
  floats(dims: number[], values: ArrayLike<number>): string;
  /** A constant int64 tensor: 1-D, or 0-D with `scalar`. */
  ints(values: number[], scalar?: boolean): string;
  /** A 1-D int64 tensor of dims: constant when all are numbers, else read from the inputs' shapes. */
  shape(dims: readonly Dim[]): string;
}

/** A rule, or the reason an op has none. */
export type ExportRule = ((c: RuleCtx) => void) | { unsupported: string };

const unary = (op: string) => (c: RuleCtx) => c.result(op, [c.input(0)]);
const binary = (op: string) => (c: RuleCtx) => c.result(op, [c.input(0), c.input(1)]);
const compare = (op: string) => (c: RuleCtx) => c.result(op, [c.input(0), c.input(1)], {}, ELEM.BOOL);

/** The element type a movement op carries its operand in: BOOL for bools, FLOAT otherwise. */
const carried = (c: RuleCtx): Elem => (c.node.out.type.dtype === "bool" ? ELEM.BOOL : ELEM.FLOAT);

const rankOf = (c: RuleCtx, i: number) => c.node.inputs[i]!.type.shape.length;

/** A reduction: ONNX's keepdims defaults to 1 and netc's to false; no axes is the identity. */
function reduce(op: "ReduceSum" | "ReduceMean" | "ReduceMax") {
  return (c: RuleCtx) => {
    const axes = reduceAxes(c.node.attrs, rankOf(c, 0));
    const x = c.input(0);
    if (!axes.length) return c.alias(x);
    const keepdims = c.node.attrs["keepdims"] === true ? 1 : 0;
    // NOTE: opset 13 made ReduceSum's axes an input; the other reductions follow in opset 18.
    if (op === "ReduceSum") c.result(op, [x, c.ints(axes)], { keepdims });
    else c.result(op, [x], { axes, keepdims });
  };
}

/** Swaps the last two axes (a matmul operand with `ta` / `tb`). */
function transposed(c: RuleCtx, i: number): string {
  const r = rankOf(c, i);
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return c.emit("Transpose", [c.input(i)], { perm });
}

/**
 * reshape's target, from the result's type (every -1 and 0 already resolved): symbols at the
 * same place as in the operand become 0 (ONNX copies that dim), one remaining symbol becomes -1,
 * and more than one are read from the inputs' shapes at run time.
 */
function reshapeTarget(c: RuleCtx): string {
  const from = c.node.inputs[0]!.type.shape;
  const to = c.node.out.type.shape;
  const target: Dim[] = to.map((d, i) => (typeof d === "string" && from[i] === d ? 0 : d));
  const symbols = target.filter((d) => typeof d === "string").length;
  if (symbols === 0) return c.ints(target as number[]);
  if (symbols === 1) return c.ints(target.map((d) => (typeof d === "string" ? -1 : d)));
  return c.shape(to);
}

/** conv and pool's per-axis pads, [b0, a0, b1, a1, ...] in netc, as ONNX's [b0, b1, ..., a0, a1, ...]. */
function onnxPads(before: number[], after: number[]): number[] {
  return [...before, ...after];
}

/**
 * A pool node's window as ONNX writes it. Where ceil mode drops a last window that would start in
 * the trailing padding (netc, PyTorch and ONNX Runtime do; opset 17's shape inference does not,
 * and ONNX Runtime plans its buffers by that inference), the pooling is written in floor mode
 * with enough trailing padding for the last window instead. Padding never wins a max and is not
 * counted by an average without count_pad, so the values are the same; `exact` is false for an
 * average with count_pad, where the extra padding would be counted.
 */
function poolGeometry(n: Node): { a: WindowAttrs; kernel: number[]; ceil: boolean; after: number[]; exact: boolean } {
  const shape = n.inputs[0]!.type.shape;
  const a = windowAttrs("pool", n.attrs, shape.length - 2, strictCtx("pool"))!;
  const kernel = n.attrs["kernel"] as number[];
  const out = n.out.type.shape.slice(2) as number[];
  let ceil = n.attrs["ceil"] === true;
  const after = [...a.after];
  if (!ceil) return { a, kernel, ceil, after, exact: true };
  const room = (d: number) => (shape[d + 2] as number) + a.before[d]! + a.after[d]! - span(kernel[d]!, a.dilations[d]!);
  const dropped = out.some((o, d) => Math.ceil(room(d) / a.strides[d]!) + 1 !== o);
  if (!dropped) return { a, kernel, ceil, after, exact: true };
  ceil = false;
  // NOTE: when floor mode already gives the count (the last window fits short of the end), no extra
  // padding is needed: a negative amount would be an invalid model (ONNX Runtime refuses it).
  out.forEach((o, d) => (after[d] = a.after[d]! + Math.max(0, (o - 1) * a.strides[d]! - room(d))));
  return { a, kernel, ceil, after, exact: n.attrs["mode"] === "max" || n.attrs["count_pad"] !== true };
}

/** The elementwise primitives whose registry entry names an ONNX op of the same meaning: one node each. */
const NODE_FOR_NODE: Partial<Record<OpName, ExportRule>> = Object.fromEntries(
  OP_NAMES.flatMap((op) => {
    const def = opDef(op);
    return def.kind === "elementwise" && def.onnx ? [[op, def.arity === 1 ? unary(def.onnx) : binary(def.onnx)]] : [];
  }),
);

/** The primitives whose ONNX form is more than one node of the same name. */
const COMPOSED_RULES = {
  const: (c) => c.alias(c.scalar(c.node.attrs["value"] as number)),
  size: (c) => {
    const dims = c.node.attrs["dims"] as Dim[];
    const known = dims.reduce<number>((a, d) => (typeof d === "number" ? a * d : a), 1);
    const symbols = dims.filter((d) => typeof d === "string");
    if (!symbols.length) return c.alias(c.scalar(known));
    const count = c.emit("Cast", [c.emit("ReduceProd", [c.shape(symbols)], { keepdims: 0 })], { to: ELEM.FLOAT });
    if (known === 1) c.alias(count);
    else c.result("Mul", [count, c.scalar(known)]);
  },
  iota: (c) => {
    // The coordinates along `axis`, shaped [1, ..., n, ..., 1], then expanded to the whole shape.
    const shape = c.node.out.type.shape;
    const axis = c.node.attrs["axis"] as number;
    const a = axis < 0 ? axis + shape.length : axis;
    const n = shape[a]!;
    const line =
      typeof n === "number"
        ? c.floats([n], Array.from({ length: n }, (_, i) => i))
        : c.emit("Cast", [c.emit("Range", [c.ints([0], true), c.emit("Reshape", [c.shape([n]), c.ints([])]), c.ints([1], true)])], { to: ELEM.FLOAT });
    const column = c.emit("Reshape", [line, c.ints(shape.map((_, i) => (i === a ? -1 : 1)))]);
    c.result("Expand", [column, c.shape(shape)]);
  },
  rand: { unsupported: "random numbers (training-mode dropout) have no place in an inference graph" },

  lt: compare("Less"),
  le: compare("LessOrEqual"),
  eq: compare("Equal"),
  select: (c) => {
    const elem = carried(c);
    c.result("Where", [c.input(0, ELEM.BOOL), c.input(1, elem), c.input(2, elem)], {}, elem);
  },

  sum: reduce("ReduceSum"),
  mean: reduce("ReduceMean"),
  max_reduce: reduce("ReduceMax"),

  matmul: (c) => {
    const a = c.node.attrs["ta"] === true ? transposed(c, 0) : c.input(0);
    const b = c.node.attrs["tb"] === true ? transposed(c, 1) : c.input(1);
    c.result("MatMul", [a, b]);
  },

  reshape: (c) => {
    const elem = carried(c);
    c.result("Reshape", [c.input(0, elem), reshapeTarget(c)], {}, elem);
  },
  broadcast: (c) => {
    const elem = carried(c);
    const from = c.node.inputs[0]!.type.shape;
    const to = c.node.out.type.shape;
    if (from.length === to.length && from.every((d, i) => d === to[i])) return c.alias(c.input(0, elem), elem);
    c.result("Expand", [c.input(0, elem), c.shape(to)], {}, elem);
  },
  transpose: (c) => {
    const elem = carried(c);
    const rank = rankOf(c, 0);
    const raw = c.node.attrs["perm"] as number[] | undefined;
    const perm = raw ? raw.map((p) => (p < 0 ? p + rank : p)) : [...Array(rank).keys()].reverse();
    c.result("Transpose", [c.input(0, elem)], { perm }, elem);
  },
  slice: (c) => {
    const elem = carried(c);
    const axes = sliceAxes(c.node.inputs[0]!.type.shape, c.node.attrs, strictCtx("slice"))!;
    const list = (f: (s: (typeof axes)[number]) => number) => c.ints(axes.map(f));
    const x = c.input(0, elem);
    if (!axes.length) return c.alias(x, elem);
    c.result("Slice", [x, list((s) => s.start), list((s) => s.end), list((s) => s.axis), list((s) => s.step)], {}, elem);
  },
  pad: (c) => {
    const pairs = padPairs(c.node.inputs[0]!.type.shape, c.node.attrs, strictCtx("pad"))!;
    const value = (c.node.attrs["value"] as number | undefined) ?? 0;
    const pads = [...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
    c.result("Pad", [c.input(0), c.ints(pads), c.scalar(value)], { mode: "constant" });
  },
  concat: (c) => {
    const elem = carried(c);
    const rank = rankOf(c, 0);
    const raw = (c.node.attrs["axis"] as number | undefined) ?? 0;
    const inputs = c.node.inputs.map((_, i) => c.input(i, elem));
    c.result("Concat", inputs, { axis: raw < 0 ? raw + rank : raw }, elem);
  },

  conv: (c) => {
    const w = c.node.inputs[1]!.type.shape;
    const a = windowAttrs("conv", c.node.attrs, w.length - 2, strictCtx("conv"))!;
    c.result("Conv", [c.input(0), c.input(1)], {
      kernel_shape: w.slice(2) as number[],
      strides: a.strides,
      pads: onnxPads(a.before, a.after),
      dilations: a.dilations,
      group: a.groups,
    });
  },
  pool: (c) => {
    const { a, kernel, ceil, after } = poolGeometry(c.node);
    const common = { kernel_shape: kernel, strides: a.strides, pads: onnxPads(a.before, after), ceil_mode: ceil ? 1 : 0 };
    if (c.node.attrs["mode"] === "max") return c.result("MaxPool", [c.input(0)], { ...common, dilations: a.dilations });
    // NOTE: AveragePool has dilations only from opset 19; unsupportedReason refuses dilated average pooling.
    c.result("AveragePool", [c.input(0)], { ...common, count_include_pad: c.node.attrs["count_pad"] === true ? 1 : 0 });
  },
  gather: (c) => {
    const elem = carried(c);
    const rank = rankOf(c, 0);
    const raw = (c.node.attrs["axis"] as number | undefined) ?? 0;
    c.result("Gather", [c.input(0, elem), c.input(1, ELEM.INT64)], { axis: raw < 0 ? raw + rank : raw }, elem);
  },

  conv_grad_input: { unsupported: "a gradient op, only in training graphs" },
  conv_grad_weight: { unsupported: "a gradient op, only in training graphs" },
  pool_grad: { unsupported: "a gradient op, only in training graphs" },
  gather_grad: { unsupported: "a gradient op, only in training graphs" },
} satisfies Partial<Record<OpName, ExportRule>>;

/** Every IR primitive's ONNX form (test/onnx-export.test.ts checks that every op has one, and runs each). */
export const EXPORT_RULES: Partial<Record<OpName, ExportRule>> = { ...NODE_FOR_NODE, ...COMPOSED_RULES };

/**
 * Why a node cannot be exported as it stands (an op without a rule, or attributes opset 17 cannot
 * express), or undefined when it can.
 */
export function unsupportedReason(n: Node): string | undefined {
  const rule = EXPORT_RULES[n.op as OpName];
  if (!rule) return "not a known op";
  if (typeof rule !== "function") return rule.unsupported;
  if (n.op === "pool") {
    const { a, exact } = poolGeometry(n);
    if (n.attrs["mode"] === "avg" && a.dilations.some((d) => d !== 1)) return "dilated average pooling needs ONNX opset 19";
    if (!exact) return "ceil-mode average pooling with count_pad whose last window starts in the padding has no opset 17 form";
  }
  return undefined;
}
