import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";

// Every example the README and the closing notes point at compiles cleanly, for training and
// for inference, so an edit to the language or a layer cannot silently break one.

const DIR = join(import.meta.dirname, "..", "examples");
const files = readdirSync(DIR).filter((f) => f.endsWith(".net")).sort();

describe("examples/*.net", () => {
  it("there are examples", () => expect(files.length).toBeGreaterThan(10));
  for (const file of files) {
    it(`${file} compiles for training and inference without diagnostics`, () => {
      const path = join(DIR, file);
      const text = readFileSync(path, "utf8");
      for (const mode of ["train", "infer"] as const) {
        const c = compile(text, path, { mode });
        expect(c.diagnostics.render(), `${file} (${mode})`).toBe("");
        expect(c.graph, `${file} (${mode})`).toBeDefined();
      }
    });
  }
});
