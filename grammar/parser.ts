import type { IParserErrorMessageProvider, IToken, TokenType } from "chevrotain";
import { CstParser, EOF } from "./chevrotain.js";
import {
  allTokens,
  At,
  Block,
  Pipe,
  Colon,
  Comma,
  Data,
  describeTokenType,
  Equals,
  Identifier,
  Import,
  Input,
  Integer,
  keywords,
  LBracket,
  LCurly,
  LParen,
  Minus,
  Network,
  NumberArray,
  NumberLiteral,
  Output,
  Param,
  Plus,
  RBracket,
  RCurly,
  RParen,
  Semicolon,
  Slash,
  Star,
  StringLiteral,
  Train,
} from "./tokens.js";

/**
 * What a rule's alternation expects, for "expected X but found Y" messages when no alternative
 * of the rule matches. Rules not listed fall back to the list of tokens that could start each
 * alternative.
 */
const EXPECTED_IN_RULE: Record<string, string> = {
  program: "`import`, `block`, `network` or `train`",
  stmt: "a statement (`input`, `param`, `output` or `name = ...`)",
  dim: "a dimension (an integer, a name, or integer arithmetic)",
  primary: "an expression",
  unary: "an expression",
  multiplicative: "an expression",
  additive: "an expression",
  expr: "an expression",
  arg: "an argument",
  trainDecl: "a training setting (`name = ...`) or `data { ... }`",
  dataBlock: "a data entry (`name = [...]`)",
};

/** How messages show a token that was found: its text, or "end of input". */
export function describeFoundToken(t: IToken): string {
  if (t.tokenType === EOF) return "end of input";
  if (t.tokenType === NumberArray) return "an array of numbers";
  return `\`${t.image}\``;
}

/** Joins ["a", "b", "c"] as "a, b or c". */
function orList(items: string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

/**
 * What a closing token's rule expects when the closer is missing: after a repetition the next
 * item could also have come, so "expected `}`" alone would mislead. Keyed by `rule:TokenName`;
 * the function sees the token before the offending one.
 */
const EXPECTED_BEFORE_CLOSER: Record<string, (previous: IToken | undefined) => string> = {
  "networkDecl:RCurly": () => "a statement or `}`",
  "blockDecl:RCurly": () => "a statement or `}`",
  "blockParams:RParen": (prev) => (prev?.tokenType === LParen ? "a block parameter or `)`" : "`,` or `)`"),
  "trainDecl:RCurly": () => "a training setting (`name = ...`), `data { ... }` or `}`",
  "dataBlock:RCurly": () => "a data entry (`name = [...]`) or `}`",
  "typeExpr:RBracket": (prev) => (prev?.tokenType === LBracket ? "a dimension or `]`" : "`,` or `]`"),
  "arrayLit:RBracket": (prev) =>
    prev?.tokenType === LBracket || prev?.tokenType === Comma ? "an expression or `]`" : "`,` or `]`",
  "callOrName:RParen": (prev) => (prev?.tokenType === LParen ? "an argument or `)`" : "`,` or `)`"),
};

/** Short human messages instead of chevrotain's "Expecting token of type --> X <--". */
export const netErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous, ruleName }) {
    const found = describeFoundToken(actual);
    if (expected === Identifier && keywords.includes(actual.tokenType)) {
      return `expected a name but found ${found}, which is a keyword`;
    }
    if (expected === EOF) return `expected ${EXPECTED_IN_RULE.program} but found ${found}`;
    const closer = EXPECTED_BEFORE_CLOSER[`${ruleName}:${expected.name}`];
    return `expected ${closer ? closer(previous) : describeTokenType(expected)} but found ${found}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected ${EXPECTED_IN_RULE.program} but found ${describeFoundToken(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const found = actual[0] ? describeFoundToken(actual[0]) : "end of input";
    const expected = EXPECTED_IN_RULE[ruleName] ?? orList(firstTokens(expectedPathsPerAlt.flat()));
    return `expected ${expected} but found ${found}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, ruleName }) {
    const found = actual[0] ? describeFoundToken(actual[0]) : "end of input";
    const expected = EXPECTED_IN_RULE[ruleName] ?? orList(firstTokens(expectedIterationPaths));
    return `expected ${expected} but found ${found}`;
  },
};

function firstTokens(paths: TokenType[][]): string[] {
  return paths.flatMap((p) => (p[0] ? [describeTokenType(p[0])] : []));
}

/**
 * The grammar of `.net` files, syntax only: it builds a CST, and `src/frontend/parse.ts` turns
 * that into the AST with a CST visitor. Rule names are the names in the generated GRAMMAR.md.
 */
export class NetParser extends CstParser {
  constructor() {
    super(allTokens, {
      recoveryEnabled: true,
      // NOTE: spans are offsets (lines and columns are found when a diagnostic is rendered), and
      // a location object per CST node with lines and columns was a third of a large file's parse.
      nodeLocationTracking: "onlyOffset",
      errorMessageProvider: netErrorMessages,
    });
    this.performSelfAnalysis();
  }

  /** program := (importDecl | blockDecl | networkDecl | trainDecl)* */
  program = this.RULE("program", () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
        { ALT: () => this.SUBRULE(this.networkDecl) },
        { ALT: () => this.SUBRULE(this.trainDecl) },
      ]);
    });
  });

  /** importDecl := "import" StringLiteral ";"?  — the path is relative to the importing file. */
  importDecl = this.RULE("importDecl", () => {
    this.CONSUME(Import);
    this.CONSUME(StringLiteral);
    this.OPTION(() => this.CONSUME(Semicolon));
  });

  /** blockDecl := "block" Identifier blockParams? "{" stmt* "}" */
  blockDecl = this.RULE("blockDecl", () => {
    this.CONSUME(Block);
    this.CONSUME(Identifier);
    this.OPTION(() => this.SUBRULE(this.blockParams));
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(RCurly);
  });

  /** blockParams := "(" (blockParam ("," blockParam)*)? ")" */
  blockParams = this.RULE("blockParams", () => {
    this.CONSUME(LParen);
    this.OPTION(() => {
      this.SUBRULE(this.blockParam);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.blockParam);
      });
    });
    this.CONSUME(RParen);
  });

  /** blockParam := Identifier ":" Identifier ("=" expr)?  — the second name is the kind: int, float, bool or fn. */
  blockParam = this.RULE("blockParam", () => {
    this.CONSUME(Identifier);
    this.CONSUME(Colon);
    this.CONSUME2(Identifier);
    this.OPTION(() => {
      this.CONSUME(Equals);
      this.SUBRULE(this.expr);
    });
  });

  /** networkDecl := "network" Identifier "{" stmt* "}" */
  networkDecl = this.RULE("networkDecl", () => {
    this.CONSUME(Network);
    this.CONSUME(Identifier);
    this.CONSUME(LCurly);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(RCurly);
  });

  /** stmt := (inputDecl | paramDecl | outputDecl | letStmt) ";"? */
  stmt = this.RULE("stmt", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.outputDecl) },
      { ALT: () => this.SUBRULE(this.letStmt) },
    ]);
    this.OPTION(() => this.CONSUME(Semicolon));
  });

  /** inputDecl := "input" Identifier ":" typeExpr */
  inputDecl = this.RULE("inputDecl", () => {
    this.CONSUME(Input);
    this.CONSUME(Identifier);
    this.CONSUME(Colon);
    this.SUBRULE(this.typeExpr);
  });

  /** paramDecl := "param" Identifier ":" typeExpr ("=" expr)? */
  paramDecl = this.RULE("paramDecl", () => {
    this.CONSUME(Param);
    this.CONSUME(Identifier);
    this.CONSUME(Colon);
    this.SUBRULE(this.typeExpr);
    this.OPTION(() => {
      this.CONSUME(Equals);
      this.SUBRULE(this.expr);
    });
  });

  /** outputDecl := "output" Identifier (":" typeExpr)? ("=" expr)? */
  outputDecl = this.RULE("outputDecl", () => {
    this.CONSUME(Output);
    this.CONSUME(Identifier);
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.SUBRULE(this.typeExpr);
    });
    this.OPTION2(() => {
      this.CONSUME(Equals);
      this.SUBRULE(this.expr);
    });
  });

  /** letStmt := Identifier ("," Identifier)* "=" expr  (several names unpack a block's outputs) */
  letStmt = this.RULE("letStmt", () => {
    this.CONSUME(Identifier);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.CONSUME2(Identifier);
    });
    this.CONSUME(Equals);
    this.SUBRULE(this.expr);
  });

  /** typeExpr := Identifier "[" (dim ("," dim)*)? "]"  — the identifier is the dtype. */
  typeExpr = this.RULE("typeExpr", () => {
    this.CONSUME(Identifier);
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.dim);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.dim);
      });
    });
    this.CONSUME(RBracket);
  });

  /** dim := additive  — an integer, a name, or arithmetic over integers and int params (`3 * hidden`). */
  dim = this.RULE("dim", () => {
    this.SUBRULE(this.additive);
  });

  /** expr := additive ("|>" callOrName)* */
  expr = this.RULE("expr", () => {
    this.SUBRULE(this.additive);
    this.MANY(() => {
      this.CONSUME(Pipe);
      this.SUBRULE(this.callOrName);
    });
  });

  /** additive := multiplicative (("+" | "-") multiplicative)* */
  additive = this.RULE("additive", () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Plus) }, { ALT: () => this.CONSUME(Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  /** multiplicative := unary (("*" | "/" | "@") unary)* */
  multiplicative = this.RULE("multiplicative", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(Star) }, { ALT: () => this.CONSUME(Slash) }, { ALT: () => this.CONSUME(At) }]);
      this.SUBRULE2(this.unary);
    });
  });

  /** unary := "-" unary | primary */
  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  /** primary := NumberLiteral | callOrName | "(" expr ")" | arrayLit */
  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.SUBRULE(this.callOrName) },
      {
        ALT: () => {
          this.CONSUME(LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.arrayLit) },
    ]);
  });

  /** callOrName := Identifier (":" Identifier)? ("(" args? ")")?  (`name: layer(...)` names an instance) */
  callOrName = this.RULE("callOrName", () => {
    this.CONSUME(Identifier);
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.CONSUME2(Identifier);
    });
    this.OPTION2(() => {
      this.CONSUME(LParen);
      this.OPTION3(() => this.SUBRULE(this.args));
      this.CONSUME(RParen);
    });
  });

  /** args := arg ("," arg)* */
  args = this.RULE("args", () => {
    this.SUBRULE(this.arg);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.SUBRULE2(this.arg);
    });
  });

  /**
   * arg := Identifier "=" expr | expr
   * NOTE: both alternatives may start with an identifier; chevrotain's LL(k) lookahead looks at
   * the second token (`=` or not) to choose, so no GATE or backtracking is needed.
   */
  arg = this.RULE("arg", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Identifier);
          this.CONSUME(Equals);
          this.SUBRULE(this.expr);
        },
      },
      { ALT: () => this.SUBRULE2(this.expr) },
    ]);
  });

  /** arrayLit := "[" (expr ("," expr)* ","?)? "]" */
  arrayLit = this.RULE("arrayLit", () => {
    this.CONSUME(LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expr);
      this.MANY(() => {
        this.CONSUME(Comma);
        this.SUBRULE2(this.expr);
      });
      this.OPTION2(() => this.CONSUME2(Comma));
    });
    this.CONSUME(RBracket);
  });

  /** trainDecl := "train" "{" (trainSetting | dataBlock)* "}" */
  trainDecl = this.RULE("trainDecl", () => {
    this.CONSUME(Train);
    this.CONSUME(LCurly);
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.trainSetting) }, { ALT: () => this.SUBRULE(this.dataBlock) }]);
    });
    this.CONSUME(RCurly);
  });

  /** trainSetting := Identifier "=" expr ";"? */
  trainSetting = this.RULE("trainSetting", () => {
    this.CONSUME(Identifier);
    this.CONSUME(Equals);
    this.SUBRULE(this.expr);
    this.OPTION(() => this.CONSUME(Semicolon));
  });

  /** dataBlock := "data" ("{" dataEntry* "}" | "=" expr ";"?) — literal columns, or a dataset by name */
  dataBlock = this.RULE("dataBlock", () => {
    this.CONSUME(Data);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(LCurly);
          this.MANY(() => this.SUBRULE(this.dataEntry));
          this.CONSUME(RCurly);
        },
      },
      {
        ALT: () => {
          this.CONSUME(Equals);
          this.SUBRULE(this.expr);
          this.OPTION(() => this.CONSUME(Semicolon));
        },
      },
    ]);
  });

  /**
   * dataEntry := Identifier "=" (NumberArray | expr) ";"?  — a well-formed array of numbers is one
   * NumberArray token here (fast for large data); anything else is an expression, checked when lowered.
   */
  dataEntry = this.RULE("dataEntry", () => {
    this.CONSUME(Identifier);
    this.CONSUME(Equals);
    this.OR([{ ALT: () => this.CONSUME(NumberArray) }, { ALT: () => this.SUBRULE(this.expr) }]);
    this.OPTION(() => this.CONSUME(Semicolon));
  });
}

/** The one parser instance; reset it with `parser.input = tokens` before each parse. */
export const parser = new NetParser();
