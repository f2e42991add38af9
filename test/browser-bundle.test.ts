import { gzipSync } from "node:zlib";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { describe, expect, it } from "vitest";

// `netc` and `netc/runtime` as a page gets them: each entry bundled by esbuild for the browser.
// esbuild fails on any import it cannot resolve there (every `node:*` module), and the metafile is
// checked for one marked external; the minified and gzipped sizes are printed.

const ROOT = join(import.meta.dirname, "..");
const ENTRIES = { netc: "src/index.ts", "netc/runtime": "src/runtime/index.ts" };

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

describe("browser bundles", () => {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    it(`${name} bundles for platform: "browser" with no node: import`, async () => {
      const result = await esbuild.build({
        absWorkingDir: ROOT,
        entryPoints: [entry],
        bundle: true,
        platform: "browser",
        format: "esm",
        target: "es2022",
        minify: true,
        write: false,
        metafile: true,
        logLevel: "silent",
      });
      const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
      expect(imports.filter((p) => p.startsWith("node:"))).toEqual([]);
      const code = result.outputFiles[0]!.contents;
      // NOTE: `process.getBuiltinModule("node:fs")` is a string, not an import; only imports count.
      const text = new TextDecoder().decode(code);
      expect(text.match(/(?:\bimport\s*\(|\brequire\s*\(|\bfrom\s*)\s*["'`]node:[\w/]+/g) ?? []).toEqual([]);
      console.log(`[bundle] ${name}: ${kib(code.length)} minified, ${kib(gzipSync(code, { level: 9 }).length)} gzip`);
    });
  }
});
