import type { BlockDecl, ImportDecl, Program } from "./ast.js";
import type { Diagnostics } from "../base/diagnostics.js";
import { FUNCTIONS } from "./functions.js";
import { parseProgram } from "./parse.js";
import { SourceFile } from "../base/source.js";

/** Reads a file by path; `undefined` when it does not exist or cannot be read. */
export type ReadFile = (path: string) => string | undefined;

/** A block together with the names its body can call: the scope of the file that declares it. */
export interface BlockDef {
  decl: BlockDecl;
  scope: BlockScope;
}

/** The blocks a file can call by name: its own and those of the files it imports directly. */
export type BlockScope = ReadonlyMap<string, BlockDef>;

/** The blocks visible from the main file, and every block of every loaded file (for checking unused ones). */
export interface Linked {
  scope: BlockScope;
  blocks: BlockDef[];
}

/** Names a block cannot take: the built-in functions and `repeat`. */
export const BUILTIN_CALLS: readonly string[] = [...Object.keys(FUNCTIONS), "repeat"];

/**
 * Loads the files a program imports and builds the block scope of every file:
 *   1. a file's own blocks come first; a second block of the same name is NC2003, a block named
 *      like a built-in function NC2026;
 *   2. each `import "path"` is resolved against the importing file's folder and read with
 *      `readFile`; a file that cannot be read is NC2025 at the path string;
 *   3. an import of a file that is still being loaded (a cycle) is NC2024, reported at the import
 *      in the first file of the cycle that leads into it, with the whole cycle in the message;
 *   4. a loaded file is parsed once (syntax errors are reported in that file) and scoped
 *      recursively; its own blocks, not the ones it imports, join the importer's scope, where a
 *      name clash with a different block is NC2027.
 * Imported files contribute only their blocks; their networks and training sections are ignored.
 */
export function linkProgram(root: Program, d: Diagnostics, readFile: ReadFile = () => undefined): Linked {
  const rootPath = root.span.file.path.replace(/\\/g, "/");
  const rootDir = dirname(rootPath);
  const loaded = new Map<string, Map<string, BlockDef>>();
  const blocks: BlockDef[] = [];
  /** The files being loaded, outermost first, with the import each one is following. */
  const stack: { path: string; via?: ImportDecl }[] = [];

  /** A path as messages show it: relative to the main file's folder when it is inside it. */
  const display = (path: string) => (rootDir === "." || !path.startsWith(`${rootDir}/`) ? path : path.slice(rootDir.length + 1));

  /** Loads a file; returns its own blocks (what importers see) and its scope (what its blocks see). */
  const load = (program: Program, path: string): { own: Map<string, BlockDef>; scope: BlockScope } => {
    const own = new Map<string, BlockDef>();
    const scope = new Map<string, BlockDef>();
    loaded.set(path, own);
    for (const decl of program.blocks) {
      const name = decl.name.name;
      const prior = own.get(name);
      if (BUILTIN_CALLS.includes(name)) d.error("NC2026", decl.name.span, { name });
      else if (prior) d.error("NC2003", decl.name.span, { name }).notes.push({ message: "first defined here", span: prior.decl.name.span });
      else {
        const def = { decl, scope };
        own.set(name, def);
        scope.set(name, def);
        blocks.push(def);
      }
    }
    stack.push({ path });
    for (const imp of program.imports) {
      const target = resolvePath(path, imp.path);
      stack[stack.length - 1]!.via = imp;
      const open = stack.findIndex((f) => f.path === target);
      if (open >= 0) {
        const cycle = [...stack.slice(open).map((f) => display(f.path)), display(target)].join(" -> ");
        d.error("NC2024", stack[open]!.via!.span, { cycle });
        continue;
      }
      let imported = loaded.get(target);
      if (!imported) {
        const text = readFile(target);
        if (text === undefined) {
          d.error("NC2025", imp.pathSpan, { path: imp.path });
          continue;
        }
        imported = load(parseProgram(new SourceFile(target, text), d), target).own;
      }
      for (const [name, def] of imported) {
        const prior = scope.get(name);
        if (!prior) scope.set(name, def);
        else if (prior !== def)
          d.error("NC2027", imp.pathSpan, { path: imp.path, name }).notes.push({ message: "first defined here", span: prior.decl.name.span });
      }
    }
    stack.pop();
    return { own, scope };
  };

  return { scope: load(root, rootPath).scope, blocks };
}

/** The folder of a `/`-separated path: `a/b.net` -> `a`, `b.net` -> `.`. */
function dirname(path: string): string {
  path = path.replace(/\\/g, "/");
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * Resolves an import path against the importing file, without node:path so the frontend also runs
 * in a browser: `dir/a.net` + `../b/c.net` -> `b/c.net`. Absolute import paths are kept.
 */
export function resolvePath(from: string, relative: string): string {
  const joined = relative.startsWith("/") ? relative : `${dirname(from)}/${relative.replace(/\\/g, "/")}`;
  const out: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "." || (part === "" && out.length > 0)) continue;
    if (part === ".." && out.length > 0 && out[out.length - 1] !== ".." && out[out.length - 1] !== "") out.pop();
    else out.push(part);
  }
  return out.join("/") || ".";
}
