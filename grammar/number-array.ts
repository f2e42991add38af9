import type { IToken } from "chevrotain";

/**
 * The scanner behind the `NumberArray` token: a whole rectangular array of numbers written as a
 * data entry's value (`x = [[0, 1], [1, 0]]` inside `data { }`), taken by the lexer as one token
 * whose payload holds the shape and the values. A 5 MB data block is then a few tokens instead of
 * millions, each of which chevrotain would turn into a chain of CST nodes.
 *
 * It matches only what the general grammar would accept there and lower to the same numbers:
 * nested `[ ... ]` with `,` between items (one trailing `,` allowed), items that are numbers with an
 * optional `-` right before them, every row of one length, every leaf at one depth, no empty
 * array, whitespace and `#` / `//` comments between tokens. Anything else (a name, a malformed
 * number, a ragged row, an unclosed bracket) is not matched, so the same text is lexed as `[`,
 * numbers and `,` and reported by the usual rules.
 */

/** What a matched array holds: its shape and its values in row-major order. */
export interface NumberArrayPayload {
  shape: number[];
  values: Float32Array;
}

/** A match as chevrotain's custom patterns return it: the matched text, with the payload. */
type Match = [string] & { payload: NumberArrayPayload };

/** The token types the context check needs, set by tokens.ts (which defines them) to avoid a cycle. */
export interface DataContextTokens {
  Equals: unknown;
  Identifier: unknown;
  LCurly: unknown;
  RCurly: unknown;
  Data: unknown;
}

/**
 * A custom token pattern for chevrotain: the NumberArray starting at `offset`, or null. It only
 * matches right after `Identifier =` inside `data { ... }`, found by looking back over the tokens
 * lexed so far (only at an entry's first bracket, so at most once per entry).
 */
export function numberArrayPattern(kinds: DataContextTokens) {
  return (text: string, offset: number, tokens: IToken[]): Match | null => {
    if (text.charCodeAt(offset) !== 91 /* [ */ || !inDataEntry(tokens, kinds)) return null;
    const scanned = scanNumberArray(text, offset);
    if (!scanned) return null;
    const match = [text.slice(offset, scanned.end)] as Match;
    match.payload = { shape: scanned.shape, values: scanned.values };
    return match;
  };
}

function inDataEntry(tokens: IToken[], kinds: DataContextTokens): boolean {
  const n = tokens.length;
  if (n < 4 || tokens[n - 1]!.tokenType !== kinds.Equals || tokens[n - 2]!.tokenType !== kinds.Identifier) return false;
  // Data entries hold no braces, so the nearest brace before this one is the block's own `{`.
  for (let i = n - 3; i >= 1; i--) {
    const t = tokens[i]!.tokenType;
    if (t === kinds.RCurly) return false;
    if (t === kinds.LCurly) return tokens[i - 1]!.tokenType === kinds.Data;
  }
  return false;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isWordChar = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * Scans a rectangular numeric array from `start` (at its `[`): its end offset, shape and values,
 * or undefined when the text is anything else. Iterative: nesting depth costs no stack.
 */
export function scanNumberArray(text: string, start: number): { end: number; shape: number[]; values: Float32Array } | undefined {
  const values: number[] = [];
  /** Items counted so far in each open array, outermost first. */
  const counts: number[] = [];
  /** The length every array at each depth must have, learnt from the first one to close. */
  const dims: number[] = [];
  let leafDepth = -1;
  let i = start;
  // After `[` or `,` an item (or, after `,` or at a `[`, the closing `]`) may come; after an item, `,` or `]`.
  let expectItem = true;
  const len = text.length;
  for (;;) {
    // Skip whitespace and comments.
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) i++;
      else if (c === 35 /* # */ || (c === 47 /* / */ && text.charCodeAt(i + 1) === 47)) {
        while (i < len && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
      } else break;
    }
    if (i >= len) return undefined;
    const c = text.charCodeAt(i);
    if (expectItem && c === 91 /* [ */) {
      if (leafDepth >= 0 && counts.length >= leafDepth) return undefined;
      counts.push(0);
      i++;
      continue;
    }
    if (c === 93 /* ] */) {
      const depth = counts.length - 1;
      const count = counts.pop()!;
      // An empty array is left to the parser (a trailing `,` is fine: the grammar allows one).
      if (count === 0) return undefined;
      if (dims[depth] === undefined) dims[depth] = count;
      else if (dims[depth] !== count) return undefined;
      i++;
      if (depth === 0) {
        if (leafDepth < 0) return undefined;
        return { end: i, shape: dims.slice(0, leafDepth), values: Float32Array.from(values) };
      }
      counts[depth - 1]!++;
      expectItem = false;
      continue;
    }
    if (!expectItem) {
      if (c !== 44 /* , */) return undefined;
      i++;
      expectItem = true;
      continue;
    }
    // A number, with an optional `-` right before it.
    const negative = c === 45; /* - */
    const from = negative ? i + 1 : i;
    const to = numberEnd(text, from);
    if (to === from) return undefined;
    const depth = counts.length;
    if (leafDepth < 0) leafDepth = depth;
    else if (leafDepth !== depth) return undefined;
    const v = Number(text.slice(from, to));
    values.push(negative ? -v : v);
    counts[depth - 1]!++;
    i = to;
    expectItem = false;
  }
}

/**
 * The end of a well-formed number at `i` (as tokens.ts's WELL_FORMED_NUMBER: digits with an
 * optional fraction, or a fraction alone, then an optional exponent), or `i` when there is none or
 * a name character or `.` runs on after it (text the lexer would take as one malformed number).
 */
function numberEnd(text: string, i: number): number {
  let j = i;
  while (isDigit(text.charCodeAt(j))) j++;
  const intDigits = j - i;
  if (text.charCodeAt(j) === 46 /* . */) {
    j++;
    const f = j;
    while (isDigit(text.charCodeAt(j))) j++;
    if (intDigits === 0 && j === f) return i;
  } else if (intDigits === 0) return i;
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) {
    let k = j + 1;
    const s = text.charCodeAt(k);
    if (s === 43 || s === 45) k++;
    const d = k;
    while (isDigit(text.charCodeAt(k))) k++;
    if (k === d) return i;
    j = k;
  }
  const after = text.charCodeAt(j);
  if (isWordChar(after) || after === 46) return i;
  return j;
}
