import type { IToken, TokenType } from "chevrotain";
import { Identifier, Integer, Float, LBracket, LCurly, LParen, Minus, NumberArray, RBracket, RCurly, RParen } from "../../grammar/tokens.js";

/**
 * How deep an expression may nest: brackets `(` `[` (calls, groups, arrays) and prefix `-` signs,
 * each a level. The parser (chevrotain) and the CST visitor recurse once per level, and a few
 * hundred levels overflow the stack; a program that deep is reported as NC1006 instead. Chains
 * (`|>` pipes, `+` sums, lets) do not nest, so they have no such limit.
 */
export const MAX_NESTING = 100;

/** Tokens after which a `-` is binary (`a - b`), not a sign. */
const OPERAND_ENDS: ReadonlySet<TokenType> = new Set([Identifier, Integer, Float, NumberArray, RParen, RBracket]);

/**
 * The first token at which the nesting exceeds {@link MAX_NESTING}, with the depth there; undefined
 * when the text stays within it. A sign counts until its operand ends (so `-(-(x))` is 4 deep);
 * braces, which only enclose declarations, start afresh (so an unclosed bracket in one block does
 * not count in the next).
 */
export function tooDeep(tokens: readonly IToken[]): { token: IToken; depth: number } | undefined {
  /** Per open bracket: the levels it adds (itself and the signs right before it). */
  const open: number[] = [];
  let depth = 0;
  let signs = 0;
  let previous: TokenType | undefined;
  for (const t of tokens) {
    const type = t.tokenType;
    if (type === Minus && !(previous && OPERAND_ENDS.has(previous))) signs++;
    else if (type === LParen || type === LBracket) {
      open.push(1 + signs);
      depth += 1 + signs;
      signs = 0;
    } else if (type === RParen || type === RBracket) {
      depth -= open.pop() ?? 0;
      signs = 0;
    } else if (type === LCurly || type === RCurly) {
      open.length = 0;
      depth = 0;
      signs = 0;
    } else signs = 0;
    if (depth + signs > MAX_NESTING) return { token: t, depth: depth + signs };
    previous = type;
  }
  return undefined;
}
