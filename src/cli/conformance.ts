import { existsSync } from "node:fs";
import { acquireGpu, releaseGpu, type GpuContext } from "../runtime/device.js";
import {
  ConformanceRunner,
  conformanceDir,
  formatResult,
  listTests,
  opTable,
  summarize,
  type Backend,
  type TestResult,
} from "../onnx/runner.js";
import { parseArgs, UsageError } from "./io.js";

/** The share of counted (float32, deterministic) tests that must pass. */
const TARGET = 0.95;

const USAGE = "usage: netc conformance [DIR] [--backend cpu|webgpu|both] [--filter SUBSTRING] [--verbose]";

/**
 * `netc conformance [DIR] [--backend cpu|webgpu|both] [--filter SUBSTRING] [--verbose]`: runs the
 * ONNX node tests in DIR (default: $NETC_CONFORMANCE_DIR, else ../shared/conformance/onnx-node
 * from the repository root) and prints one line per test, a summary and a per-op table. Exits 1
 * when fewer than 95% of the float32 tests pass.
 */
export async function conformanceCommand(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const { positional, options } = parseArgs(argv, { backend: "string", filter: "string", verbose: "boolean" });
  if (positional.length > 1) throw new UsageError(USAGE);
  const dir = conformanceDir(positional[0]);
  if (!existsSync(dir)) throw new UsageError(`no conformance data at ${dir} (pass DIR or set NETC_CONFORMANCE_DIR)`);
  const choice = (options["backend"] as string | undefined) ?? "both";
  if (!["cpu", "webgpu", "both"].includes(choice)) throw new UsageError(`--backend must be cpu, webgpu or both, got ${choice}`);
  const verbose = options["verbose"] === true;
  const tests = listTests(dir, options["filter"] as string | undefined);
  if (!tests.length) throw new UsageError(`no test folders in ${dir}${options["filter"] ? ` matching ${String(options["filter"])}` : ""}`);

  let backends: Backend[] = choice === "both" ? ["cpu", "webgpu"] : [choice as Backend];
  let gpu: GpuContext | undefined;
  if (backends.includes("webgpu")) {
    const got = await acquireGpu();
    if (got.ok) gpu = got.gpu;
    else if (choice === "webgpu") throw new UsageError(`no WebGPU adapter: ${got.reason}`);
    else {
      process.stderr.write(`netc: warning: no WebGPU adapter (${got.reason}); running the CPU reference only\n`);
      backends = ["cpu"];
    }
  }
  const out = (line: string) => process.stdout.write(line + "\n");
  if (verbose) out(`conformance: ${tests.length} tests in ${dir} on ${backends.join(", ")}${gpu ? ` (${gpu.adapterName})` : ""}`);

  const results: TestResult[] = [];
  try {
    const runner = new ConformanceRunner({ backends, gpu });
    for (const tc of tests) {
      let r: TestResult;
      try {
        r = await runner.run(tc);
      } catch (e) {
        // NOTE: a bug in the importer or a backend fails this test; the run goes on.
        const reason = `internal error: ${(e as Error).message.split("\n")[0]}`;
        r = { name: tc.name, op: tc.op, status: "fail", reason, backends: {}, counted: true, ms: 0 };
      }
      results.push(r);
      out(formatResult(r, verbose));
    }
  } finally {
    if (gpu) releaseGpu(gpu);
  }

  const s = summarize(results, backends);
  const seconds = (performance.now() - t0) / 1000;
  out("");
  out(`per op (${backends.join(", ")}):`);
  for (const line of opTable(s, backends)) out(line);
  const rate = s.counted ? s.countedPassed / s.counted : 1;
  out(
    `float32 tests: ${s.countedPassed}/${s.counted} passed (${(100 * rate).toFixed(1)}%, target ${100 * TARGET}%) ` +
      `on ${backends.join(" and ")} in ${seconds.toFixed(1)} s`,
  );
  out(`${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return rate >= TARGET ? 0 : 1;
}
