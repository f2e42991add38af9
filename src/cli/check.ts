import { compileFile, parseArgs, UsageError } from "./io.js";

/** `netc check FILE`: parse, lower and type-check; print the errors or a one-line summary. */
export async function checkCommand(argv: string[]): Promise<number> {
  const { positional } = parseArgs(argv, {});
  const file = positional[0];
  if (!file) throw new UsageError("usage: netc check FILE");
  const c = compileFile(file);
  const g = c.graph!;
  process.stdout.write(`${file}: ok (network ${g.name}: ${g.params.length} params, ${g.nodes.length} nodes, ${g.kernels?.length ?? 0} kernels per step)\n`);
  return 0;
}
