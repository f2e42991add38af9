import { EOF, type CstNode, type IRecognitionException, type IToken } from "chevrotain";
import type { NumberArrayPayload } from "../../grammar/number-array.js";
import { parser } from "../../grammar/parser.js";
import { Block, Float, Import, isWellFormedNumber, netLexer, Network, Train } from "../../grammar/tokens.js";
import type {
  ArrayLit,
  BlockDecl,
  BlockParam,
  DataEntry,
  DimExpr,
  Expr,
  Ident,
  ImportDecl,
  InputDecl,
  KwArg,
  LetStmt,
  NetworkDecl,
  NumberArrayLit,
  OutputDecl,
  ParamDecl,
  Program,
  Stmt,
  TrainDecl,
  TrainSetting,
  TypeExpr,
} from "./ast.js";
import type { DiagnosticCode, Diagnostics } from "../base/diagnostics.js";
import { MAX_NESTING, tooDeep } from "./nesting.js";
import type { SourceFile, Span } from "../base/source.js";

/**
 * Parses a `.net` file into the AST:
 *   1. lex; every bad character run is an NC1001 error and every malformed number an NC1004;
 *   2. parse the tokens with the shared recovering CstParser; every syntax error is an NC1002;
 *      when the parser stops early on junk between top-level blocks, parsing resumes at the next
 *      `import`, `block`, `network` or `train` keyword so later blocks are still checked;
 *   3. turn the CST into the AST with a CST visitor, dropping nodes the recovery left incomplete.
 * Errors are reported in source order. Never throws for any input.
 */
export function parseProgram(file: SourceFile, d: Diagnostics): Program {
  const program: Program = { imports: [], blocks: [], networks: [], trains: [], span: { file, start: 0, end: file.text.length } };
  const problems: Problem[] = [];
  let tokens: IToken[] = [];
  try {
    const lexed = netLexer.tokenize(file.text);
    tokens = lexed.tokens;
    for (const e of lexed.errors) {
      const text = file.text.slice(e.offset, e.offset + Math.max(1, e.length));
      problems.push({ code: "NC1001", start: e.offset, end: e.offset + Math.max(1, e.length), args: { text: `\`${text}\`` } });
    }
    for (const t of tokens) {
      if (t.tokenType === Float && !isWellFormedNumber(t.image)) {
        problems.push({ code: "NC1004", start: t.startOffset, end: t.endOffset! + 1, args: { text: `\`${t.image}\`` } });
      }
    }
    const deep = tooDeep(tokens);
    if (deep) {
      // NOTE: the parser would overflow the stack on it; nothing is parsed, as a syntax error would stop it.
      problems.push({ code: "NC1006", start: deep.token.startOffset, end: deep.token.endOffset! + 1, args: { depth: String(deep.depth), limit: String(MAX_NESTING) } });
    }
    const visitor = new AstBuilder(file, problems);
    let from = deep ? -1 : 0;
    while (from >= 0) {
      parser.input = from === 0 ? tokens : tokens.slice(from);
      const cst = parser.program();
      const errors = parser.errors;
      for (const e of errors) problems.push(syntaxProblem(e, tokens, file));
      const part = visitor.program(cst.children as ProgramCtx);
      program.imports.push(...part.imports);
      program.blocks.push(...part.blocks);
      program.networks.push(...part.networks);
      program.trains.push(...part.trains);
      // NOTE: when its repetition recovery cannot skip junk between blocks (e.g. a stray `;` at
      // the top level), chevrotain stops with "not all input parsed"; resume at the next block
      // keyword after the junk so that it does not hide the blocks, and errors, that follow.
      const stop = errors.find((e) => e.name === "NotAllInputParsedException");
      if (!stop) break;
      const at = tokens.indexOf(stop.token, from);
      const next = at < 0 ? -1 : tokens.findIndex((t, i) => i > at && TOP_LEVEL.includes(t.tokenType));
      if (next < 0) break;
      from = next;
    }
  } catch (e) {
    // NOTE: a throw here is a bug in the parser or visitor; report it rather than crash the caller.
    const where = lastCharOffset(tokens, file);
    problems.push({ code: "NC1002", start: where, end: where + 1, args: { message: `internal parser error: ${String(e)}` } });
  }
  // NOTE: the shared parser would otherwise keep this file's tokens alive until the next parse.
  parser.input = [];
  report(problems, d, file, tokens);
  return program;
}

/** The keywords that start a top-level declaration, where parsing resumes after junk. */
const TOP_LEVEL = [Import, Block, Network, Train];

/** One error found while parsing, before it is reported. */
interface Problem {
  code: DiagnosticCode;
  start: number;
  end: number;
  args: Record<string, string>;
}

/**
 * Reports problems in source order. Two kinds are dropped as cascades of an earlier problem:
 * a second problem at the same place, and a syntax error on the token right after an earlier
 * problem (e.g. `input param: ...` fails at `param` and again at `:`; the token after a bad
 * character usually fails too). Errors separated by at least one good token are all kept.
 */
function report(problems: Problem[], d: Diagnostics, file: SourceFile, tokens: IToken[]): void {
  const sorted = [...problems].sort((a, b) => a.start - b.start);
  let previous: Problem | undefined;
  for (const p of sorted) {
    if (previous && p.start === previous.start) continue;
    if (previous && p.code === "NC1002" && tokensBefore(tokens, p.start) <= tokensBefore(tokens, previous.end)) continue;
    d.error(p.code, { file, start: p.start, end: p.end }, p.args);
    previous = p;
  }
}

/** How many tokens start before `offset` (binary search; tokens are in offset order). */
function tokensBefore(tokens: IToken[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** An NC1002 problem for a chevrotain recognition error, on the offending token. */
function syntaxProblem(e: IRecognitionException, tokens: IToken[], file: SourceFile): Problem {
  const t = e.token;
  const message = e.message;
  if (t.tokenType === EOF || !isRealToken(t)) {
    // NOTE: at end of input there is no token to point at; point at the last character instead.
    const at = lastCharOffset(tokens, file);
    return { code: "NC1002", start: at, end: at + 1, args: { message } };
  }
  return { code: "NC1002", start: t.startOffset, end: t.endOffset! + 1, args: { message } };
}

/** The offset of the last non-blank character: the end of the last token, else of the text. */
function lastCharOffset(tokens: IToken[], file: SourceFile): number {
  const last = tokens[tokens.length - 1];
  if (last && isRealToken(last)) return last.endOffset!;
  const trimmed = file.text.trimEnd().length;
  return Math.max(0, trimmed - 1);
}

/** False for tokens the parser invented while recovering (they have no text or position). */
function isRealToken(t: IToken | undefined): t is IToken {
  return t !== undefined && !t.isInsertedInRecovery && !Number.isNaN(t.startOffset) && t.endOffset !== undefined && !Number.isNaN(t.endOffset);
}

// ---------------------------------------------------------------------------------------------
// The CST shapes the grammar produces (one interface per rule; all children optional because
// error recovery can leave any of them out).

type Tokens = IToken[] | undefined;
type Nodes = CstNode[] | undefined;

interface ProgramCtx {
  importDecl?: CstNode[];
  blockDecl?: CstNode[];
  networkDecl?: CstNode[];
  trainDecl?: CstNode[];
}
interface ImportDeclCtx {
  Import?: IToken[];
  StringLiteral?: IToken[];
}
interface BlockDeclCtx {
  Block?: IToken[];
  Identifier?: IToken[];
  blockParams?: CstNode[];
  stmt?: CstNode[];
}
interface BlockParamsCtx {
  blockParam?: CstNode[];
}
interface BlockParamCtx {
  Identifier?: IToken[];
  Equals?: IToken[];
  expr?: CstNode[];
}
interface NetworkDeclCtx {
  Network?: IToken[];
  Identifier?: IToken[];
  stmt?: CstNode[];
}
interface StmtCtx {
  inputDecl?: CstNode[];
  paramDecl?: CstNode[];
  outputDecl?: CstNode[];
  letStmt?: CstNode[];
}
interface DeclCtx {
  Identifier?: IToken[];
  typeExpr?: CstNode[];
  Equals?: IToken[];
  expr?: CstNode[];
}
interface TypeExprCtx {
  Identifier?: IToken[];
  dim?: CstNode[];
}
interface DimCtx {
  additive?: CstNode[];
}
interface BinaryCtx {
  additive?: CstNode[];
  multiplicative?: CstNode[];
  unary?: CstNode[];
  Plus?: IToken[];
  Minus?: IToken[];
  Star?: IToken[];
  Slash?: IToken[];
  At?: IToken[];
}
interface UnaryCtx {
  Minus?: IToken[];
  unary?: CstNode[];
  primary?: CstNode[];
}
interface PrimaryCtx {
  NumberLiteral?: IToken[];
  callOrName?: CstNode[];
  LParen?: IToken[];
  expr?: CstNode[];
  arrayLit?: CstNode[];
}
interface CallOrNameCtx {
  Identifier?: IToken[];
  Colon?: IToken[];
  LParen?: IToken[];
  args?: CstNode[];
}
interface ArgsCtx {
  arg?: CstNode[];
}
interface ArgCtx {
  Identifier?: IToken[];
  expr?: CstNode[];
}
interface ArrayLitCtx {
  expr?: CstNode[];
}
interface TrainDeclCtx {
  trainSetting?: CstNode[];
  dataBlock?: CstNode[];
}
interface DataBlockCtx {
  Data?: IToken[];
  dataEntry?: CstNode[];
  expr?: CstNode[];
}
interface EntryCtx {
  Identifier?: IToken[];
  expr?: CstNode[];
  NumberArray?: IToken[];
}

/** A call argument before it is sorted into positional and keyword lists. */
type Arg = { kind: "positional"; value: Expr } | { kind: "keyword"; kw: KwArg };

// NOTE: every visit passes the CST node itself as the visitor parameter, so a method can read
// the node's location (chevrotain hands methods only the children otherwise).
const BaseVisitor = parser.getBaseCstVisitorConstructor<CstNode, unknown>();

/**
 * Builds the AST from the CST. Every visit method returns `undefined` for a node that error
 * recovery left incomplete; lists drop such entries, so a file with errors still yields the
 * parts that parsed.
 */
class AstBuilder extends BaseVisitor {
  constructor(
    private readonly file: SourceFile,
    private readonly problems: Problem[],
  ) {
    super();
    this.validateVisitor();
  }

  // --- helpers ---

  /** Visits the first node of a child list. */
  private one<T>(nodes: Nodes): T | undefined {
    const n = nodes?.[0];
    return n ? (this.visit(n, n) as T | undefined) : undefined;
  }

  /** Visits every node of a child list, dropping incomplete results. */
  private all<T>(nodes: Nodes): T[] {
    return (nodes ?? []).map((n) => this.visit(n, n) as T | undefined).filter((x): x is T => x !== undefined);
  }

  private tokenSpan(t: IToken): Span {
    return { file: this.file, start: t.startOffset, end: t.endOffset! + 1 };
  }

  /** The span of a CST node, from its first to its last real token. */
  private nodeSpan(n: CstNode): Span | undefined {
    const loc = n.location;
    if (!loc || Number.isNaN(loc.startOffset) || loc.endOffset === undefined || Number.isNaN(loc.endOffset)) return undefined;
    return { file: this.file, start: loc.startOffset, end: loc.endOffset + 1 };
  }

  private ident(tokens: Tokens): Ident | undefined {
    const t = tokens?.[0];
    return isRealToken(t) ? { name: t.image, span: this.tokenSpan(t) } : undefined;
  }

  private join(a: Span, b: Span): Span {
    return { file: this.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
  }

  // --- top level ---

  program(ctx: ProgramCtx): Omit<Program, "span"> {
    return {
      imports: this.all<ImportDecl>(ctx.importDecl),
      blocks: this.all<BlockDecl>(ctx.blockDecl),
      networks: this.all<NetworkDecl>(ctx.networkDecl),
      trains: this.all<TrainDecl>(ctx.trainDecl),
    };
  }

  importDecl(ctx: ImportDeclCtx, node?: CstNode): ImportDecl | undefined {
    const str = ctx.StringLiteral?.[0];
    const keyword = ctx.Import?.[0];
    if (!isRealToken(str) || !isRealToken(keyword)) return undefined;
    const pathSpan = this.tokenSpan(str);
    return { kind: "import", path: str.image.slice(1, -1), pathSpan, span: this.spanOr(node, this.join(this.tokenSpan(keyword), pathSpan)) };
  }

  blockDecl(ctx: BlockDeclCtx, node?: CstNode): BlockDecl | undefined {
    const name = this.ident(ctx.Identifier);
    const keyword = ctx.Block?.[0];
    if (!name || !isRealToken(keyword)) return undefined;
    // NOTE: a block whose header did not parse is dropped whole: calls to it with a half-known
    // signature would only produce confusing follow-up errors.
    const params = ctx.blockParams ? this.one<BlockParam[]>(ctx.blockParams) : [];
    if (!params) return undefined;
    const body = this.all<Stmt>(ctx.stmt);
    return { kind: "block", name, params, body, span: this.spanOr(node, this.tokenSpan(keyword)) };
  }

  blockParams(ctx: BlockParamsCtx): BlockParam[] | undefined {
    const params = (ctx.blockParam ?? []).map((n) => this.visit(n, n) as BlockParam | undefined);
    return params.some((x) => x === undefined) ? undefined : (params as BlockParam[]);
  }

  blockParam(ctx: BlockParamCtx, node?: CstNode): BlockParam | undefined {
    const name = this.ident(ctx.Identifier?.slice(0, 1));
    const type = this.ident(ctx.Identifier?.slice(1, 2));
    if (!name || !type) return undefined;
    const param: BlockParam = { name, type, span: this.spanOr(node, this.join(name.span, type.span)) };
    if (ctx.Equals) {
      const value = this.one<Expr>(ctx.expr);
      if (!value) return undefined;
      param.default = value;
    }
    return param;
  }

  networkDecl(ctx: NetworkDeclCtx, node?: CstNode): NetworkDecl | undefined {
    const name = this.ident(ctx.Identifier);
    const keyword = ctx.Network?.[0];
    if (!name || !isRealToken(keyword)) return undefined;
    const body = this.all<Stmt>(ctx.stmt);
    return { kind: "network", name, body, span: this.spanOr(node, this.tokenSpan(keyword)) };
  }

  /** The node's span, or a fallback when location tracking has none. */
  private spanOr(node: CstNode | undefined, fallback: Span): Span {
    return (node && this.nodeSpan(node)) ?? fallback;
  }

  // --- network statements ---

  stmt(ctx: StmtCtx): Stmt | undefined {
    return (
      this.one<InputDecl>(ctx.inputDecl) ??
      this.one<ParamDecl>(ctx.paramDecl) ??
      this.one<OutputDecl>(ctx.outputDecl) ??
      this.one<LetStmt>(ctx.letStmt)
    );
  }

  inputDecl(ctx: DeclCtx, node?: CstNode): InputDecl | undefined {
    const name = this.ident(ctx.Identifier);
    const type = this.one<TypeExpr>(ctx.typeExpr);
    if (!name || !type) return undefined;
    return { kind: "input", name, type, span: this.spanOr(node, this.join(name.span, type.span)) };
  }

  paramDecl(ctx: DeclCtx, node?: CstNode): ParamDecl | undefined {
    const name = this.ident(ctx.Identifier);
    const type = this.one<TypeExpr>(ctx.typeExpr);
    if (!name || !type) return undefined;
    const decl: ParamDecl = { kind: "param", name, type, span: this.spanOr(node, this.join(name.span, type.span)) };
    if (ctx.Equals) {
      const init = this.one<Expr>(ctx.expr);
      if (!init) return undefined;
      decl.init = init;
    }
    return decl;
  }

  outputDecl(ctx: DeclCtx, node?: CstNode): OutputDecl | undefined {
    const name = this.ident(ctx.Identifier);
    if (!name) return undefined;
    const decl: OutputDecl = { kind: "output", name, span: this.spanOr(node, name.span) };
    if (ctx.typeExpr) {
      const type = this.one<TypeExpr>(ctx.typeExpr);
      if (!type) return undefined;
      decl.type = type;
    }
    if (ctx.Equals) {
      const value = this.one<Expr>(ctx.expr);
      if (!value) return undefined;
      decl.value = value;
    }
    return decl;
  }

  letStmt(ctx: DeclCtx, node?: CstNode): LetStmt | undefined {
    const names = (ctx.Identifier ?? []).map((t) => this.ident([t]));
    const value = this.one<Expr>(ctx.expr);
    const name = names[0];
    if (!name || !value || names.some((n) => n === undefined)) return undefined;
    return { kind: "let", name, names: names as Ident[], value, span: this.spanOr(node, this.join(name.span, value.span)) };
  }

  // --- types ---

  typeExpr(ctx: TypeExprCtx, node?: CstNode): TypeExpr | undefined {
    const dtype = this.ident(ctx.Identifier);
    if (!dtype) return undefined;
    const dims = (ctx.dim ?? []).map((n) => this.visit(n, n) as DimExpr | undefined);
    if (dims.some((x) => x === undefined)) return undefined;
    return { kind: "type", dtype, dims: dims as DimExpr[], span: this.spanOr(node, dtype.span) };
  }

  dim(ctx: DimCtx): DimExpr | undefined {
    const e = this.one<Expr>(ctx.additive);
    if (!e) return undefined;
    if (e.kind === "number") return { kind: "dim", value: e.value, span: e.span };
    if (e.kind === "name") return { kind: "dim", value: e.name, span: e.span };
    // NOTE: arithmetic is evaluated in resolveType, after a block's int params are substituted.
    return { kind: "dim", value: e.span.file.text.slice(e.span.start, e.span.end), expr: e, span: e.span };
  }

  // --- expressions ---

  expr(ctx: { additive?: CstNode[]; callOrName?: CstNode[] }): Expr | undefined {
    let left = this.one<Expr>(ctx.additive);
    // Each pipe stage is a call (or a bare function name) taking the value so far first.
    for (const n of ctx.callOrName ?? []) {
      const stage = this.visit(n, n) as Expr | undefined;
      if (!left || !stage) return undefined;
      const span = this.join(left.span, stage.span);
      if (stage.kind === "name") left = { kind: "call", callee: { name: stage.name, span: stage.span }, args: [left], kwargs: [], span };
      else if (stage.kind === "call") left = { ...stage, args: [left, ...stage.args], span };
      else return undefined;
    }
    return left;
  }

  additive(ctx: BinaryCtx): Expr | undefined {
    return this.binaryChain(ctx.multiplicative, [...(ctx.Plus ?? []), ...(ctx.Minus ?? [])]);
  }

  multiplicative(ctx: BinaryCtx): Expr | undefined {
    return this.binaryChain(ctx.unary, [...(ctx.Star ?? []), ...(ctx.Slash ?? []), ...(ctx.At ?? [])]);
  }

  /** Folds `a op b op c` left-associatively; operators are put back in source order first. */
  private binaryChain(operandNodes: Nodes, opTokens: IToken[]): Expr | undefined {
    const operands = (operandNodes ?? []).map((n) => this.visit(n, n) as Expr | undefined);
    const ops = opTokens.filter(isRealToken).sort((a, b) => a.startOffset - b.startOffset);
    if (operands.length !== ops.length + 1 || operands.some((x) => x === undefined)) return undefined;
    let left = operands[0]!;
    ops.forEach((op, i) => {
      const right = operands[i + 1]!;
      left = {
        kind: "binary",
        op: op.image as "+" | "-" | "*" | "/" | "@",
        left,
        right,
        opSpan: this.tokenSpan(op),
        span: this.join(left.span, right.span),
      };
    });
    return left;
  }

  unary(ctx: UnaryCtx): Expr | undefined {
    const minus = ctx.Minus?.[0];
    if (minus) {
      const operand = this.one<Expr>(ctx.unary);
      if (!operand || !isRealToken(minus)) return undefined;
      return { kind: "unary", op: "-", operand, span: this.join(this.tokenSpan(minus), operand.span) };
    }
    return this.one<Expr>(ctx.primary);
  }

  primary(ctx: PrimaryCtx, node?: CstNode): Expr | undefined {
    const num = ctx.NumberLiteral?.[0];
    if (num) {
      if (!isRealToken(num) || !isWellFormedNumber(num.image)) return undefined;
      return { kind: "number", value: Number(num.image), span: this.tokenSpan(num) };
    }
    if (ctx.callOrName) return this.one<Expr>(ctx.callOrName);
    if (ctx.arrayLit) return this.one<Expr>(ctx.arrayLit);
    if (ctx.LParen) {
      const inner = this.one<Expr>(ctx.expr);
      // NOTE: the AST has no parenthesis node; the inner expression's span grows to cover them.
      return inner && { ...inner, span: this.spanOr(node, inner.span) };
    }
    return undefined;
  }

  callOrName(ctx: CallOrNameCtx, node?: CstNode): Expr | undefined {
    const named = ctx.Colon !== undefined;
    const instance = named ? this.ident(ctx.Identifier?.slice(0, 1)) : undefined;
    const callee = this.ident(named ? ctx.Identifier?.slice(1, 2) : ctx.Identifier);
    if (!callee || (named && !instance)) return undefined;
    if (!ctx.LParen && !named) return { kind: "name", name: callee.name, span: callee.span };
    if (!ctx.LParen) return { kind: "call", callee, instance, args: [], kwargs: [], span: this.spanOr(node, callee.span) };
    const list = ctx.args ? this.one<Arg[]>(ctx.args) : [];
    if (!list) return undefined;
    const args: Expr[] = [];
    const kwargs: KwArg[] = [];
    for (const a of list) {
      if (a.kind === "keyword") {
        kwargs.push(a.kw);
        continue;
      }
      const lastKw = kwargs[kwargs.length - 1];
      if (lastKw) {
        // NOTE: the AST keeps positional and keyword arguments in separate lists, so their
        // order is lost after this point; `f(k = 1, x)` can only be caught here.
        this.problems.push({ code: "NC1005", start: a.value.span.start, end: a.value.span.end, args: { name: lastKw.name.name } });
      }
      args.push(a.value);
    }
    return { kind: "call", callee, instance, args, kwargs, span: this.spanOr(node, callee.span) };
  }

  args(ctx: ArgsCtx): Arg[] | undefined {
    const list = (ctx.arg ?? []).map((n) => this.visit(n, n) as Arg | undefined);
    return list.some((x) => x === undefined) ? undefined : (list as Arg[]);
  }

  arg(ctx: ArgCtx, node?: CstNode): Arg | undefined {
    const value = this.one<Expr>(ctx.expr);
    if (!value) return undefined;
    if (!ctx.Identifier) return { kind: "positional", value };
    const name = this.ident(ctx.Identifier);
    if (!name) return undefined;
    return { kind: "keyword", kw: { name, value, span: this.spanOr(node, this.join(name.span, value.span)) } };
  }

  arrayLit(ctx: ArrayLitCtx, node?: CstNode): ArrayLit | undefined {
    const items = (ctx.expr ?? []).map((n) => this.visit(n, n) as Expr | undefined);
    const span = node && this.nodeSpan(node);
    if (!span || items.some((x) => x === undefined)) return undefined;
    return { kind: "array", items: items as Expr[], span };
  }

  // --- training section ---

  trainDecl(ctx: TrainDeclCtx, node?: CstNode): TrainDecl | undefined {
    const span = node && this.nodeSpan(node);
    if (!span) return undefined;
    const settings = this.all<TrainSetting>(ctx.trainSetting);
    const blocks = this.all<DataEntry[] | TrainSetting>(ctx.dataBlock);
    const data = blocks.filter((b): b is DataEntry[] => Array.isArray(b)).flat();
    // `data = fashion_mnist` is the setting `data`, kept in source order with the others.
    for (const b of blocks) if (!Array.isArray(b)) settings.push(b);
    settings.sort((a, b) => a.span.start - b.span.start);
    return { kind: "train", settings, data, span };
  }

  trainSetting(ctx: EntryCtx, node?: CstNode): TrainSetting | undefined {
    const key = this.ident(ctx.Identifier);
    const value = this.one<Expr>(ctx.expr);
    if (!key || !value) return undefined;
    return { key, value, span: this.spanOr(node, this.join(key.span, value.span)) };
  }

  dataBlock(ctx: DataBlockCtx, node?: CstNode): DataEntry[] | TrainSetting | undefined {
    if (!ctx.expr) return this.all<DataEntry>(ctx.dataEntry);
    const key = this.ident(ctx.Data);
    const value = this.one<Expr>(ctx.expr);
    if (!key || !value) return undefined;
    return { key, value, span: this.spanOr(node, this.join(key.span, value.span)) };
  }

  /** A NumberArray token as its AST node: the lexer already read its shape and values. */
  numberArray(t: IToken | undefined): NumberArrayLit | undefined {
    if (!isRealToken(t)) return undefined;
    const payload = t.payload as NumberArrayPayload;
    return { kind: "numbers", shape: payload.shape, values: payload.values, span: this.tokenSpan(t) };
  }

  dataEntry(ctx: EntryCtx, node?: CstNode): DataEntry | undefined {
    const name = this.ident(ctx.Identifier);
    const value = ctx.NumberArray ? this.numberArray(ctx.NumberArray[0]) : this.one<Expr>(ctx.expr);
    if (!name || !value) return undefined;
    return { name, value, span: this.spanOr(node, this.join(name.span, value.span)) };
  }
}
