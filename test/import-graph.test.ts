import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { moduleImports } from "./util/imports.js";

// The pipeline's order, written once: a module may import from its own layer and the layers
// above it, never below. The runtime sits above the compiler's stages because a built model ships
// the runtime without them (test/runtime-imports.test.ts follows that through every module the
// runtime reaches). Every import counts here, type-only ones included, and no two modules may
// import each other through any chain.

const LAYERS: readonly (readonly string[])[] = [
  ["src/base/", "src/optional-packages.ts"],
  ["grammar/"],
  ["src/ir/"],
  ["src/data/"],
  ["src/runtime/"],
  ["src/frontend/"],
  ["src/codegen/"],
  ["src/weights/"],
  ["src/compile.ts"],
  ["src/onnx/"],
  ["src/index.ts", "src/node.ts"],
  ["src/cli/"],
];

const ROOT = resolve(import.meta.dirname, "..");
const rel = (p: string) => relative(ROOT, p);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

function layerOf(file: string): number {
  const r = rel(file);
  const i = LAYERS.findIndex((layer) => layer.some((prefix) => (prefix.endsWith("/") ? r.startsWith(prefix) : r === prefix)));
  if (i < 0) throw new Error(`${r} is in no layer: add its folder to LAYERS`);
  return i;
}

/** Each module's imports of other modules of the project (resolved to .ts paths). */
function importGraph(): Map<string, string[]> {
  const files = [...sources(join(ROOT, "src")), ...sources(join(ROOT, "grammar"))];
  return new Map(
    files.map((f) => [
      f,
      moduleImports(f, { types: true })
        .filter((s) => s.startsWith("."))
        .map((s) => resolve(dirname(f), s.replace(/\.js$/, ".ts")))
        .filter((t) => existsSync(t)),
    ]),
  );
}

/** The strongly connected components with more than one module (Tarjan's algorithm, iterative). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work.at(-1)!;
      const deps = graph.get(top.v) ?? [];
      if (top.i < deps.length) {
        const w = deps[top.i++]!;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) low.set(work.at(-1)!.v, Math.min(low.get(work.at(-1)!.v)!, low.get(top.v)!));
      if (low.get(top.v) === index.get(top.v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== top.v);
        if (component.length > 1) found.push(component.map(rel).sort());
      }
    }
  }
  return found;
}

describe("the import graph of src/ and grammar/", () => {
  const graph = importGraph();

  it("has no import against the pipeline's order", () => {
    const against = [...graph].flatMap(([file, deps]) => deps.filter((d) => layerOf(d) > layerOf(file)).map((d) => `${rel(file)} imports ${rel(d)}`));
    expect(against).toEqual([]);
    // The walk is real: it sees the frontend lowering into the IR.
    expect([...graph].some(([f, deps]) => rel(f).startsWith("src/frontend/") && deps.some((d) => rel(d).startsWith("src/ir/")))).toBe(true);
  });

  it("has no cycle, type-only imports included", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle and an import against the order when there is one", () => {
    const a = join(ROOT, "src", "ir", "a.ts");
    const b = join(ROOT, "src", "ir", "b.ts");
    expect(cycles(new Map([[a, [b]], [b, [a]]]))).toEqual([["src/ir/a.ts", "src/ir/b.ts"]]);
    expect(layerOf(join(ROOT, "src", "frontend", "lower.ts"))).toBeGreaterThan(layerOf(join(ROOT, "src", "ir", "graph.ts")));
  });
});
