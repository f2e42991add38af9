import { planOf } from "../codegen/plan.js";
import { dimsFor } from "../runtime/backend.js";
import { DEFAULT_LIMITS, planNeeds } from "../runtime/limits.js";
import { userError } from "./backend.js";
import { compileFile, parseArgs, UsageError } from "./io.js";

const USAGE = "usage: netc check FILE [--target webgpu]";

/**
 * `netc check FILE [--target webgpu]`: parse, lower and type-check; print the errors or a one-line
 * summary. With `--target webgpu`, also plan the training step at the section's batch size (1
 * without one) and check it against WebGPU's default limits, which every adapter offers: the
 * largest buffer, the memory of a step, and anything over a limit (exit 1).
 */
export async function checkCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { target: "string" });
  const file = positional[0];
  if (!file || positional.length > 1) throw new UsageError(USAGE);
  const target = options["target"] as string | undefined;
  if (target !== undefined && target !== "webgpu") throw new UsageError(`--target must be webgpu (WebGPU's default limits), got ${target}`);
  const c = compileFile(file);
  const g = c.graph!;
  const out = (line: string) => process.stdout.write(line + "\n");
  out(`${file}: ok (network ${g.name}: ${g.params.length} params, ${g.nodes.length} nodes, ${g.kernels?.length ?? 0} kernels per step)`);
  if (target === undefined) return 0;
  const batch = c.train?.batch ?? 1;
  // NOTE: a dim no input binds (a label's width a dataset cannot fix) is the user's to fix, as
  // train says; specialising for it threw "internal: dim ... is unbound" (found by the fuzzer).
  try {
    dimsFor(planOf(g), batch);
  } catch (e) {
    throw userError(e);
  }
  const plan = planOf(g, { batches: [batch] });
  const dims = dimsFor(plan, batch);
  const needs = planNeeds(plan, dims, DEFAULT_LIMITS);
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  out(`${file}: on WebGPU at batch ${batch}: largest buffer ${needs.largest.label} ${mib(needs.largest.bytes)}${needs.largest.at ? ` (${needs.largest.at})` : ""} of at most ${mib(DEFAULT_LIMITS.maxStorageBufferBindingSize)}; a step's buffers ${mib(needs.totalBytes)} (${mib(needs.unsharedBytes)} without reuse)`);
  for (const p of needs.problems) process.stderr.write(`netc: does not fit WebGPU's limits: ${p}\n`);
  return needs.problems.length ? 1 : 0;
}
