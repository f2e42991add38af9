// The IR text form's tokens, one line at a time (src/ir/parse.ts reads the lines), and a cursor
// over a line's tokens that throws a LineError at the first unexpected one.

export type TokKind = "ref" | "global" | "word" | "num" | "str" | "punct" | "eol";

export interface Tok {
  kind: TokKind;
  /** The token as written (for `ref`/`global`: without the sigil; for `str`: without quotes). */
  text: string;
  /** 0-based column in the line. */
  col: number;
  /** The numeric value of a `num`. */
  num?: number;
}

/** A problem on the current line, at a 0-based column. */
export class LineError {
  constructor(
    readonly col: number,
    readonly message: string,
  ) {}
}

const NUMBER = /^-?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Infinity)|^NaN/;
const WORD = /^[A-Za-z_][A-Za-z0-9_.]*/;
const NAME = /^[A-Za-z0-9_.?-]+/;

export function lex(line: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    const rest = line.slice(i);
    if (c === "%" || c === "@") {
      const m = NAME.exec(rest.slice(1));
      if (!m) throw new LineError(i, `expected a name after \`${c}\``);
      toks.push({ kind: c === "%" ? "ref" : "global", text: m[0], col: i });
      i += 1 + m[0].length;
      continue;
    }
    if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new LineError(i, "unterminated string");
      toks.push({ kind: "str", text: line.slice(i + 1, end), col: i });
      i = end + 1;
      continue;
    }
    const num = NUMBER.exec(rest);
    if (num && (c !== "-" || num[0].length > 1)) {
      // A number runs into a following letter (`12ab`): that is not a number.
      if (/^[A-Za-z_]/.test(rest.slice(num[0].length))) throw new LineError(i, `invalid number \`${/^[\w.+-]+/.exec(rest)![0]}\``);
      toks.push({ kind: "num", text: num[0], col: i, num: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const word = WORD.exec(rest);
    if (word) {
      toks.push({ kind: "word", text: word[0], col: i });
      i += word[0].length;
      continue;
    }
    if (rest.startsWith(":=")) {
      toks.push({ kind: "punct", text: ":=", col: i });
      i += 2;
      continue;
    }
    if ("(){}[],:=?".includes(c)) {
      toks.push({ kind: "punct", text: c, col: i });
      i++;
      continue;
    }
    throw new LineError(i, `unexpected character \`${c}\``);
  }
  toks.push({ kind: "eol", text: "", col: line.replace(/\s+$/, "").length });
  return toks;
}

export function describeTok(t: Tok): string {
  switch (t.kind) {
    case "eol":
      return "end of line";
    case "ref":
      return `\`%${t.text}\``;
    case "global":
      return `\`@${t.text}\``;
    case "str":
      return `"${t.text}"`;
    default:
      return `\`${t.text}\``;
  }
}

/** A cursor over one line's tokens. */
export class Cursor {
  private i = 0;
  constructor(readonly toks: Tok[]) {}

  peek(k = 0): Tok {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  next(): Tok {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  /** True (and consumed) when the next token is the punctuation or word `text`. */
  eat(text: string): boolean {
    const t = this.peek();
    if ((t.kind === "punct" || t.kind === "word") && t.text === text) {
      this.next();
      return true;
    }
    return false;
  }
  expect(text: string, what = `\`${text}\``): Tok {
    const t = this.peek();
    if (!this.eat(text)) throw new LineError(t.col, `expected ${what}, got ${describeTok(t)}`);
    return t;
  }
  expectKind(kind: TokKind, what: string): Tok {
    const t = this.peek();
    if (t.kind !== kind) throw new LineError(t.col, `expected ${what}, got ${describeTok(t)}`);
    return this.next();
  }
  end(): void {
    const t = this.peek();
    if (t.kind !== "eol") throw new LineError(t.col, `unexpected ${describeTok(t)} at the end of the line`);
  }
}
