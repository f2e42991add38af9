import { writeFileSync } from "node:fs";
import { graphToDot } from "../ir/dot.js";
import { STAGE_NAMES } from "../ir/passes/pipeline.js";
import { printGraph } from "../ir/print.js";
import { graphToSvg } from "../ir/svg.js";
import { compileFile, parseArgs, UsageError } from "./io.js";

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
