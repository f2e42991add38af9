import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Expr, NumberArrayLit, Program, Stmt } from "../src/frontend/ast.js";
import { Diagnostics } from "../src/base/diagnostics.js";
import { netLexer } from "../grammar/tokens.js";
import { parseProgram } from "../src/frontend/parse.js";
import { SourceFile, type Span } from "../src/base/source.js";

/** Parses text, returning the program and the diagnostics. */
function parse(text: string, path = "test.net"): { program: Program; d: Diagnostics } {
  const d = new Diagnostics();
  const program = parseProgram(new SourceFile(path, text), d);
  return { program, d };
}

/** Parses text that must be free of errors. */
function parseOk(text: string): Program {
  const { program, d } = parse(text);
  expect(d.render()).toBe("");
  return program;
}

/** `line:col` of a span's start. */
function at(span: Span | undefined): string {
  if (!span) return "<no span>";
  const { line, col } = span.file.position(span.start);
  return `${line}:${col}`;
}

/** The source text a span covers. */
function text(span: Span): string {
  return span.file.text.slice(span.start, span.end);
}

/** An expression as an S-expression: `(+ a (* b c))`, `(neg x)`, `(call f x :k 1)`, `[1 2]`. */
function show(e: Expr | NumberArrayLit): string {
  switch (e.kind) {
    case "numbers":
      return nested(e.shape, [...e.values]);
    case "number":
      return String(e.value);
    case "name":
      return e.name;
    case "binary":
      return `(${e.op} ${show(e.left)} ${show(e.right)})`;
    case "unary":
      return `(neg ${show(e.operand)})`;
    case "call":
      return `(call ${[(e.instance ? `${e.instance.name}:` : "") + e.callee.name, ...e.args.map(show), ...e.kwargs.map((k) => `:${k.name.name} ${show(k.value)}`)].join(" ")})`;
    case "array":
      return `[${e.items.map(show).join(" ")}]`;
  }
}

/** Row-major values of the given shape as nested `[a b]` lists, like `show` prints an array literal. */
function nested(shape: number[], values: number[]): string {
  if (shape.length === 0) return String(values[0]);
  const step = values.length / shape[0]!;
  return `[${Array.from({ length: shape[0]! }, (_, i) => nested(shape.slice(1), values.slice(i * step, (i + 1) * step))).join(" ")}]`;
}

/** The value of the single statement `v = ...` in a one-statement network. */
function exprOf(source: string): Expr {
  const stmt = parseOk(`network n {\n  v = ${source}\n}\n`).networks[0]!.body[0]!;
  if (stmt.kind !== "let") throw new Error(`expected a let statement, got ${stmt.kind}`);
  return stmt.value;
}

/** `code line:col` of every diagnostic, in order. */
function errors(source: string): string[] {
  return parse(source).d.items.map((i) => `${i.code} ${at(i.span)}`);
}

function stmtSummary(s: Stmt): string {
  return `${s.kind} ${s.name.name}`;
}

describe("valid programs", () => {
  it("parses examples/xor.net", () => {
    const source = readFileSync(new URL("../examples/xor.net", import.meta.url), "utf8");
    const p = parseOk(source);
    expect(p.networks).toHaveLength(1);
    const net = p.networks[0]!;
    expect(net.name.name).toBe("xor");
    expect(net.body.map(stmtSummary)).toEqual([
      "input x",
      "param w1",
      "param b1",
      "param w2",
      "param b2",
      "let h",
      "output y",
    ]);

    const x = net.body[0]!;
    expect(x.kind === "input" && x.type.dtype.name).toBe("f32");
    expect(x.kind === "input" && x.type.dims.map((dim) => dim.value)).toEqual(["B", 2]);

    const w1 = net.body[1]!;
    if (w1.kind !== "param") throw new Error("w1 is not a param");
    expect(w1.type.dims.map((dim) => dim.value)).toEqual([2, 3]);
    expect(w1.init && show(w1.init)).toBe("xavier");
    expect(at(w1.name.span)).toBe("7:9");
    expect(text(w1.span)).toBe("param w1: f32[2, 3] = xavier");
    expect(text(w1.type.span)).toBe("f32[2, 3]");

    const h = net.body[5]!;
    if (h.kind !== "let") throw new Error("h is not a let");
    expect(show(h.value)).toBe("(call sigmoid (+ (@ x w1) b1))");
    expect(at(h.span)).toBe("12:3");
    expect(text(h.value.span)).toBe("sigmoid(x @ w1 + b1)");

    const y = net.body[6]!;
    if (y.kind !== "output") throw new Error("y is not an output");
    expect(y.type).toBeUndefined();
    expect(y.value && show(y.value)).toBe("(+ (@ h w2) b2)");
    expect(y.value && text(y.value.span)).toBe("h @ w2 + b2");

    expect(at(net.span)).toBe("4:1");
    expect(text(net.span).endsWith("}")).toBe(true);

    expect(p.trains).toHaveLength(1);
    const train = p.trains[0]!;
    expect(at(train.span)).toBe("16:1");
    expect(train.settings.map((s) => `${s.key.name} = ${show(s.value)}`)).toEqual([
      "loss = (call mse y target)",
      "optimizer = (call sgd :lr 0.5)",
      "epochs = 2000",
      "batch = 4",
      "seed = 1",
      "log_every = 200",
    ]);
    expect(train.data.map((e) => `${e.name.name} = ${show(e.value)}`)).toEqual([
      "x = [[0 0] [0 1] [1 0] [1 1]]",
      "target = [[0] [1] [1] [0]]",
    ]);
    expect(at(train.data[1]!.span)).toBe("26:5");
    expect(p.span).toEqual({ file: net.span.file, start: 0, end: source.length });
  });

  it("gives `*`, `/`, `@` precedence over `+`, `-`, all left-associative", () => {
    expect(show(exprOf("a + b * c @ d"))).toBe("(+ a (@ (* b c) d))");
    expect(show(exprOf("a - b - c"))).toBe("(- (- a b) c)");
    expect(show(exprOf("a / b @ c * d"))).toBe("(* (@ (/ a b) c) d)");
    expect(show(exprOf("a * b + c * d - e"))).toBe("(- (+ (* a b) (* c d)) e)");
    expect(show(exprOf("(a + b) * c"))).toBe("(* (+ a b) c)");
  });

  it("puts operator and node spans on binary expressions", () => {
    const e = exprOf("a + b * c @ d");
    if (e.kind !== "binary" || e.right.kind !== "binary") throw new Error("not a binary tree");
    expect(text(e.span)).toBe("a + b * c @ d");
    expect(text(e.opSpan)).toBe("+");
    expect(at(e.opSpan)).toBe("2:9");
    expect(text(e.right.span)).toBe("b * c @ d");
    expect(text(e.right.opSpan)).toBe("@");
    const paren = exprOf("(a + b) * c");
    if (paren.kind !== "binary") throw new Error("not binary");
    expect(text(paren.left.span)).toBe("(a + b)");
  });

  it("parses unary minus tighter than binary operators", () => {
    expect(show(exprOf("-a * b"))).toBe("(* (neg a) b)");
    expect(show(exprOf("a - -b"))).toBe("(- a (neg b))");
    expect(show(exprOf("- -x"))).toBe("(neg (neg x))");
    expect(show(exprOf("-(a + b)"))).toBe("(neg (+ a b))");
    const e = exprOf("-2.5 @ w");
    if (e.kind !== "binary") throw new Error("not binary");
    expect(e.left.kind).toBe("unary");
    expect(text(e.left.span)).toBe("-2.5");
  });

  it("parses calls with positional and keyword arguments", () => {
    const e = exprOf("sum(x, axis = 1)");
    if (e.kind !== "call") throw new Error("not a call");
    expect(e.callee.name).toBe("sum");
    expect(e.args.map(show)).toEqual(["x"]);
    expect(e.kwargs.map((k) => `${k.name.name}=${show(k.value)}`)).toEqual(["axis=1"]);
    expect(text(e.span)).toBe("sum(x, axis = 1)");
    expect(text(e.kwargs[0]!.span)).toBe("axis = 1");
    expect(at(e.kwargs[0]!.name.span)).toBe("2:14");

    expect(show(exprOf("f()"))).toBe("(call f)");
    expect(show(exprOf("f(g(x), k = [1, 2], j = -1)"))).toBe("(call f (call g x) :k [1 2] :j (neg 1))");
    expect(show(exprOf("normal(std = 0.1)"))).toBe("(call normal :std 0.1)");
    expect(show(exprOf("max(a + b, 0)"))).toBe("(call max (+ a b) 0)");
  });

  it("parses pipes as calls with the piped value first, lowest precedence, left to right", () => {
    expect(show(exprOf("x |> relu"))).toBe("(call relu x)");
    expect(show(exprOf("x @ w + b |> f(2, k = 1) |> g"))).toBe("(call g (call f (+ (@ x w) b) 2 :k 1))");
    const e = exprOf("x |> relu");
    expect(text(e.span)).toBe("x |> relu");
  });

  it("parses named layer instances, in pipes and in plain calls", () => {
    expect(show(exprOf("x |> d1: dense(10, activation = relu)"))).toBe("(call d1:dense x 10 :activation relu)");
    expect(show(exprOf("d2: dense(x, 3)"))).toBe("(call d2:dense x 3)");
    expect(show(exprOf("x |> d3: dense"))).toBe("(call d3:dense x)");
    const e = exprOf("x |> d1: dense(10)");
    if (e.kind !== "call") throw new Error("not a call");
    expect(at(e.instance!.span)).toBe("2:12");
    expect(errors("network n {\n  v = x |> : dense(1)\n}\n")).toEqual(["NC1002 2:12"]);
  });

  it("parses nested arrays, empty arrays and a trailing comma", () => {
    expect(show(exprOf("[[0, 1], [1, 0]]"))).toBe("[[0 1] [1 0]]");
    expect(show(exprOf("[[[1]], [[2, 3,],],]"))).toBe("[[[1]] [[2 3]]]");
    expect(show(exprOf("[]"))).toBe("[]");
    const e = exprOf("[1, [2]]");
    if (e.kind !== "array") throw new Error("not an array");
    expect(text(e.span)).toBe("[1, [2]]");
    expect(text(e.items[1]!.span)).toBe("[2]");
  });

  it("parses numbers: integers, decimals and exponents", () => {
    expect(show(exprOf("[0, 10, 0.5, .25, 1e-3, 2.5E+2, 3.]"))).toBe("[0 10 0.5 0.25 0.001 250 3]");
  });

  it("parses typed and untyped outputs, scalar types and symbolic dims", () => {
    const p = parseOk(
      "network n {\n  input x: f32[B, 784]\n  param s: f32[]\n  output y: f32[B, 1] = x\n  output z: f32[]\n  output w\n}\n",
    );
    const [x, s, y, z, w] = p.networks[0]!.body;
    expect(x!.kind === "input" && x!.type.dims.map((d) => [d.value, at(d.span)])).toEqual([
      ["B", "2:16"],
      [784, "2:19"],
    ]);
    expect(s!.kind === "param" && s!.type.dims).toEqual([]);
    expect(s!.kind === "param" && s!.init).toBeUndefined();
    if (y!.kind !== "output" || z!.kind !== "output" || w!.kind !== "output") throw new Error("not outputs");
    expect(y.type!.dims.map((d) => d.value)).toEqual(["B", 1]);
    expect(y.value && show(y.value)).toBe("x");
    expect(text(y.span)).toBe("output y: f32[B, 1] = x");
    expect(z.type!.dims).toEqual([]);
    expect(z.value).toBeUndefined();
    expect(w.type).toBeUndefined();
    expect(w.value).toBeUndefined();
    expect(text(w.span)).toBe("output w");
  });

  it("skips `#` and `//` comments, keeps `/` division, and allows `;` separators", () => {
    const p = parseOk(
      [
        "// a network",
        "network n { # opening",
        "  input x: f32[2]; param w: f32[2] = zeros;",
        "  h = x / w // divided",
        "  # a whole-line comment",
        "  output y = h;",
        "}",
        "train { epochs = 1; data { x = [[1, 2]]; } }",
      ].join("\n"),
    );
    const body = p.networks[0]!.body;
    expect(body.map(stmtSummary)).toEqual(["input x", "param w", "let h", "output y"]);
    expect(body[2]!.kind === "let" && show(body[2]!.value)).toBe("(/ x w)");
    expect(text(body[1]!.span)).toBe("param w: f32[2] = zeros");
    expect(p.trains[0]!.settings.map((s) => s.key.name)).toEqual(["epochs"]);
    expect(p.trains[0]!.data.map((e) => e.name.name)).toEqual(["x"]);
  });

  it("treats words that start with a keyword as names", () => {
    const p = parseOk("network n {\n  inputs = network2 + data_x * trainer\n  output outputs = params\n}\n");
    const [a, b] = p.networks[0]!.body;
    expect(a!.kind === "let" && `${a!.name.name} = ${show(a!.value)}`).toBe("inputs = (+ network2 (* data_x trainer))");
    expect(b!.kind === "output" && b!.name.name).toBe("outputs");
  });

  it("parses several blocks, in any order, and the empty file", () => {
    const p = parseOk("train { epochs = 1 }\nnetwork a { h = 1 }\nnetwork b { h = 2 }\n");
    expect(p.networks.map((n) => n.name.name)).toEqual(["a", "b"]);
    expect(p.trains).toHaveLength(1);
    const empty = parseOk("  # nothing here\n");
    expect(empty.networks).toEqual([]);
    expect(empty.trains).toEqual([]);
  });
});

describe("blocks, repeat and imports", () => {
  const source = [
    'import "blocks/residual.net"',
    "",
    "block Residual(c: int, act: fn = relu, p: float = 0.5) {",
    "  input x: f32[B, c]",
    "  param w: f32[c, c] = xavier",
    "  output y = x + (x @ w |> act)",
    "}",
    "",
    "block Plain {",
    "  input x: f32[B, 2]",
    "  output y = x",
    "}",
    "",
    "network n {",
    "  input x: f32[B, 64]",
    "  h = x |> blocks: repeat(3, Residual(64, act = tanh))",
    "  lo, hi = h |> s: Split",
    "  output y = r1: Residual(lo, 64)",
    "}",
  ].join("\n");

  it("parses imports with the path and its span", () => {
    const p = parseOk(source);
    expect(p.imports).toHaveLength(1);
    const imp = p.imports[0]!;
    expect(imp.path).toBe("blocks/residual.net");
    expect(text(imp.pathSpan)).toBe('"blocks/residual.net"');
    expect(text(imp.span)).toBe('import "blocks/residual.net"');
    expect(at(imp.span)).toBe("1:1");
  });

  it("parses block headers: typed static params with optional defaults, or none at all", () => {
    const p = parseOk(source);
    expect(p.blocks.map((b) => b.name.name)).toEqual(["Residual", "Plain"]);
    const [res, plain] = p.blocks;
    expect(res!.params.map((q) => `${q.name.name}: ${q.type.name}${q.default ? ` = ${show(q.default)}` : ""}`)).toEqual([
      "c: int",
      "act: fn = relu",
      "p: float = 0.5",
    ]);
    expect(at(res!.params[1]!.type.span)).toBe("3:29");
    expect(text(res!.params[2]!.span)).toBe("p: float = 0.5");
    expect(res!.body.map(stmtSummary)).toEqual(["input x", "param w", "output y"]);
    expect(text(res!.span).startsWith("block Residual(")).toBe(true);
    expect(text(res!.span).endsWith("}")).toBe(true);
    expect(plain!.params).toEqual([]);
    expect(p.networks[0]!.body.map(stmtSummary)).toEqual(["input x", "let h", "let lo", "output y"]);
  });

  it("parses repeat and block calls as ordinary calls, and unpacking lets", () => {
    const body = parseOk(source).networks[0]!.body;
    const [, h, lo, y] = body;
    expect(h!.kind === "let" && show(h!.value)).toBe("(call blocks:repeat x 3 (call Residual 64 :act tanh))");
    if (lo!.kind !== "let") throw new Error("not a let");
    expect(lo.names.map((n) => n.name)).toEqual(["lo", "hi"]);
    expect(lo.name.name).toBe("lo");
    expect(at(lo.names[1]!.span)).toBe("17:7");
    expect(show(lo.value)).toBe("(call s:Split h)");
    expect(y!.kind === "output" && y!.value && show(y!.value)).toBe("(call r1:Residual lo 64)");
    const single = body[1]!;
    expect(single.kind === "let" && single.names.map((n) => n.name)).toEqual(["h"]);
  });

  it("reserves `block` and `import`, and resumes after junk at either", () => {
    const keyword = parse("network n {\n  input block: f32[2]\n}\n").d.items[0]!;
    expect(`${keyword.code} ${at(keyword.span)} ${keyword.message}`).toBe("NC1002 2:9 syntax error: expected a name but found `block`, which is a keyword");
    const { program, d } = parse('} import "a.net" ) block B { output y = 1 }\n');
    expect(d.items.map((i) => `${i.code} ${at(i.span)}`)).toEqual(["NC1002 1:1", "NC1002 1:18"]);
    expect(program.imports.map((i) => i.path)).toEqual(["a.net"]);
    expect(program.blocks.map((b) => b.name.name)).toEqual(["B"]);
  });
});

describe("syntax errors", () => {
  // [what, source, first error as `code line:col`, a fragment of its message]
  const cases: [string, string, string, string][] = [
    ["missing `]`", "network a {\n  input x: f32[B, 2\n  h = x\n}\n", "NC1002 3:3", "expected `,` or `]` but found `h`"],
    ["missing `}` at end of input", "network a {\n  input x: f32[B, 2]\n", "NC1002 2:20", "expected a statement or `}` but found end of input"],
    ["missing `}` before train", "network a {\n  h = 1\n\ntrain {\n  epochs = 3\n}\n", "NC1002 4:1", "expected a statement or `}` but found `train`"],
    ["bad character `$`", "network a {\n  input x: f32[B, 2]\n  h = x $ 2\n}\n", "NC1001 3:9", "unexpected character `$`"],
    ["param without colon", "network a {\n  param w f32[2]\n}\n", "NC1002 2:11", "expected `:` but found `f32`"],
    ["empty right-hand side", "network a {\n  x = \n}\n", "NC1002 3:1", "expected an expression but found `}`"],
    ["empty right-hand side at end of input", "network a {\n  x =", "NC1002 2:5", "expected an expression but found end of input"],
    ["unterminated bracket at end of input", "network a {\n  h = f(x, [1, 2", "NC1002 2:16", "expected `,` or `]` but found end of input"],
    ["keyword as a name", "network a {\n  input param: f32[2]\n}\n", "NC1002 2:9", "found `param`, which is a keyword"],
    ["unclosed call", "network a {\n  h = sigmoid(x @ w1\n  output y = h\n}\n", "NC1002 3:3", "expected `,` or `)` but found `output`"],
    // NOTE: `f32[2.5]` parses (a dim is integer arithmetic); its value is NC2035 (test/diagnostics/dim-arithmetic.net).
    ["dim arithmetic without an operand", "network a {\n  input x: f32[2 *]\n}\n", "NC1002 2:19", "expected an expression but found `]`"],
    ["malformed number", "network a {\n  h = 1e + 2\n}\n", "NC1004 2:7", "invalid number `1e`"],
    ["positional after keyword argument", "network a {\n  h = f(k = 1, x)\n}\n", "NC1005 2:16", "positional argument follows keyword argument `k`"],
    ["junk between blocks", "network a { h = 1 }\n)\nnetwork b { h = 2 }\n", "NC1002 2:1", "expected `import`, `block`, `network` or `train` but found `)`"],
    ["junk in a train block", "train {\n  epochs = 3\n  = 4\n}\n", "NC1002 3:3", "expected a training setting"],
    ["missing network name", "network {\n}\n", "NC1002 1:9", "expected a name but found `{`"],
    ["block param without kind", "block R(c int) {\n}\n", "NC1002 1:11", "expected `:` but found `int`"],
    ["unclosed block header", "block R(c: int {\n}\n", "NC1002 1:16", "expected `,` or `)` but found `{`"],
    ["trailing comma in a block header", "block R(c: int,) {\n}\n", "NC1002 1:16", "expected a name but found `)`"],
    ["import without a string", "import blocks\n", "NC1002 1:8", "expected a string but found `blocks`"],
    ["unpacking without a second name", "network n {\n  a, = f(x)\n}\n", "NC1002 2:6", "expected a name but found `=`"],
  ];

  it.each(cases)("%s", (_, source, first, message) => {
    const { d } = parse(source);
    expect(d.hasErrors).toBe(true);
    const e = d.items[0]!;
    expect(`${e.code} ${at(e.span)}`).toBe(first);
    expect(e.message).toContain(message);
    for (const item of d.items) expect(item.message).not.toContain("-->");
  });

  it("reports errors in two different statements, and one per block", () => {
    const source = [
      "network a {",
      "  input x: f32[B, 2",
      "  param w: f32[2, 3] = normal(std = )",
      "  output y = x @ w",
      "}",
      "train {",
      "  epochs = ",
      "  data { x = [1, 2] }",
      "}",
    ].join("\n");
    expect(errors(source)).toEqual(["NC1002 3:3", "NC1002 3:37", "NC1002 8:3"]);
  });

  it("keeps the statements that did parse", () => {
    const { program, d } = parse("network a {\n  input x: f32[2]\n  h = x @\n  output y = x\n}\ntrain {\n  epochs = )\n  seed = 1\n}\n");
    expect(d.items.map((i) => `${i.code} ${at(i.span)}`)).toEqual(["NC1002 4:3", "NC1002 7:12"]);
    expect(program.networks[0]!.body.map(stmtSummary)).toEqual(["input x", "output y"]);
    expect(program.trains[0]!.settings.map((s) => s.key.name)).toEqual(["seed"]);
  });

  it("reports junk between blocks and still parses the blocks after it", () => {
    const { program, d } = parse("} network a { h = 1 } ) train { epochs = 1 } ; network b { h = ( }");
    expect(d.items.map((i) => `${i.code} ${at(i.span)}`)).toEqual(["NC1002 1:1", "NC1002 1:23", "NC1002 1:46", "NC1002 1:66"]);
    expect(program.networks.map((n) => n.name.name)).toEqual(["a", "b"]);
    expect(program.trains).toHaveLength(1);
  });

  it("reports every bad character, and one error for a keyword used as a name", () => {
    expect(errors("network a {\n  h = x $ 2\n  g = y ? 3\n}\n")).toEqual(["NC1001 2:9", "NC1001 3:9"]);
    expect(errors("network a {\n  input param: f32[2]\n}\n")).toEqual(["NC1002 2:9"]);
  });

  it("renders a caret under the offending token", () => {
    const { d } = parse("network a {\n  param w f32[2]\n}\n", "w.net");
    expect(d.render()).toBe(
      ["w.net:2:11: error NC1002: syntax error: expected `:` but found `f32`", "  |", "2 |   param w f32[2]", "  |           ^~~"].join("\n"),
    );
  });

  it("never throws or hangs on damaged input, and every error has a span in the file", () => {
    const base = readFileSync(new URL("../examples/xor.net", import.meta.url), "utf8");
    const pieces = ["network", "input", "param", "output", "train", "data", "x", "f32", "[", "]", "{", "}", "(", ")", ",", ":", "=", "+", "-", "@", "1", "2.5", "1e", ";", "$", "\n", "#c\n", "block", "import", '"a.net"', "|>"];
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    const started = performance.now();
    for (let i = 0; i < 1500; i++) {
      let source: string;
      if (i % 2 === 0) {
        source = Array.from({ length: rand(50) }, () => pieces[rand(pieces.length)]).join(" ");
      } else {
        source = base;
        for (let k = 0; k <= rand(4); k++) {
          const p = rand(source.length);
          const op = rand(3);
          if (op === 0) source = source.slice(0, p) + source.slice(p + 1 + rand(6));
          else if (op === 1) source = source.slice(0, p) + pieces[rand(pieces.length)] + source.slice(p);
          else source = source.slice(0, p);
        }
      }
      const { d } = parse(source);
      for (const item of d.items) {
        expect(item.message).not.toContain("internal");
        expect(item.span).toBeDefined();
        expect(item.span!.start).toBeGreaterThanOrEqual(0);
        expect(item.span!.end).toBeGreaterThan(item.span!.start);
        expect(item.span!.end).toBeLessThanOrEqual(source.length);
      }
    }
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});

describe("a data entry's array of numbers (one NumberArray token)", () => {
  const data = (entries: string) => `train {\n  data {\n${entries}\n  }\n}\n`;
  const tokenTypes = (source: string) => netLexer.tokenize(source).tokens.map((t) => t.tokenType.name);

  it("is one token with the shape and values, signs, exponents, comments and a trailing comma included", () => {
    const source = data("    x = [[0, -1.5], # first row\n         [2e-1, .5,],]\n    y = [3, 4]");
    expect(tokenTypes(source).filter((t) => t === "NumberArray")).toHaveLength(2);
    const [x, y] = parseOk(source).trains[0]!.data;
    expect(x!.value.kind).toBe("numbers");
    expect(show(x!.value)).toBe(`[[0 -1.5] [${Math.fround(0.2)} 0.5]]`);
    expect(text(x!.value.span)).toBe("[[0, -1.5], # first row\n         [2e-1, .5,],]");
    expect(show(y!.value)).toBe("[3 4]");
  });

  it("gives the same columns as the same numbers parsed one by one", () => {
    // A space after `-` is still unary minus to the parser, but not part of a NumberArray.
    const packed = parseOk(data("    x = [[1, -2], [3, 4]]")).trains[0]!.data[0]!.value;
    const general = parseOk(data("    x = [[1, - 2], [3, 4]]")).trains[0]!.data[0]!.value;
    expect(packed.kind).toBe("numbers");
    expect(general.kind).toBe("array");
    expect(show(general)).toBe("[[1 (neg 2)] [3 4]]");
    expect(show(packed)).toBe("[[1 -2] [3 4]]");
  });

  it("is left to the general rules when the array is ragged, empty, malformed or not a data entry", () => {
    for (const entry of ["x = [[1, 2], [3]]", "x = []", "x = [[1, 2], [3, 1e]]", "x = [1, 2", "x = [1,, 2]", "x = [a, 1]", "x = [[1], 2]"])
      expect(tokenTypes(data(`    ${entry}`))).not.toContain("NumberArray");
    expect(tokenTypes("network n {\n  input x: f32[4, 2]\n  v = pad(x, [1, 1])\n  w = [[1, 2]]\n}\n")).not.toContain("NumberArray");
    expect(tokenTypes("train {\n  z = [[1, 2]]\n}\n")).not.toContain("NumberArray");
    expect(errors(data("    x = [[1, 2], [3, 1e]]"))).toEqual(["NC1004 3:22"]);
  });
});
