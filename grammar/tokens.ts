import type { TokenType } from "chevrotain";
import { createToken, Lexer } from "./chevrotain.js";
import { numberArrayPattern } from "./number-array.js";

/**
 * The tokens of the `.net` language. A token's `label` is what error messages and the generated
 * grammar docs show: the literal text for keywords and punctuation, a description otherwise.
 */

/** Spaces, tabs and newlines; statements are newline-free, so all whitespace is skipped. */
export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\f]+/, group: Lexer.SKIPPED });

/** `# ...` or `// ...` to the end of the line. */
export const Comment = createToken({ name: "Comment", pattern: /(?:#|\/\/)[^\r\n]*/, group: Lexer.SKIPPED });

/** A name: `x`, `w1`, `log_every`, `f32`. */
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: "a name" });

/** Creates a keyword token; `longer_alt` keeps `inputs` or `network2` an identifier. */
function keyword(name: string, word: string): TokenType {
  return createToken({ name, pattern: new RegExp(word), label: word, longer_alt: Identifier });
}

/** `network` */
export const Network = keyword("Network", "network");
/** `input` */
export const Input = keyword("Input", "input");
/** `param` */
export const Param = keyword("Param", "param");
/** `output` */
export const Output = keyword("Output", "output");
/** `train` */
export const Train = keyword("Train", "train");
/** `data` */
export const Data = keyword("Data", "data");
/** `block` (a reusable, parametric piece of network) */
export const Block = keyword("Block", "block");
/** `import` (brings another file's blocks into scope) */
export const Import = keyword("Import", "import");

/** The reserved words; none of them can be used as a name. */
export const keywords: readonly TokenType[] = [Network, Input, Param, Output, Train, Data, Block, Import];

/** Any numeric literal; the parser consumes this category where any number is allowed. */
export const NumberLiteral = createToken({ name: "NumberLiteral", pattern: Lexer.NA, label: "a number" });

/** A whole number: `0`, `784`. The only number allowed as a dimension. */
export const Integer = createToken({
  name: "Integer",
  // NOTE: the lookahead leaves `1.5`, `1e-3` and `12ab` to Float, which takes the whole run.
  pattern: /\d+(?![\w.])/,
  start_chars_hint: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  label: "an integer",
  categories: [NumberLiteral],
});

/**
 * A decimal or exponent number: `0.5`, `.5`, `1e-3`, `2.5E+4`. The pattern deliberately also
 * swallows malformed runs such as `1e`, `1.2.3` or `3x` so that they are one token, which
 * `isWellFormedNumber` rejects with a clear "invalid number" error.
 */
export const Float = createToken({
  name: "Float",
  pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d*)?[\w.]*/,
  start_chars_hint: [".", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  label: "a number",
  categories: [NumberLiteral],
});

/** The text of a valid number; a {@link Float} token that does not match is an error. */
export const WELL_FORMED_NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** True when a numeric token's text is a valid number (see {@link Float}). */
export function isWellFormedNumber(image: string): boolean {
  return WELL_FORMED_NUMBER.test(image);
}

/** A double-quoted string on one line, without escapes: the path of an `import`. */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"[^"\r\n]*"/, label: "a string" });

/** Creates a punctuation token whose label is its text. */
function punct(name: string, text: string): TokenType {
  return createToken({ name, pattern: text, label: text });
}

/** `{` */
export const LCurly = punct("LCurly", "{");
/** `}` */
export const RCurly = punct("RCurly", "}");
/** `[` */
export const LBracket = punct("LBracket", "[");
/** `]` */
export const RBracket = punct("RBracket", "]");
/** `(` */
export const LParen = punct("LParen", "(");
/** `)` */
export const RParen = punct("RParen", ")");
/** `,` */
export const Comma = punct("Comma", ",");
/** `:` */
export const Colon = punct("Colon", ":");
/** `;` (an optional statement separator) */
export const Semicolon = punct("Semicolon", ";");
/** `=` */
export const Equals = punct("Equals", "=");
/** `+` */
export const Plus = punct("Plus", "+");
/** `-` */
export const Minus = punct("Minus", "-");
/** `*` */
export const Star = punct("Star", "*");
/** `/` */
export const Slash = punct("Slash", "/");
/** `@` (matrix product) */
export const At = punct("At", "@");
/** `|>` (pipe: `x |> f(a)` is `f(x, a)`) */
export const Pipe = punct("Pipe", "|>");

/**
 * A data entry's whole array of numbers (`x = [[0, 1], [1, 0]]` inside `data { }`) as one token,
 * its shape and values in the payload (see number-array.ts). Anywhere else, or when the array is
 * not a well-formed rectangle of numbers, the same text is `[`, numbers and `,`.
 */
export const NumberArray = createToken({
  name: "NumberArray",
  pattern: { exec: numberArrayPattern({ Equals, Identifier, LCurly, RCurly, Data }) },
  start_chars_hint: ["["],
  line_breaks: true,
  label: "an array of numbers",
});

/** What the docs show for {@link NumberArray}'s syntax (its pattern is code, not a regular expression). */
export const NUMBER_ARRAY_SYNTAX = '"[" item ( "," item )* ","? "]", item ::= NumberLiteral (a "-" right before it allowed) or a nested array; rows of one length';

/** Every token, in lexing order: comments before `/`, keywords before identifiers, integers before floats. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Network,
  Input,
  Param,
  Output,
  Train,
  Data,
  Block,
  Import,
  Identifier,
  StringLiteral,
  NumberLiteral,
  Integer,
  Float,
  LCurly,
  RCurly,
  // NOTE: before `[`, which would otherwise match first.
  NumberArray,
  LBracket,
  RBracket,
  LParen,
  RParen,
  Comma,
  Colon,
  Semicolon,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  At,
  Pipe,
];

/** The one lexer, reused; it reports bad characters as errors instead of throwing. */
export const netLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: true });

/** Token types whose label describes a class of text rather than spelling it. */
const DESCRIBED: ReadonlySet<TokenType> = new Set([Identifier, StringLiteral, NumberLiteral, Integer, Float, NumberArray]);

/** True for keywords and punctuation: tokens whose label is their exact text. */
export function isLiteralToken(t: TokenType): boolean {
  return !DESCRIBED.has(t) && t.LABEL !== undefined;
}

/** How messages name a token type: `` `]` `` for literal tokens, "a name" for identifiers. */
export function describeTokenType(t: TokenType): string {
  if (isLiteralToken(t)) return `\`${t.LABEL}\``;
  return t.LABEL ?? t.name;
}
