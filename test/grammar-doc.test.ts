import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateCstTypes, generateEbnf, generateRailroadHtml, writeDocs } from "../grammar/generate-docs.js";
import { parser } from "../grammar/parser.js";

// NOTE: `UPDATE=1 npx vitest run test/grammar-doc.test.ts` rewrites the committed docs first.
if (process.env.UPDATE) writeDocs();

function committed(name: string): string {
  return readFileSync(new URL(`../grammar/${name}`, import.meta.url), "utf8");
}

describe("generated grammar docs", () => {
  it("grammar/GRAMMAR.md is the EBNF generated from the parser", () => {
    expect(committed("GRAMMAR.md")).toBe(generateEbnf());
  });

  it("grammar/grammar.html is the railroad diagrams generated from the parser", () => {
    expect(committed("grammar.html")).toBe(generateRailroadHtml());
  });

  it("grammar/cst.ts is the CST types generated from the parser", () => {
    expect(committed("cst.ts")).toBe(generateCstTypes());
    expect(generateCstTypes()).toContain("export interface NetworkDeclCstNode extends CstNode");
  });

  it("the EBNF defines every parser rule once", () => {
    const ebnf = generateEbnf();
    for (const rule of parser.getSerializedGastProductions()) {
      const name = (rule as { name?: string }).name!;
      expect(ebnf.match(new RegExp(`^${name} +::=`, "gm"))).toHaveLength(1);
    }
    expect(ebnf).toContain('networkDecl    ::= "network" Identifier "{" stmt* "}"');
    expect(ebnf).toContain('additive       ::= multiplicative ( ( "+" | "-" ) multiplicative )*');
  });
});
