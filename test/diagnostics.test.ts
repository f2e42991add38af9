import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";

// Each file in test/diagnostics/ is a bad program annotated with the errors it must produce:
//   # expect: CODE at LINE:COL "message"
// The test compiles it and compares the full list (code, position, message) in source order.
// Files that the multi-file cases import live in test/diagnostics/imports/ (not run on their own).
const DIR = join(import.meta.dirname, "diagnostics");

describe("diagnostics corpus", () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith(".net")).sort()) {
    it(file, () => {
      const text = readFileSync(join(DIR, file), "utf8");
      const expected = [...text.matchAll(/^# expect: (NC\d{4}) at (\d+:\d+) "(.*)"$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
      expect(expected.length, "the file must annotate at least one expected error").toBeGreaterThan(0);
      // NOTE: the full path, so that `import "imports/x.net"` resolves next to the file.
      const c = compile(text, join(DIR, file));
      const got = c.diagnostics.items.map((d) => {
        const { line, col } = d.span!.file.position(d.span!.start);
        return `${d.code} ${line}:${col} ${d.message}`;
      });
      expect(got.sort()).toEqual(expected.sort());
      expect(c.graph).toBeUndefined();
    });
  }
});
