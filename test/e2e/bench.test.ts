import { describe, expect, it } from "vitest";
import { randn } from "../../src/cli/bench-timing.js";
import { netc } from "../util/cli.js";

// `netc bench` as a user runs it: result lines in the peers' format (no timing is asserted: a
// figure depends on the machine), the values that show the workloads are the peers' (the MLP's
// first loss, a matmul entry), and a bad workload name as a one-line error.

const PEER_FIELDS = ["system", "workload", "median_ms", "min_ms", "n", "gflops_median", "gflops_best", "dispatches", "passes", "submits"];

/** The result lines of a run (the info line left out). */
function results(out: string): Record<string, unknown>[] {
  const lines = out.trim().split("\n");
  for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => !("info" in r));
}

describe("netc bench", () => {
  it("prints one JSON line per workload with the peers' fields, counts from the runtime and the peers' starting loss", async () => {
    const r = await netc("bench", "--workload", "matmul-64,mlp-step", "--n", "2", "--json");
    expect(r.code, r.err).toBe(0);
    const [mm, mlp] = results(r.out);
    for (const line of [mm!, mlp!]) {
      for (const f of PEER_FIELDS) expect(line, f).toHaveProperty(f);
      expect(line["system"]).toBe("netc");
      expect(line["n"]).toBe(2);
      expect(line["min_ms"] as number).toBeGreaterThan(0);
      expect(line["median_ms"] as number).toBeGreaterThanOrEqual(line["min_ms"] as number);
      expect(line["gflops_best"] as number).toBeGreaterThan(0);
      // NOTE: one step is one compute pass and one submit, whatever the kernel count.
      expect(line["passes"]).toBe(1);
      expect(line["submits"]).toBe(1);
      expect(line["dispatches"] as number).toBeGreaterThanOrEqual(line["kernels"] as number);
    }
    expect(mm!["workload"]).toBe("matmul-64");
    expect(mm!["dispatches"]).toBe(1);
    // C[0][0] of the peers' operands (xorshift seeds 1 and 2), computed here.
    const [a, b] = [randn(64 * 64, 1), randn(64 * 64, 2)];
    let c00 = 0;
    for (let k = 0; k < 64; k++) c00 += a[k]! * b[k * 64]!;
    expect(mm!["c00"] as number).toBeCloseTo(c00, 3);
    // Every peer starts its MLP at 2.425 (same Glorot weights, data and labels) and the loss falls.
    expect(mlp!["workload"]).toBe("mlp-step");
    expect(mlp!["lossStart"]).toBeCloseTo(2.425, 3);
    expect(mlp!["lossEnd"] as number).toBeLessThan(mlp!["lossStart"] as number);
  });

  it("runs on the CPU reference (no GPU counts) and prints the table without --json", async () => {
    const r = await netc("bench", "--workload", "matmul-32", "--n", "1", "--backend", "cpu");
    expect(r.code, r.err).toBe(0);
    const line = JSON.parse(r.out.split("\n").find((l) => l.includes('"workload"'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ workload: "matmul-32", n: 1, dispatches: null, passes: null, submits: null });
    expect(r.out).toMatch(/^workload +median ms +min ms +n +GFLOP\/s med \(best\) +disp\/pass\/sub +notes$/m);
    expect(r.out).toMatch(/^matmul-32 +[\d.]+ +[\d.]+ +1 /m);
  });

  it("--profile: each kernel's time per step by ops and source line, and the JavaScript time", async () => {
    const r = await netc("bench", "--workload", "mlp-step", "--n", "2", "--profile");
    expect(r.code, r.err).toBe(0);
    const line = JSON.parse(r.out.split("\n").find((l) => l.includes('"workload"'))!) as { kernels: number; profile: { steps: number; kernels: { name: string; at?: string; ms: number }[]; jsMs: number } };
    expect(line.profile.steps).toBe(3);
    expect(line.profile.kernels.length).toBeGreaterThanOrEqual(line.kernels);
    expect(line.profile.jsMs).toBeGreaterThan(0);
    // The weight update of the first layer is a matmul named after the optimizer's line of mlp-step.net.
    expect(line.profile.kernels.some((k) => /update: matmul/.test(k.name) && /^mlp-step\.net:\d+:\d+$/.test(k.at ?? ""))).toBe(true);
    expect(r.out).toMatch(/^mlp-step: profile: 3 steps, \d+ kernels per step; kernels: median of (2 steps, timestamp queries|3 steps, each kernel submitted alone)/m);
    expect(r.out).toMatch(/^ +[\d.]+ +[\d.]+% +\d+ +k\d+ (grad: |update: )?matmul\S* +mlp-step\.net:\d+:\d+$/m);
    expect(r.out).toMatch(/JavaScript [\d.]+ ms\/step/);
  });

  it("a compile workload: netc check in a fresh process, with its CPU time and peak memory", async () => {
    const r = await netc("bench", "--workload", "dense-20", "--n", "1", "--json");
    expect(r.code, r.err).toBe(0);
    const [line] = results(r.out);
    expect(line).toMatchObject({ workload: "dense-20", n: 1, status: "ok" });
    expect(line!["cpu_ms"] as number).toBeGreaterThan(0);
    expect(line!["peak_rss_mb"] as number).toBeGreaterThan(0);
  });

  it("--cold: a fresh process, ready before it is set up, set up before its first result; then a warm one", async () => {
    const r = await netc("bench", "--workload", "matmul-16", "--n", "1", "--cold", "--json");
    expect(r.code, r.err).toBe(0);
    const [line] = results(r.out);
    expect(line).toMatchObject({ workload: "matmul-16 cold", n: 1 });
    const [ready, setup, first] = [line!["ready_ms"], line!["setup_ms"], line!["median_ms"]] as number[];
    expect(ready).toBeGreaterThan(0);
    expect(setup).toBeGreaterThanOrEqual(ready!);
    expect(first).toBeGreaterThanOrEqual(setup!);
    expect(line!["mesa_cache_bytes"] as number).toBeGreaterThan(0);
    // A second child on the cache the first left: set up and done, from the same spawn-relative clock.
    expect(line!["warm_setup_ms"] as number).toBeGreaterThan(0);
    expect(line!["warm_ms"] as number).toBeGreaterThanOrEqual(line!["warm_setup_ms"] as number);
  });

  it("a bad workload name is a one-line error listing the names, exit 1", async () => {
    const r = await netc("bench", "--workload", "matmul-64,mlp-stepp");
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    const lines = r.err.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^netc: unknown workload `mlp-stepp`; did you mean `mlp-step`\?; workloads: matmul-N .*mlp-step, cnn-infer, train-EXAMPLE \(.*iris.*\), dense-50-wgsl/);
    const big = await netc("bench", "--workload", "matmul-9000");
    expect(big.code).toBe(1);
    expect(big.err).toBe("netc: workload matmul-9000: the size can be at most 8192\n");
  });

  it("--help prints the command's usage", async () => {
    const r = await netc("bench", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("bench [--workload a,b] [--n N]");
  });
});
