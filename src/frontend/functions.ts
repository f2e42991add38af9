import type { Attrs, Value } from "../ir/graph.js";
import type { Span } from "./source.js";

/** Emits one primitive node during lowering (types come later, from infer-shapes). */
export type Emit = (op: string, inputs: Value[], attrs?: Attrs) => Value;

/** A static keyword-argument value, checked against the function's signature. */
export type KwValue = number | boolean | number[];

/** What a keyword argument must be. */
export type KwKind = "int" | "ints" | "bool" | "number";

/** A function users can call in a `.net` expression: primitives by their user names and composites. */
export interface FunctionDef {
  /** Positional parameter names (the arity). */
  params: string[];
  /** Accepted keyword arguments and their kinds. */
  kwargs: Record<string, KwKind>;
  lower(emit: Emit, args: Value[], kw: Record<string, KwValue>, span: Span): Value;
}

const primitive = (op: string, params: string[]): FunctionDef => ({
  params,
  kwargs: {},
  lower: (emit, args) => emit(op, args),
});

const reduction = (op: string): FunctionDef => ({
  params: ["x"],
  kwargs: { axis: "ints", keepdims: "bool" },
  lower: (emit, [x], kw) => {
    const attrs: Attrs = { keepdims: kw["keepdims"] === true };
    const axis = kw["axis"];
    if (axis !== undefined) attrs["axes"] = typeof axis === "number" ? [axis] : (axis as number[]);
    return emit(op, [x!], attrs);
  },
});

/**
 * Every callable name. Composites lower to primitives here, so autodiff and fusion only ever
 * see primitives.
 */
export const FUNCTIONS: Record<string, FunctionDef> = {
  exp: primitive("exp", ["x"]),
  log: primitive("log", ["x"]),
  sqrt: primitive("sqrt", ["x"]),
  tanh: primitive("tanh", ["x"]),
  sigmoid: primitive("sigmoid", ["x"]),
  abs: primitive("abs", ["x"]),
  neg: primitive("neg", ["x"]),
  maximum: primitive("max", ["a", "b"]),
  minimum: primitive("min", ["a", "b"]),
  pow: primitive("pow", ["x", "y"]),
  where: primitive("select", ["cond", "a", "b"]),
  matmul: primitive("matmul", ["a", "b"]),
  sum: reduction("sum"),
  mean: reduction("mean"),
  max: reduction("max_reduce"),
  relu: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => emit("max", [x!, emit("const", [], { value: 0 })]),
  },
  square: {
    params: ["x"],
    kwargs: {},
    lower: (emit, [x]) => emit("mul", [x!, x!]),
  },
  /** Mean squared error over every element. */
  mse: {
    params: ["prediction", "target"],
    kwargs: {},
    lower: (emit, [p, t]) => {
      const diff = emit("sub", [p!, t!]);
      return emit("mean", [emit("mul", [diff, diff])], { keepdims: false });
    },
  },
};
