import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { STAGE_NAMES } from "../src/ir/passes/pipeline.js";
import { printGraph } from "../src/ir/print.js";

// Golden IR dumps after every stage: test/golden/<stage>/<name>.ir. `UPDATE=1 npx vitest run
// test/golden.test.ts` rewrites them; the diff is then reviewed like code.
const ROOT = join(import.meta.dirname, "..");
const inputs = [
  ...readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".net")).map((f) => join(ROOT, "examples", f)),
  ...readdirSync(join(ROOT, "test", "golden", "inputs")).map((f) => join(ROOT, "test", "golden", "inputs", f)),
];

describe("golden IR after each pass", () => {
  for (const file of inputs)
    for (const stage of STAGE_NAMES) {
      const name = basename(file, ".net");
      it(`${name} after ${stage}`, () => {
        const c = compile(readFileSync(file, "utf8"), basename(file), { after: stage });
        expect(c.diagnostics.render()).toBe("");
        const text = printGraph(c.graph!);
        const golden = join(ROOT, "test", "golden", stage, `${name}.ir`);
        if (process.env["UPDATE"] === "1" || !existsSync(golden)) {
          if (process.env["CI"] && !existsSync(golden)) throw new Error(`missing golden ${golden}`);
          mkdirSync(join(ROOT, "test", "golden", stage), { recursive: true });
          writeFileSync(golden, text);
        }
        expect(text).toBe(readFileSync(golden, "utf8"));
      });
    }
});
