import { EOF, type IRecognitionException, type IToken } from "chevrotain";
import type * as Cst from "../../grammar/cst.js";
import { parser } from "../../grammar/parser.js";
import { Block, Float, Import, isWellFormedNumber, netLexer, Network, Train } from "../../grammar/tokens.js";
import type { Program } from "./ast.js";
import { AstBuilder, isRealToken, type Problem, type Recovered } from "./cst-to-ast.js";
import type { Diagnostics } from "../base/diagnostics.js";
import { MAX_NESTING, tooDeep } from "./nesting.js";
import type { SourceFile } from "../base/source.js";

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
      const part = visitor.program(cst.children as Recovered<Cst.ProgramCstChildren>);
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
