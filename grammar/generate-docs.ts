import { createSyntaxDiagramsCode, generateCstDts, Lexer, type ISerializedGast, type TokenType } from "chevrotain";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parser } from "./parser.js";
import { allTokens, Float, isLiteralToken, keywords, NUMBER_ARRAY_SYNTAX, NumberArray, WELL_FORMED_NUMBER } from "./tokens.js";

/**
 * Generates the grammar docs from the parser itself, so they cannot drift from it:
 *   - `grammar/GRAMMAR.md`: an EBNF rendering of the serialized GAST productions plus the tokens;
 *   - `grammar/grammar.html`: chevrotain's railroad diagrams of the same productions;
 *   - `grammar/cst.ts`: the CST node types chevrotain derives from the same productions, which the
 *     frontend's CST visitor reads (types only: nothing of it exists at run time).
 * Run after a change to the grammar: `npx tsc -p tsconfig.json && node dist/grammar/generate-docs.js`
 * (or `npx tsx grammar/generate-docs.ts`, or `UPDATE=1 npx vitest run test/grammar-doc.test.ts`);
 * a test checks that the committed files are current.
 */

const tokensByName = new Map<string, TokenType>(allTokens.map((t) => [t.name, t]));

/** A terminal as the docs show it: literal tokens quoted, token classes by name. */
function terminalText(name: string, label: string | undefined): string {
  const t = tokensByName.get(name);
  if (t && isLiteralToken(t)) return JSON.stringify(t.LABEL);
  return t ? t.name : (label ?? name);
}

/** A serialized production with the fields chevrotain adds for terminals, non-terminals and rules. */
type Gast = ISerializedGast & { name?: string; label?: string; separator?: { name: string; label?: string } };

/** A rule's name. */
function ruleName(rule: ISerializedGast): string {
  return (rule as Gast).name ?? "?";
}

/** How tightly an EBNF fragment binds, to know when it needs parentheses. */
type Fragment = { text: string; kind: "atom" | "seq" | "alt" };

function renderSeq(items: ISerializedGast[]): Fragment {
  const parts = items.map(renderProduction);
  if (parts.length === 1) return parts[0]!;
  return { text: parts.map((p) => (p.kind === "alt" ? `( ${p.text} )` : p.text)).join(" "), kind: "seq" };
}

function group(f: Fragment): string {
  return f.kind === "atom" ? f.text : `( ${f.text} )`;
}

function renderProduction(p: ISerializedGast): Fragment {
  const def = p.definition ?? [];
  const prod = p as Gast;
  switch (p.type) {
    case "Terminal":
      return { text: terminalText(prod.name ?? "?", prod.label), kind: "atom" };
    case "NonTerminal":
      return { text: prod.name ?? "?", kind: "atom" };
    case "Alternative":
      return renderSeq(def);
    case "Alternation":
      return { text: def.map((a) => renderProduction(a).text).join(" | "), kind: def.length > 1 ? "alt" : "seq" };
    case "Option":
      return { text: `${group(renderSeq(def))}?`, kind: "atom" };
    case "Repetition":
      return { text: `${group(renderSeq(def))}*`, kind: "atom" };
    case "RepetitionMandatory":
      return { text: `${group(renderSeq(def))}+`, kind: "atom" };
    case "RepetitionWithSeparator":
    case "RepetitionMandatoryWithSeparator": {
      const item = group(renderSeq(def));
      const sep = prod.separator ? terminalText(prod.separator.name, prod.separator.label) : "?";
      const some = `${item} ( ${sep} ${item} )*`;
      return { text: p.type === "RepetitionWithSeparator" ? `( ${some} )?` : some, kind: "seq" };
    }
    default:
      return renderSeq(def);
  }
}

/** One rule as `name ::= ...`; a rule that is a choice puts each alternative on its own line. */
function renderRule(rule: ISerializedGast, width: number): string {
  const name = ruleName(rule).padEnd(width);
  const def = rule.definition ?? [];
  const only = def.length === 1 ? def[0]! : undefined;
  if (only?.type === "Alternation" && (only.definition?.length ?? 0) > 1) {
    const alts = only.definition!.map((a) => renderProduction(a).text);
    return [`${name} ::= ${alts[0]}`, ...alts.slice(1).map((a) => `${" ".repeat(width)}   | ${a}`)].join("\n");
  }
  return `${name} ::= ${renderSeq(def).text}`;
}

/** A token's pattern as the docs show it. */
function patternText(t: TokenType): string {
  if (t === NumberArray) return NUMBER_ARRAY_SYNTAX;
  const p = t.PATTERN;
  if (p instanceof RegExp) return `/${p.source}/`;
  if (typeof p === "string") return JSON.stringify(p);
  return "(see grammar/tokens.ts)";
}

/** The EBNF of the grammar as Markdown: the content of `grammar/GRAMMAR.md`. */
export function generateEbnf(): string {
  const rules = parser.getSerializedGastProductions();
  const width = Math.max(...rules.map((r) => ruleName(r).length));
  const syntax = rules.map((r) => renderRule(r, width)).join("\n");

  const classes = allTokens.filter((t) => !isLiteralToken(t) && t.GROUP !== Lexer.SKIPPED && !keywords.includes(t));
  const skipped = allTokens.filter((t) => t.GROUP === Lexer.SKIPPED);
  const lexWidth = Math.max(...[...classes, ...skipped].map((t) => t.name.length));
  const lexRule = (t: TokenType): string => {
    const subtypes = allTokens.filter((s) => s.CATEGORIES?.includes(t));
    const body = subtypes.length > 0 ? subtypes.map((s) => s.name).join(" | ") : patternText(t);
    return `${t.name.padEnd(lexWidth)} ::= ${body}`;
  };
  const literals = allTokens.filter((t) => isLiteralToken(t) && !keywords.includes(t));

  return [
    "# The `.net` grammar",
    "",
    "<!-- Generated by grammar/generate-docs.ts from grammar/parser.ts and grammar/tokens.ts; do not edit by hand. -->",
    "",
    "Generated from the parser's own productions; `test/grammar-doc.test.ts` fails when this file is stale.",
    "Regenerate with `npx tsc -p tsconfig.json && node dist/grammar/generate-docs.js`.",
    "Railroad diagrams of the same rules: [grammar.html](grammar.html).",
    "",
    "Notation: `a b` sequence, `a | b` choice, `( ... )` grouping, `x?` optional, `x*` zero or more.",
    "Quoted text is literal; capitalised names are tokens (below); other names are rules.",
    "",
    "## Syntax",
    "",
    "```ebnf",
    syntax,
    "```",
    "",
    "## Tokens",
    "",
    "```ebnf",
    ...classes.map(lexRule),
    "```",
    "",
    `A \`${Float.name}\` must also match \`/${WELL_FORMED_NUMBER.source}/\`; the lexer takes malformed runs such as`,
    "`1e`, `1.2.3` or `3x` whole so that they are reported as one invalid number.",
    "",
    `A \`${NumberArray.name}\` is lexed only as the value of a data entry (\`x = [[0, 1], [1, 0]]\` in \`data { }\`), so that`,
    "a large data block is a few tokens; when the array there is not a rectangle of well-formed numbers,",
    "or anywhere else, the same text is lexed as `[`, numbers and `,` (and parsed by `arrayLit`).",
    "",
    `Keywords (reserved; not usable as names): ${keywords.map((k) => `\`${k.LABEL}\``).join(", ")}.`,
    "A keyword followed by more name characters is a name (`inputs`, `network2`).",
    "",
    `Punctuation: ${literals.map((t) => `\`${t.LABEL}\``).join(" ")}`,
    "",
    "Skipped between tokens:",
    "",
    "```ebnf",
    ...skipped.map(lexRule),
    "```",
    "",
  ].join("\n");
}

/** The railroad-diagram page: the content of `grammar/grammar.html`. */
export function generateRailroadHtml(): string {
  // NOTE: diagrams print a terminal's label; show token classes by name ("Identifier") rather
  // than by their error-message label ("a name").
  const relabel = (p: ISerializedGast): ISerializedGast => {
    const copy: Gast = { ...p };
    if (p.type === "Terminal" && copy.name) copy.label = terminalText(copy.name, copy.label).replace(/^"(.*)"$/, "$1");
    if (p.definition) copy.definition = p.definition.map(relabel);
    return copy;
  };
  return createSyntaxDiagramsCode(parser.getSerializedGastProductions().map(relabel));
}

/** The repository root: the nearest folder above this module with a package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Writes both docs into `grammar/` of the repository. */
/** The CST node types of every rule, as chevrotain's generateCstDts writes them, behind a header. */
export function generateCstTypes(): string {
  const header = "// Generated from grammar/parser.ts by grammar/generate-docs.ts (chevrotain's generateCstDts): do not edit.\n// Every child is as the grammar has it; error recovery may leave any of them out (see src/frontend/parse.ts).\n\n";
  return header + generateCstDts(parser.getGAstProductions(), { includeVisitorInterface: false });
}

export function writeDocs(): string[] {
  const out = join(repoRoot(), "grammar");
  const files = [join(out, "GRAMMAR.md"), join(out, "grammar.html"), join(out, "cst.ts")];
  writeFileSync(files[0]!, generateEbnf());
  writeFileSync(files[1]!, generateRailroadHtml());
  writeFileSync(files[2]!, generateCstTypes());
  return files;
}

/** True when this module is the program being run (not imported by a test). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  const strip = (p: string): string => p.replace(/\.(ts|js)$/, "");
  return strip(resolve(script)) === strip(fileURLToPath(import.meta.url));
}

if (isMain()) {
  for (const f of writeDocs()) console.log(`wrote ${f}`);
}
