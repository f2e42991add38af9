import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { moduleImports } from "./util/imports.js";

// The runtime runs Plans: it must never reach the compiler. This reads the import graph of
// src/runtime/ (every import that survives compilation: static, re-exports and dynamic imports
// with a literal specifier; type-only imports vanish and are skipped) and follows it through
// every module it reaches.

const ROOT = resolve(import.meta.dirname, "..");
const RUNTIME = join(ROOT, "src", "runtime");
/** What the runtime may not reach: the compiler's stages and the grammar. */
const FORBIDDEN = [join(ROOT, "src", "codegen") + "/", join(ROOT, "src", "frontend") + "/", join(ROOT, "src", "compile.ts"), join(ROOT, "grammar") + "/"];

/** Every module reachable from `entries`, with the chain that reached each. */
function reach(entries: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>(entries.map((e) => [e, [e]]));
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift()!;
    for (const spec of moduleImports(file)) {
      if (!spec.startsWith(".")) {
        seen.set(`${file} -> ${spec}`, [...seen.get(file)!, spec]);
        continue;
      }
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      if (!existsSync(target) || seen.has(target)) continue;
      seen.set(target, [...seen.get(file)!, target]);
      queue.push(target);
    }
  }
  return seen;
}

const rel = (p: string) => relative(ROOT, p);

describe("the runtime's import graph", () => {
  const files = readdirSync(RUNTIME).filter((f) => f.endsWith(".ts")).map((f) => join(RUNTIME, f));
  const reached = reach(files);

  it("never reaches codegen, the frontend, the grammar or src/compile.ts", () => {
    const bad = [...reached.entries()].filter(([f]) => FORBIDDEN.some((x) => f === x || f.startsWith(x))).map(([, chain]) => chain.map(rel).join(" -> "));
    expect(bad).toEqual([]);
    // The walk is real: it does reach the IR's registry through the CPU reference.
    expect(reached.has(join(ROOT, "src", "ir", "ops", "registry.ts"))).toBe(true);
  });

  it("netc/runtime's entry loads no Node built-in or package statically (Dawn and node:fs load on demand, in Node)", () => {
    const entry = reach([join(RUNTIME, "index.ts")]);
    const external = [...entry.keys()].filter((k) => k.includes(" -> ")).map((k) => `${rel(k.split(" -> ")[0]!)} imports ${k.split(" -> ")[1]}`);
    expect(external).toEqual([]);
  });

  it("netc's entry imports no Node built-in (only npm packages: the parser's); netc/node does", () => {
    const builtins = (entry: string) =>
      [...reach([entry]).keys()]
        .filter((k) => k.includes(" -> ") && /^node:|^(fs|path|zlib|crypto|module|os|url)(\/|$)/.test(k.split(" -> ")[1]!))
        .map((k) => `${rel(k.split(" -> ")[0]!)} imports ${k.split(" -> ")[1]}`);
    expect(builtins(join(ROOT, "src", "index.ts"))).toEqual([]);
    // The walk is real: the Node-only entry reaches a built-in (the image reader's zlib).
    expect(builtins(join(ROOT, "src", "node.ts"))).not.toEqual([]);
  });
});
