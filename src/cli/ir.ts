import { writeFileSync } from "node:fs";
import { Diagnostics } from "../base/diagnostics.js";
import { SourceFile } from "../base/source.js";
import { graphToDot } from "../ir/dot.js";
import { parseGraph } from "../ir/parse.js";
import { STAGE_NAMES } from "../ir/passes/pipeline.js";
import { printGraph } from "../ir/print.js";
import { graphToSvg } from "../ir/svg.js";
import { compileFile, parseArgs, UsageError, readSource } from "./io.js";

/** What `--format` accepts: the IR text, Graphviz DOT, or the DOT laid out as SVG. */
const FORMATS = ["text", "dot", "svg"] as const;
type Format = (typeof FORMATS)[number];

/**
 * `netc ir FILE [--after PASS] [--debug-info] [--format text|dot|svg] [--output FILE]`: the IR
 * after a named pass (default: the last), as text or as a picture, on stdout or into a file.
 */
export async function irCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { after: "string", "debug-info": "boolean", format: "string", output: "string" });
  const file = positional[0];
  if (!file) throw new UsageError("usage: netc ir FILE [--after PASS] [--debug-info] [--format text|dot|svg] [--output FILE]");
  if (file.endsWith(".ir")) return reprintIr(file, options);
  const after = options["after"] as string | undefined;
  if (after !== undefined && !STAGE_NAMES.includes(after))
    throw new UsageError(`unknown pass \`${after}\`; passes: ${STAGE_NAMES.join(", ")}`);
  const format = (options["format"] ?? "text") as string;
  if (!(FORMATS as readonly string[]).includes(format))
    throw new UsageError(`unknown format \`${format}\`; formats: ${FORMATS.join(", ")}`);
  const output = options["output"] as string | undefined;
  const c = compileFile(file, { after });
  const render = { debugInfo: options["debug-info"] === true };
  const graph = c.graph!;
  const rendered: Record<Format, () => string | Promise<string>> = {
    text: () => printGraph(graph, render),
    dot: () => graphToDot(graph, render),
    svg: () => graphToSvg(graph, render),
  };
  const out = await rendered[format as Format]();
  if (output === undefined) process.stdout.write(out);
  else {
    try {
      writeFileSync(output, out);
    } catch (e) {
      throw new UsageError(`cannot write ${output}: ${(e as Error).message}`);
    }
  }
  return 0;
}

/**
 * `netc ir FILE.ir [--debug-info]`: reads IR text (as `netc ir` prints it), validates it and prints
 * it back; errors are NC6001 diagnostics at the IR line, exit code 1.
 */
function reprintIr(file: string, options: Record<string, string | boolean>): number {
  for (const key of ["after", "format", "output"])
    if (options[key] !== undefined) throw new UsageError(`--${key} needs a .net file; a .ir file is validated and re-printed as text`);
  const text = readSource(file);
  const { graph, errors } = parseGraph(text, file);
  if (!graph) {
    const source = new SourceFile(file, text);
    const d = new Diagnostics();
    for (const e of errors) {
      const [, line, col, message] = /^(\d+):(\d+): (.*)$/s.exec(e)!;
      const start = Math.min((source.lineStarts[Number(line) - 1] ?? text.length) + Number(col) - 1, text.length);
      d.error("NC6001", { file: source, start, end: start + 1 }, { message: message! });
    }
    process.stderr.write(d.render() + "\n");
    return 1;
  }
  process.stdout.write(printGraph(graph, { debugInfo: options["debug-info"] === true }));
  return 0;
}
