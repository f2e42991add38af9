import type { Span } from "../base/source.js";

/** The syntax tree a CST visitor builds: what the user wrote, with a span on every node. */

/** A whole `.net` file. */
export interface Program {
  imports: ImportDecl[];
  blocks: BlockDecl[];
  networks: NetworkDecl[];
  trains: TrainDecl[];
  span: Span;
}

/** `network NAME { ... }` */
export interface NetworkDecl {
  kind: "network";
  name: Ident;
  body: Stmt[];
  span: Span;
}

/** `import "blocks/residual.net"`: the path as written, relative to the importing file. */
export interface ImportDecl {
  kind: "import";
  path: string;
  /** The string literal, quotes included. */
  pathSpan: Span;
  span: Span;
}

/**
 * `block Residual(c: int, act: fn = relu) { input x: f32[B, c] ... output y = ... }`: a reusable
 * piece of network, called like a layer. Its body holds the same statements as a network's.
 */
export interface BlockDecl {
  kind: "block";
  name: Ident;
  params: BlockParam[];
  body: Stmt[];
  span: Span;
}

/** `c: int`, `act: fn = relu`: a static parameter of a block; `type` is int, float, bool or fn. */
export interface BlockParam {
  name: Ident;
  type: Ident;
  default?: Expr;
  span: Span;
}

/** A statement in a network or block body. */
export type Stmt = InputDecl | ParamDecl | LetStmt | OutputDecl;

/** `input x: f32[B, 2]` */
export interface InputDecl {
  kind: "input";
  name: Ident;
  type: TypeExpr;
  span: Span;
}

/** `param w: f32[2, 3] = xavier` or `= normal(std = 0.1)`; init absent means zeros. */
export interface ParamDecl {
  kind: "param";
  name: Ident;
  type: TypeExpr;
  init?: Expr;
  span: Span;
}

/** `h = sigmoid(x @ w1 + b1)`, or `mu, logvar = Split(h)` to unpack a block's outputs. */
export interface LetStmt {
  kind: "let";
  /** The first (usually only) name. */
  name: Ident;
  /** Every name bound, `name` first; more than one unpacks the outputs of a block call. */
  names: Ident[];
  value: Expr;
  span: Span;
}

/** `output y` or `output y = expr`, optionally typed: `output y: f32[B, 1]`. */
export interface OutputDecl {
  kind: "output";
  name: Ident;
  type?: TypeExpr;
  value?: Expr;
  span: Span;
}

/** `f32[B, 784]`; `f32[]` is a scalar. */
export interface TypeExpr {
  kind: "type";
  dtype: Ident;
  dims: DimExpr[];
  span: Span;
}

/** A dim: a number or a symbol. */
export type DimExpr = {
  kind: "dim";
  /** A number, a dim's name, or (with `expr`) the source text of the arithmetic. */
  value: number | string;
  /** Arithmetic over names (`3 * hidden`): evaluated once block params are substituted (see resolveType). */
  expr?: Expr;
  span: Span;
};

/** An identifier with its span. */
export interface Ident {
  name: string;
  span: Span;
}

/** Expressions. */
export type Expr = NumberLit | NameRef | BinaryExpr | UnaryExpr | CallExpr | ArrayLit;

export interface NumberLit {
  kind: "number";
  value: number;
  span: Span;
}
export interface NameRef {
  kind: "name";
  name: string;
  span: Span;
}
/** `a @ b`, `a + b`, ... left-associative; `*`, `/`, `@` bind tighter than `+`, `-`. */
export interface BinaryExpr {
  kind: "binary";
  op: "+" | "-" | "*" | "/" | "@";
  left: Expr;
  right: Expr;
  opSpan: Span;
  span: Span;
}
/** `-x` */
export interface UnaryExpr {
  kind: "unary";
  op: "-";
  operand: Expr;
  span: Span;
}
/** `f(a, b, key = value)`; a pipe `x |> f(a)` is the call `f(x, a)`. */
export interface CallExpr {
  kind: "call";
  callee: Ident;
  /** `name` in `name: dense(...)`: the layer instance, which prefixes its params (`name.weight`). */
  instance?: Ident;
  args: Expr[];
  kwargs: KwArg[];
  span: Span;
}
export interface KwArg {
  name: Ident;
  value: Expr;
  span: Span;
}
/** `[[0, 1], [1, 0]]` */
export interface ArrayLit {
  kind: "array";
  items: Expr[];
  span: Span;
}

/** `train { key = value ... data { name = [...] ... } }` */
export interface TrainDecl {
  kind: "train";
  settings: TrainSetting[];
  data: DataEntry[];
  span: Span;
}
/** `loss = mse(y, target)`, `epochs = 2000`, `optimizer = sgd(lr = 0.5)` */
export interface TrainSetting {
  key: Ident;
  value: Expr;
  span: Span;
}
/** `x = [[0, 0], [0, 1]]` inside `data { }` */
export interface DataEntry {
  name: Ident;
  value: Expr | NumberArrayLit;
  span: Span;
}

/** A data entry's rectangular array of numbers, taken whole by the lexer (grammar/number-array.ts). */
export interface NumberArrayLit {
  kind: "numbers";
  shape: number[];
  /** Row-major, as f32 (what a data column holds). */
  values: Float32Array;
  span: Span;
}
