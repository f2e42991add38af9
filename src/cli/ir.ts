import { STAGE_NAMES } from "../ir/passes/pipeline.js";
import { printGraph } from "../ir/print.js";
import { compileFile, parseArgs, UsageError } from "./io.js";

/** `netc ir FILE [--after PASS] [--debug-info]`: the IR text after a named pass (default: the last). */
export async function irCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { after: "string", "debug-info": "boolean" });
  const file = positional[0];
  if (!file) throw new UsageError("usage: netc ir FILE [--after PASS] [--debug-info]");
  const after = options["after"] as string | undefined;
  if (after !== undefined && !STAGE_NAMES.includes(after))
    throw new UsageError(`unknown pass \`${after}\`; passes: ${STAGE_NAMES.join(", ")}`);
  const c = compileFile(file, { after });
  process.stdout.write(printGraph(c.graph!, { debugInfo: options["debug-info"] === true }));
  return 0;
}
