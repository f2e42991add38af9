import { readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { compile, type CompileOptions, type Compiled } from "../compile.js";
import { NetcError } from "../base/errors.js";

/** A user-facing failure the CLI reports without a stack trace. */
export class UsageError extends Error {}

/** A source file's text; a missing or unreadable file is a one-line UsageError. */
export function readSource(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR") throw new UsageError(`cannot read ${path}: it is a folder, not a .net file`);
    throw new UsageError(code === "ENOENT" ? `cannot read ${path}: no such file` : `cannot read ${path}: ${(e as Error).message}`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new UsageError(`${path} is not a text file (a NUL byte at offset ${nul}); netc reads .net source text in UTF-8`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${path} is not UTF-8 text; netc reads .net source text in UTF-8`);
  }
  // NOTE: a byte-order mark (some Windows editors write one) is not part of the program.
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

/** Reads and compiles a `.net` file; prints diagnostics; throws UsageError when the file cannot be used. */
export function compileFile(path: string, opts: CompileOptions = {}): Compiled {
  const text = readSource(path);
  let c: Compiled;
  try {
    c = compile(text, path, opts);
  } catch (e) {
    // NOTE: an option the file cannot satisfy (a `read` name it does not have) is the caller's mistake.
    if (e instanceof NetcError) throw new UsageError(e.message);
    throw e;
  }
  if (c.diagnostics.items.length) process.stderr.write(c.diagnostics.render() + "\n");
  if (c.diagnostics.hasErrors) {
    const n = c.diagnostics.items.filter((d) => d.severity === "error").length;
    throw new UsageError(`${n} error${n === 1 ? "" : "s"} in ${path}`, { cause: "reported" });
  }
  return c;
}

/** Parses `--flag value` and `--flag=value` options after the positional arguments. */
export function parseArgs(argv: string[], flags: Record<string, "string" | "boolean">): { positional: string[]; options: Record<string, string | boolean> } {
  const positional: string[] = [];
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const [key, inline] = a.slice(2).split("=", 2) as [string, string | undefined];
    const kind = flags[key];
    if (!kind) throw new UsageError(`unknown option --${key}; accepted: ${Object.keys(flags).map((f) => "--" + f).join(", ")}`);
    if (kind === "boolean") options[key] = true;
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`--${key} needs a value`);
      options[key] = v;
    }
  }
  return { positional, options };
}

/** An integer option, checked. */
export function intOption(options: Record<string, string | boolean>, key: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n) || n < 0) throw new UsageError(`--${key} must be a non-negative integer, got ${String(v)}`);
  return n;
}

/** Refuses, before any work, an output path whose folder is missing or that is a folder itself. */
export function checkOutputPath(path: string, flag: string): void {
  const dir = dirname(path);
  const folder = statSync(dir, { throwIfNoEntry: false });
  if (!folder) throw new UsageError(`${flag} ${path}: the folder ${dir} does not exist`);
  if (!folder.isDirectory()) throw new UsageError(`${flag} ${path}: ${dir} is not a folder`);
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${flag} ${path} is a folder; give a file name`);
}
