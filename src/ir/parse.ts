import { Diagnostics, suggest } from "../base/diagnostics.js";
import { SourceFile, type Span } from "../base/source.js";
import { Graph, type ArgRole, type Attrs, type AttrValue, type Init, type Kernel, type Origin, type Value } from "./graph.js";
import { OPS, opDef } from "./ops/registry.js";
import type { InferCtx } from "./ops/types.js";
import { DTYPES, formatType, type Dim, type DType, type TensorType } from "./types.js";
import { Cursor, describeTok, lex, LineError, type Tok } from "./parse-tokens.js";
import { verifyGraph } from "./verify.js";

/**
 * Parses the IR text form back into a graph: exactly what `printGraph` prints, with or without
 * `--debug-info` `loc(...)` suffixes (which are read and ignored). The format is line-oriented:
 *
 *     graph @name(
 *         ROLE %name: TYPE [= INIT[(k=v, ...)]],
 *     ) {
 *       [// forward | // grad | // update]
 *       %r = OP [%a, %b] [{k=v, ...}] : TYPE [loc("file":line:col)]
 *       kernel @kN KIND {
 *         ...nodes...
 *       }
 *       output "name" = %v
 *       loss = %v
 *       grad %param = %v
 *       update %param := %v
 *     }
 *
 * Semantics of what the text leaves implicit:
 * - Types printed as `?` mean the graph is untyped (`graph.typed = false`); every value then gets
 *   the frontend's placeholder type `f32[]`. Either every type is `?` or none is. In a typed graph
 *   each node's printed type is checked against its op's shape rule.
 * - Results may have any `%name` (the printer numbers them 0, 1, ...); names are defined once and
 *   must be defined before use.
 * - A `// forward|grad|update` line sets the origin of the nodes after it (initially `forward`);
 *   other `//` comment lines are ignored. The printer labels a whole kernel by its last node's
 *   origin, so every node of a kernel takes the origin in effect at its `kernel` line; an origin
 *   comment inside a kernel is an error.
 * - A kernel's inputs are computed as the fuse pass does: the values its nodes read from outside
 *   it, in first-use order, except results of source ops (`const`, `size`), which are inlined.
 *   Its output is its last node.
 * - Attribute values: numbers (incl. `Infinity`, `-Infinity`, `NaN`), `true`/`false`, lists of
 *   dims `[B,1,-1]`, and otherwise bare words as strings (the printer does not quote strings, so
 *   a string that reads as a number or boolean cannot round-trip). `"quoted"` strings are accepted too.
 * - Each node and argument gets a span covering its line of the IR text, in a SourceFile named
 *   `file` (default `<ir>`), so later errors can point into the IR.
 *
 * Errors are returned as `line:col: message` strings (1-based), never thrown; `graph` is present
 * only when there are none.
 */
export function parseGraph(text: string, file = "<ir>"): { graph?: Graph; errors: string[] } {
  return new IrParser(new SourceFile(file, text)).run();
}

/** The placeholder type of values in an untyped graph (as the frontend's lowering uses). */
const UNTYPED: TensorType = { dtype: "f32", shape: [] };
const ROLES: readonly ArgRole[] = ["input", "label", "param", "state", "hyper"];
const INITS: readonly Init["kind"][] = ["zeros", "ones", "normal", "uniform", "xavier", "he"];
const KINDS: readonly Kernel["kind"][] = ["elementwise", "reduce", "contraction", "window", "movement", "row", "multi"];
const ORIGINS: readonly Origin[] = ["forward", "grad", "update"];

/** A line that fails only because it uses a value whose own line failed: not reported again. */
class Poisoned {}

// ---------------------------------------------------------------- parser

interface OpenKernel {
  name: string;
  kind: Kernel["kind"];
  nodes: Kernel["nodes"];
  /** A line inside it failed (so an empty kernel is not reported again). */
  failed: boolean;
}

class IrParser {
  private readonly errors: string[] = [];
  private graph?: Graph;
  private readonly values = new Map<string, { value: Value; line: number }>();
  /** Names whose defining line failed: uses of them are not reported again. */
  private readonly poisoned = new Set<string>();
  private typed?: boolean;
  private origin: Origin = "forward";
  private kernel?: OpenKernel;
  private readonly kernels: Kernel[] = [];
  private readonly kernelNames = new Set<string>();
  private state: "header" | "args" | "body" | "end" = "header";
  private lineNo = 0;
  private lineStart = 0;
  private lineText = "";

  constructor(readonly source: SourceFile) {}

  run(): { graph?: Graph; errors: string[] } {
    const lines = this.source.text.split("\n");
    // A final newline ends the last line rather than starting an empty one.
    if (lines.length > 1 && lines.at(-1) === "") lines.pop();
    for (let i = 0; i < lines.length; i++) {
      this.lineNo = i + 1;
      this.lineStart = this.source.lineStarts[i]!;
      this.lineText = lines[i]!.replace(/\r$/, "");
      if (!this.lineText.trim()) continue;
      try {
        const trimmed = this.lineText.trimStart();
        if (trimmed.startsWith("//")) this.comment(trimmed.slice(2));
        else this.line(lex(this.lineText));
      } catch (e) {
        if (!(e instanceof LineError || e instanceof Poisoned)) throw e;
        if (e instanceof LineError) this.report(this.lineNo, e.col, e.message);
        if (this.kernel) this.kernel.failed = true;
        // Whatever the line defines is poisoned, so its uses are not reported again.
        const defined = (this.state === "args" ? /^\s*\w+\s+%([^\s:,]+)/ : /^\s*%([^\s=]+)\s*=/).exec(this.lineText)?.[1];
        if (defined !== undefined && !this.values.has(defined)) this.poisoned.add(defined);
      }
    }
    if (this.state !== "end") {
      const line = Math.max(1, lines.length);
      const what = this.state === "header" ? "a `graph @name(` header" : this.kernel ? `\`}\` closing kernel @${this.kernel.name}` : "`}` closing the graph";
      this.report(line, (lines[line - 1] ?? "").length, `unexpected end of input: expected ${what}`);
    }
    if (this.errors.length || !this.graph) return { errors: this.errors };
    const g = this.graph;
    g.typed = this.typed ?? false;
    if (this.kernels.length) g.kernels = this.kernels;
    // A member before a kernel's last node that is materialised (fuse's step 2b) or read by
    // another kernel (a row or multi kernel's results) is one the kernel writes too; a reshape
    // (an alias) read elsewhere has its input written.
    const kept = new Set(g.materialized());
    const owner = new Map<Value, Kernel>();
    for (const k of this.kernels) for (const n of k.nodes) owner.set(n.out, k);
    const readElsewhere = new Set<Value>();
    for (const n of g.nodes) for (const v of n.inputs) if (owner.has(v) && owner.get(v) !== owner.get(n.out)) readElsewhere.add(v);
    for (const k of this.kernels) {
      const extras: Value[] = [];
      for (const n of k.nodes.slice(0, -1)) {
        const out = n.op === "reshape" ? n.inputs[0]! : n.out;
        if ((kept.has(n.out) || readElsewhere.has(n.out)) && out !== k.output && !extras.includes(out)) extras.push(out);
      }
      if (extras.length) k.extraOutputs = extras;
    }
    try {
      verifyGraph(g);
    } catch (e) {
      return { errors: [`1:1: ${(e as Error).message.replace(/^internal: /, "")}`] };
    }
    return { graph: g, errors: [] };
  }

  private report(line: number, col: number, message: string): void {
    this.errors.push(`${line}:${col + 1}: ${message}`);
  }

  /** The span of the current line, without its indentation. */
  private span(): Span {
    const indent = this.lineText.length - this.lineText.trimStart().length;
    return { file: this.source, start: this.lineStart + indent, end: this.lineStart + this.lineText.trimEnd().length };
  }

  private line(toks: Tok[]): void {
    const c = new Cursor(toks);
    switch (this.state) {
      case "header":
        try {
          return this.header(c);
        } finally {
          this.graph ??= new Graph("?");
        }
      case "args":
        if (c.peek().text === ")" && c.peek().kind === "punct") {
          c.next();
          c.expect("{");
          c.end();
          this.state = "body";
          return;
        }
        return this.arg(c);
      case "body":
        return this.body(c);
      case "end":
        throw new LineError(c.peek().col, "unexpected text after the end of the graph");
    }
  }

  private header(c: Cursor): void {
    // Whatever the first line holds, the lines after it are read as arguments.
    this.state = "args";
    c.expect("graph", "`graph @name(`");
    const name = c.expectKind("global", "the graph's `@name`");
    c.expect("(");
    c.end();
    this.graph = new Graph(name.text);
  }

  private arg(c: Cursor): void {
    const roleTok = c.expectKind("word", `an argument (${ROLES.join(", ")}) or \`) {\``);
    const role = roleTok.text as ArgRole;
    if (!ROLES.includes(role)) throw new LineError(roleTok.col, `unknown argument role \`${roleTok.text}\`; expected one of: ${ROLES.join(", ")}`);
    const name = c.expectKind("ref", "the argument's `%name`");
    const taken = this.values.get(name.text);
    try {
      if (taken) throw new LineError(name.col, `%${name.text} is already defined on line ${taken.line}`);
      c.expect(":");
      const type = this.type(c);
      let init: Init | undefined;
      if (c.eat("=")) init = this.init(c);
      c.eat(",");
      c.end();
      const g = this.graph!;
      const v = g.addArg({ role, name: name.text, ...(init ? { init } : {}) }, type, this.span());
      this.values.set(name.text, { value: v, line: this.lineNo });
    } catch (e) {
      if (!taken) this.poisoned.add(name.text);
      throw e;
    }
  }

  private init(c: Cursor): Init {
    const t = c.expectKind("word", "an initialiser");
    const kind = t.text as Init["kind"];
    if (!INITS.includes(kind)) throw new LineError(t.col, `unknown initialiser \`${t.text}\`; expected one of: ${INITS.join(", ")}`);
    const options: Record<string, number> = {};
    if (c.eat("(")) {
      if (!c.eat(")")) {
        do {
          const key = c.expectKind("word", "an option name");
          if (key.text in options) throw new LineError(key.col, `option \`${key.text}\` given twice`);
          c.expect("=");
          options[key.text] = c.expectKind("num", "a number").num!;
        } while (c.eat(","));
        c.expect(")", "`,` or `)`");
      }
    }
    return { kind, options };
  }

  /** `?` or `f32[B,3]`; records whether the graph is typed and checks every type agrees. */
  private type(c: Cursor): TensorType {
    const t = c.peek();
    let parsed: TensorType | undefined;
    if (c.eat("?")) parsed = undefined;
    else {
      if (t.kind !== "word") throw new LineError(t.col, `bad type: expected a dtype (${DTYPES.join(", ")}) or \`?\`, got ${describeTok(t)}`);
      c.next();
      if (!DTYPES.includes(t.text as DType)) throw new LineError(t.col, `bad type: unknown dtype \`${t.text}\`; expected one of: ${DTYPES.join(", ")}`);
      const open = c.peek();
      if (!c.eat("[")) throw new LineError(open.col, `bad type: expected \`[\` after \`${t.text}\`, got ${describeTok(open)}`);
      const shape: Dim[] = [];
      if (!c.eat("]")) {
        do {
          const d = c.peek();
          if (d.kind === "num" && Number.isInteger(d.num) && d.num! >= 0) shape.push(d.num!);
          else if (d.kind === "word") shape.push(d.text);
          else throw new LineError(d.col, `bad type: expected a dim (a size or a symbol), got ${describeTok(d)}`);
          c.next();
        } while (c.eat(","));
        const close = c.peek();
        if (!c.eat("]")) throw new LineError(close.col, `bad type: expected \`,\` or \`]\`, got ${describeTok(close)}`);
      }
      parsed = { dtype: t.text as DType, shape };
    }
    const typed = parsed !== undefined;
    if (this.typed === undefined) this.typed = typed;
    else if (this.typed !== typed)
      throw new LineError(t.col, typed ? "a type in an untyped graph (earlier types are `?`)" : "`?` in a typed graph (earlier types are given)");
    return parsed ?? { ...UNTYPED, shape: [] };
  }

  /** A `%name` that must be defined. */
  private use(c: Cursor, what = "a value `%name`"): Value {
    const t = c.expectKind("ref", what);
    const v = this.values.get(t.text);
    if (v) return v.value;
    if (this.poisoned.has(t.text)) throw new Poisoned();
    throw new LineError(t.col, `use of undefined value %${t.text}`);
  }

  private body(c: Cursor): void {
    const t = c.peek();
    if (t.kind === "ref") return this.node(c);
    if (t.kind === "punct" && t.text === "}") {
      c.next();
      c.end();
      if (this.kernel) this.closeKernel();
      else this.state = "end";
      return;
    }
    if (t.kind === "word") {
      switch (t.text) {
        case "kernel":
          return this.openKernel(c);
        case "output":
        case "loss":
        case "grad":
        case "update":
          if (this.kernel) throw new LineError(t.col, `\`${t.text}\` inside kernel @${this.kernel.name}; close the kernel with \`}\` first`);
          return this.result(c);
      }
    }
    throw new LineError(t.col, `expected a node \`%r = op ...\`, \`kernel\`, \`output\`, \`loss\`, \`grad\`, \`update\`, an origin comment or \`}\`, got ${describeTok(t)}`);
  }

  private node(c: Cursor): void {
    const g = this.graph!;
    const res = c.next();
    const taken = this.values.get(res.text);
    if (taken) throw new LineError(res.col, `%${res.text} is already defined on line ${taken.line}`);
    try {
      c.expect("=", "`=` after the result");
      const opTok = c.expectKind("word", "an op name");
      if (!Object.hasOwn(OPS, opTok.text))
        throw new LineError(opTok.col, `unknown op \`${opTok.text}\`${suggest(opTok.text, Object.keys(OPS))}`);
      const def = opDef(opTok.text);
      const inputs: Value[] = [];
      if (c.peek().kind === "ref") {
        do inputs.push(this.use(c, "an operand `%name`"));
        while (c.eat(","));
      }
      const arityOk = def.arity === -1 ? inputs.length >= 1 : inputs.length === def.arity;
      if (!arityOk) {
        const wants = def.arity === -1 ? "one or more operands" : `${def.arity} operand${def.arity === 1 ? "" : "s"}`;
        throw new LineError(opTok.col, `\`${opTok.text}\` takes ${wants}, got ${inputs.length}`);
      }
      const attrs = c.peek().text === "{" && c.peek().kind === "punct" ? this.attrs(c) : {};
      c.expect(":", inputs.length ? "`,`, attributes `{...}` or `:` and the result type" : "operands, attributes `{...}` or `:` and the result type");
      const typeTok = c.peek();
      const type = this.type(c);
      if (c.peek().kind === "word" && c.peek().text === "loc") this.loc(c);
      c.end();
      if (this.typed) this.checkType(opTok, typeTok, inputs, attrs, type);
      const v = g.addNode(opTok.text, inputs, attrs, type, this.span(), this.origin);
      this.values.set(res.text, { value: v, line: this.lineNo });
      this.kernel?.nodes.push(v.producer!);
    } catch (e) {
      this.poisoned.add(res.text);
      throw e;
    }
  }

  /** In a typed graph, the printed type must be what the op's shape rule gives. */
  private checkType(opTok: Tok, typeTok: Tok, inputs: Value[], attrs: Attrs, type: TensorType): void {
    const d = new Diagnostics();
    const ctx: InferCtx = {
      op: opTok.text,
      error: (code, args) => void d.error(code, undefined, args),
      unify: (a, b) => (a === b ? a : undefined),
    };
    let got: TensorType | undefined;
    try {
      got = opDef(opTok.text).infer(inputs.map((v) => v.type), attrs, ctx);
    } catch (e) {
      throw new LineError(opTok.col, `\`${opTok.text}\`: ${(e as Error).message.replace(/^internal: /, "")}`);
    }
    if (d.items.length || !got) throw new LineError(opTok.col, `\`${opTok.text}\`: ${d.items[0]?.message ?? "its operands have no valid result type"}`);
    if (formatType(got) !== formatType(type))
      throw new LineError(typeTok.col, `\`${opTok.text}\` gives ${formatType(got)} here, but the line says ${formatType(type)}`);
  }

  /** `{k=v, ...}` */
  private attrs(c: Cursor): Attrs {
    c.expect("{");
    const attrs: Attrs = {};
    if (c.eat("}")) return attrs;
    do {
      const key = c.expectKind("word", "an attribute name");
      if (Object.hasOwn(attrs, key.text)) throw new LineError(key.col, `attribute \`${key.text}\` given twice`);
      c.expect("=");
      attrs[key.text] = this.attrValue(c);
    } while (c.eat(","));
    c.expect("}", "`,` or `}`");
    return attrs;
  }

  private attrValue(c: Cursor): AttrValue {
    const t = c.next();
    if (t.kind === "num") return t.num!;
    if (t.kind === "str") return t.text;
    if (t.kind === "word") return t.text === "true" ? true : t.text === "false" ? false : t.text;
    if (t.kind === "punct" && t.text === "[") {
      const list: Dim[] = [];
      if (c.eat("]")) return list;
      do {
        const d = c.next();
        if (d.kind === "num") list.push(d.num!);
        else if (d.kind === "word") list.push(d.text);
        else throw new LineError(d.col, `expected a number or a dim symbol in the list, got ${describeTok(d)}`);
      } while (c.eat(","));
      c.expect("]", "`,` or `]`");
      return list;
    }
    throw new LineError(t.col, `expected an attribute value (a number, \`true\`, \`false\`, a name or a list \`[...]\`), got ${describeTok(t)}`);
  }

  /** `loc("file":line:col)`, read and ignored. */
  private loc(c: Cursor): void {
    c.expect("loc");
    c.expect("(");
    c.expectKind("str", "a file name");
    c.expect(":");
    c.expectKind("num", "a line number");
    c.expect(":");
    c.expectKind("num", "a column number");
    c.expect(")");
  }

  /** `// grad`: the origin of the nodes that follow; other comments are ignored. */
  private comment(text: string): void {
    const word = text.trim();
    if (!(ORIGINS as readonly string[]).includes(word)) return;
    const col = this.lineText.indexOf("//");
    if (this.state !== "body") throw new LineError(col, `origin comment \`// ${word}\` outside the graph's body`);
    if (this.kernel)
      throw new LineError(
        col,
        `origin comment inside kernel @${this.kernel.name}: a kernel takes the origin in effect at its \`kernel\` line`,
      );
    this.origin = word as Origin;
  }

  private openKernel(c: Cursor): void {
    const kw = c.next();
    if (this.kernel) throw new LineError(kw.col, `kernel inside kernel @${this.kernel.name}`);
    const name = c.expectKind("global", "the kernel's `@name`");
    if (this.kernelNames.has(name.text)) throw new LineError(name.col, `kernel @${name.text} is already defined`);
    const kindTok = c.expectKind("word", `a kernel kind (${KINDS.join(", ")})`);
    const kind = kindTok.text as Kernel["kind"];
    if (!KINDS.includes(kind)) throw new LineError(kindTok.col, `unknown kernel kind \`${kindTok.text}\`; expected one of: ${KINDS.join(", ")}`);
    c.expect("{");
    c.end();
    this.kernelNames.add(name.text);
    this.kernel = { name: name.text, kind, nodes: [], failed: false };
  }

  /** Inputs as the fuse pass computes them: outside values in first-use order, source results inlined. */
  private closeKernel(): void {
    const k = this.kernel!;
    this.kernel = undefined;
    if (!k.nodes.length) {
      // An empty kernel, unless its nodes failed to parse (already reported).
      if (!k.failed) throw new LineError(this.lineText.indexOf("}"), `kernel @${k.name} has no nodes`);
      return;
    }
    const inside = new Set(k.nodes.map((n) => n.out));
    const inputs: Value[] = [];
    for (const n of k.nodes)
      for (const v of n.inputs)
        if (!inside.has(v) && !inputs.includes(v) && !(v.producer && opDef(v.producer.op).kind === "source")) inputs.push(v);
    this.kernels.push({ name: k.name, kind: k.kind, nodes: k.nodes, inputs, output: k.nodes.at(-1)!.out });
  }

  /** `output "y" = %v`, `loss = %v`, `grad %p = %v`, `update %p := %v`. */
  private result(c: Cursor): void {
    const g = this.graph!;
    const kw = c.next();
    switch (kw.text) {
      case "output": {
        const name = c.expectKind("str", 'the output\'s `"name"`');
        if (g.outputs.some((o) => o.name === name.text)) throw new LineError(name.col, `output "${name.text}" is already defined`);
        c.expect("=");
        const value = this.use(c);
        c.end();
        g.outputs.push({ name: name.text, value });
        return;
      }
      case "loss": {
        if (g.loss) throw new LineError(kw.col, "the loss is already defined");
        c.expect("=");
        const value = this.use(c);
        c.end();
        g.loss = value;
        return;
      }
      case "grad":
      case "update": {
        const paramTok = c.peek();
        const param = this.use(c, "a graph argument `%name`");
        if (!param.arg) throw new LineError(paramTok.col, `\`${kw.text}\` names %${paramTok.text}, which is not a graph argument`);
        c.expect(kw.text === "grad" ? "=" : ":=");
        const value = this.use(c);
        c.end();
        if (kw.text === "grad") g.grads.push({ param, grad: value });
        else g.updates.push({ param, value });
        return;
      }
    }
  }
}
