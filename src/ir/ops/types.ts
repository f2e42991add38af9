import type { DiagnosticCode } from "../../base/diagnostics.js";
import type { Attrs, Value } from "../graph.js";
import type { Dim, TensorType } from "../types.js";

/**
 * The shape of the op registry: what one entry holds, per kind. The entries live in one file per
 * family (elementwise.ts, reduce.ts, movement.ts, matmul.ts, conv.ts, conv-grad.ts, pool.ts,
 * gather.ts, source.ts) and registry.ts merges them into OPS, checked against OP_NAMES below.
 */

/**
 * Every primitive op. OPS must hold exactly these (tsc checks it, both ways). A new op is a name
 * here and its entry in its family's file, whose `call` gives its `.net` name and (elementwise)
 * `onnx` its export; tsc then points to its row in test/op-cases.ts, which runs its shape rule,
 * gradient, WGSL and ONNX export. test/op-surface.test.ts fails for an op no `.net` name reaches
 * that is not marked `internal`; an op whose export is more than one node gets a rule in
 * src/onnx/export-ops.ts (test/onnx-export.test.ts asks for one).
 */
export const OP_NAMES = [
  // sources
  "const",
  "size",
  "iota",
  "rand",
  // elementwise
  "neg",
  "abs",
  "exp",
  "log",
  "sqrt",
  "tanh",
  "sigmoid",
  "erf",
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "max",
  "min",
  "lt",
  "le",
  "eq",
  "select",
  "stop_gradient",
  // reductions
  "sum",
  "mean",
  "max_reduce",
  // contraction
  "matmul",
  // movement
  "reshape",
  "broadcast",
  "transpose",
  "slice",
  "pad",
  "concat",
  // windows
  "conv",
  "conv_grad_input",
  "conv_grad_weight",
  "pool",
  "pool_grad",
  "gather",
  "gather_grad",
] as const;

/** Names of every registered op. */
export type OpName = (typeof OP_NAMES)[number];

/** What a shape rule may do besides computing: report a user error, unify two dims. */
export interface InferCtx {
  /** The op being typed, for messages. */
  op: string;
  error(code: DiagnosticCode, args: Record<string, string | number>): void;
  /** Makes two dims equal (binding symbols) or returns undefined if they cannot be. */
  unify(a: Dim, b: Dim): Dim | undefined;
}

/**
 * What a gradient rule builds with: ops appended to the graph being differentiated, typed
 * eagerly (builder.ts implements it; declared here so the op families need not import it).
 */
export interface GradBuilder {
  /** Appends `op(inputs){attrs}`; a shape error here is a compiler bug. */
  op(name: string, inputs: Value[], attrs?: Attrs): Value;
  /** A scalar f32 constant. */
  const(value: number): Value;
  add(a: Value, b: Value): Value;
  sub(a: Value, b: Value): Value;
  mul(a: Value, b: Value): Value;
  div(a: Value, b: Value): Value;
  neg(a: Value): Value;
}

/** Gradient rule: input gradients shaped like the output (the autodiff driver un-broadcasts). */
export type GradRule = (b: GradBuilder, g: Value, ins: Value[], out: Value, attrs: Attrs) => (Value | undefined)[];

interface OpBase {
  /** Number of inputs; -1 for a variadic op taking one or more (concat). */
  arity: number;
  infer(ins: TensorType[], attrs: Attrs, ctx: InferCtx): TensorType | undefined;
  /** Absent for ops with no gradient (comparisons, constants). */
  grad?: GradRule;
  /**
   * Why no `.net` function, operator or layer lowers to this op (it is built by autodiff, ...);
   * absent for the ops users reach. test/op-surface.test.ts checks both ways.
   */
  internal?: string;
  /**
   * The `.net` function that is exactly this op, with its tensor parameters (`exp(x)`,
   * `maximum(a, b)`): src/frontend/functions.ts takes these names from the registry.
   */
  call?: { name: string; params: string[] };
}

/** An elementwise op: scalar semantics on CPU and as a WGSL expression. */
export interface ElementwiseOp extends OpBase {
  kind: "elementwise";
  eval: (...xs: number[]) => number;
  wgsl: (...xs: string[]) => string;
  /** The ONNX op computing the same, node for node (`Exp`, `Add`): its export rule (src/onnx/export-ops.ts). */
  onnx?: string;
}

/** A reduction over `axes` (with `keepdims`): init, combine and finish as CPU and WGSL. */
export interface ReduceOp extends OpBase {
  kind: "reduce";
  init: number;
  combine: (acc: number, x: number) => number;
  finish: (acc: number, count: number) => number;
  wgslInit: string;
  wgslCombine: (acc: string, x: string) => string;
  wgslFinish: (acc: string, count: string) => string;
}

/** A contraction (matmul): the CPU reference here; its kernel is a whole template in codegen. */
export interface ContractionOp extends OpBase {
  kind: "contraction";
  /** CPU reference on whole tensors: fills `out`, already allocated in the run's precision. */
  cpu(ins: CpuTensor[], out: CpuTensor, attrs: Attrs): void;
}

/** Ops that are pure index maps (reshape, broadcast, transpose, ...) or sources (const, iota). */
export interface OtherOp extends OpBase {
  kind: "movement" | "source";
  /**
   * A movement op that reads its inputs at remapped coordinates (transpose, slice, pad, concat):
   * the map as data, on concrete shapes. The CPU reference and codegen both interpret it.
   */
  view?: (ins: number[][], out: number[], attrs: Attrs) => View;
  /**
   * A source whose value varies over its elements (iota): fills a whole tensor on the CPU, and
   * gives the WGSL expression of the element at flat index `idx` of `shape`. Without it a source
   * is one scalar (`const`, `size`).
   */
  generate?: {
    cpu(out: CpuTensor, attrs: Attrs): void;
    wgsl(idx: string, shape: number[], attrs: Attrs): string;
  };
}

/** A concrete tensor as the CPU reference holds it (row-major; f32 or f64 by the run's precision). */
export interface CpuTensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * An op whose every output element is computed by its own loop that reads the inputs at computed
 * flat indices (conv, pooling, gather and their gradients, rand): neither a view nor a reduction
 * over whole axes. Shapes are concrete by the time `cpu` or `wgsl` runs.
 */
export interface WindowOp extends OpBase {
  kind: "window";
  /** CPU reference on whole tensors: fills `out`, already allocated in the run's precision. */
  cpu(ins: CpuTensor[], out: CpuTensor, attrs: Attrs): void;
  /** WGSL computing output element `w.idx`: emits statements through `w`, returns the f32 value. */
  wgsl(w: WindowWgsl): string;
  /**
   * Straight-line WGSL (no loops) cheap enough to recompute: the op fuses into elementwise kernels
   * like an elementwise op (its operands still come from buffers). Otherwise it heads a window
   * kernel, one thread per output element, with an elementwise epilogue.
   */
  inline?: boolean;
  /**
   * The op as an implicit matrix product over concrete shapes (conv and its gradients), when its
   * attributes allow one; codegen may then emit a register-blocked kernel instead of `wgsl`.
   */
  gemm?(ins: number[][], out: number[], attrs: Attrs): GemmView | undefined;
  /**
   * A kernel where each thread computes a block of output elements instead of one, when the op's
   * attributes allow one (pool_grad over disjoint windows: a thread per window); codegen then
   * uses it instead of `wgsl`. `w.idx` names the thread (u32, below `threads`).
   */
  blocks?(w: WindowWgsl): WindowBlocks | undefined;
}

/**
 * A window op's kernel of one thread per block of outputs (see WindowOp.blocks): after the
 * statements the op emitted for its thread, codegen loops over `count` elements and, for element
 * `t` (a u32 name), stores `value` at `index` where `valid` holds, each from statements `element`
 * emits inside the loop.
 */
export interface WindowBlocks {
  /** Threads in all (for the grid). */
  threads: number;
  /**
   * Threads per `outputs` elements of the output: the kernel bounds its threads by the output
   * buffer's length through these, so its text does not depend on the batch size.
   */
  per: { outputs: number; threads: number };
  count: number;
  element(t: string): { index: string; valid: string; value: string };
}

/**
 * A window op seen as out[row, col] = sum over k of A[row, k] · B[k, col] with no matrix in
 * memory (implicit GEMM): rows, columns and k are each a box of integer coordinates, and every
 * address is affine in them, split into a part of the row (or column) and a part of k so a
 * thread computes its row and column parts once and adds the k part in the loop.
 */
export interface GemmView {
  /** Extents of the row, column and k coordinates (row-major within each). */
  rows: number[];
  cols: number[];
  ks: number[];
  /** A's coordinates are (rows, ks); B's are (cols, ks). */
  a: GemmOperand;
  b: GemmOperand;
  /** The output's flat index: rows·out.rows + cols·out.cols. */
  out: { rows: number[]; cols: number[] };
}

/** One operand of a GemmView: which input it is, its flat offset, and when it is padding (zero). */
export interface GemmOperand {
  input: number;
  offset: GemmAffine;
  /** The element is real iff 0 <= the affine value < size, for every bound; otherwise it reads as 0. */
  bounds: (GemmAffine & { size: number })[];
}

/** constant + outer·(row or column coordinates) + inner·(k coordinates). */
export interface GemmAffine {
  outer: number[];
  inner: number[];
  constant: number;
}

/** What a window op's WGSL generator is given, and how it writes. */
export interface WindowWgsl {
  /** The u32 flat index of the output element to compute. */
  idx: string;
  /** Concrete output and input shapes. */
  out: number[];
  ins: number[][];
  attrs: Attrs;
  /** An f32 expression of input `input` at the u32 flat index `index` (a buffer read, or an inlined source). */
  read(input: number, index: string): string;
  /** Appends one statement (nested lines carry their own indentation). */
  emit(line: string): void;
  /** A fresh local name built from `base`, unique in the kernel. */
  name(base: string): string;
}

/**
 * How a movement op reads its inputs, as data (tinygrad's views). Each output element comes from
 * the first part whose region holds it, or is `fill` when none does.
 */
export interface View {
  parts: ViewPart[];
  /** The value outside every part's region (pad's constant); absent when the parts cover the output. */
  fill?: number;
}

/** One input's share of a movement op's output. */
export interface ViewPart {
  /** Which input the part reads. */
  input: number;
  /** Per input axis d: `in[d] = offset + step * out[from]`. */
  axes: { from: number; offset: number; step: number }[];
  /** Half-open ranges of output coordinates on some axes that this part covers (absent: everything). */
  region?: { axis: number; lo: number; hi: number }[];
}

/** One registry entry. */
export type OpDef = ElementwiseOp | ReduceOp | ContractionOp | OtherOp | WindowOp;

/** A family's entries: only registered names (a typo or an op missing from OP_NAMES is a compile error). */
export type OpFamily = Partial<Record<OpName, OpDef>>;
