import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { webgpuBackend, type Backend } from "../../src/runtime/backend.js";
import { acquireGpu, releaseGpu, type GpuContext } from "../../src/runtime/device.js";
import { prepareCase, STEP_BYTES, stepCase, type Outcome } from "./case.js";
import { disagreement } from "./compare.js";
import { defaultBudget } from "./cost.js";
import { mutate } from "./mutate.js";
import { Rng } from "./rng.js";
import type { CaseChecked, CaseReply, CaseRequest } from "./worker.js";

/**
 * `npm run fuzz -- --n N --seed S`: mutates the examples and runs each mutant as `netc check`
 * and `netc train` would, in-process (see case.ts); counts diagnostics, clean runs, crashes,
 * hangs and silent failures; writes each failing case to --out (default .tmp/fuzz/) as a .net
 * file that says how to reproduce it. Case i of seed S is always the same mutant.
 *
 *   --n N             cases (default 1000)
 *   --seed S          seed (default 1)
 *   --from I          start at case I (cases I to I+N-1: a long run split over processes)
 *   --case I[,J...]   run these cases only (to reproduce some; repeatable)
 *   --file F.net      run these files as cases instead of mutants (a failing case's file, again)
 *   --timeout SEC     for the check (compile, plan, data) and then again for the CPU step (default
 *                     30): over it is a hang
 *   --step-budget G   a CPU step estimated to cost over G billion interpreter iterations (cost.ts)
 *                     is not run, counted as "step skipped: too large" (default: what the
 *                     slowest rate seen does in --timeout, 0.01 G a second: 0.3 G at 30 s), so
 *                     the timeout only catches a step that hangs
 *   --step-every K    the training step only for cases whose index is a multiple of K (default 1)
 *   --step-mb M       a step whose buffers hold more than M MiB is not run (default 64)
 *   --gpu-every K     the WebGPU step for every K-th case that reached the CPU step (default 1; 0: none)
 *   --gpu-max M       at most M WebGPU steps (default: no limit)
 *   --gpu-kernels K   the WebGPU step only for cases of at most K kernels per step (default: any;
 *                     a new kernel's pipeline takes about a second to compile on llvmpipe)
 *   --gpu-timeout SEC per WebGPU step (default 300; shader compilation on llvmpipe is slow)
 *   --out DIR         where failing cases go (default .tmp/fuzz)
 *   --json            print the summary as one JSON line too
 *   --quiet           no progress lines
 */

interface Options {
  n: number;
  seed: number;
  only: number[];
  files: string[];
  from: number;
  timeoutMs: number;
  stepEvery: number;
  stepBytes: number;
  stepBudget: number;
  gpuEvery: number;
  gpuMax: number;
  gpuKernels: number;
  gpuTimeoutMs: number;
  out: string;
  json: boolean;
  quiet: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { n: 1000, seed: 1, only: [], files: [], from: 0, timeoutMs: 30_000, stepEvery: 1, stepBytes: STEP_BYTES, stepBudget: NaN, gpuEvery: 1, gpuMax: Infinity, gpuKernels: Infinity, gpuTimeoutMs: 300_000, out: ".tmp/fuzz", json: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a non-negative number, got ${argv[i]}`);
      return v;
    };
    if (flag === "--n") o.n = num();
    else if (flag === "--seed") o.seed = num();
    else if (flag === "--case") o.only.push(...argv[++i]!.split(",").map((c) => {
      const v = Number(c);
      if (!Number.isInteger(v) || v < 0) throw new Error(`--case needs case numbers (I or I,J,...), got ${argv[i]}`);
      return v;
    }));
    else if (flag === "--from") o.from = num();
    else if (flag === "--file") o.files.push(argv[++i]!);
    else if (flag === "--timeout") o.timeoutMs = num() * 1000;
    else if (flag === "--step-every") o.stepEvery = Math.max(1, num());
    else if (flag === "--step-mb") o.stepBytes = num() * 1048576;
    else if (flag === "--step-budget") o.stepBudget = num() * 1e9;
    else if (flag === "--gpu-every") o.gpuEvery = num();
    else if (flag === "--gpu-max") o.gpuMax = num();
    else if (flag === "--gpu-kernels") o.gpuKernels = num();
    else if (flag === "--gpu-timeout") o.gpuTimeoutMs = num() * 1000;
    else if (flag === "--out") o.out = argv[++i]!;
    else if (flag === "--json") o.json = true;
    else if (flag === "--quiet") o.quiet = true;
    else throw new Error(`unknown option ${flag} (see tools/fuzz/main.ts)`);
  }
  if (Number.isNaN(o.stepBudget)) o.stepBudget = defaultBudget(o.timeoutMs / 1000);
  return o;
}


// NOTE: the recurrent and attention examples unroll to thousands of nodes and compile in about a
// second; they are picked less often so a case costs tens of milliseconds on average.
const SLOW = new Set(["char-lstm.net", "transformer-encoder.net", "stacked-lstm.net", "fashion-cnn2.net"]);

/** The worker that checks cases and runs their CPU step; replaced when a case hangs or kills it. */
class CaseWorker {
  private worker?: Worker;
  private pending?: { resolve: (r: CaseReply | { dead: string }) => void; checked: () => void };

  private start(): Worker {
    const w = new Worker(new URL("./worker.js", import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 3072 }, stderr: false });
    // NOTE: a replaced worker's late events (its exit after terminate) are not the current case's.
    const mine = () => this.worker === w;
    w.on("message", (r: CaseReply | CaseChecked) => {
      if (!mine()) return;
      if ("checked" in r) this.pending?.checked();
      else this.settle(r);
    });
    w.on("error", (e) => mine() && this.settle({ dead: `the worker died: ${e.name}: ${e.message}\n${e.stack ?? ""}` }));
    w.on("exit", (code) => mine() && this.settle({ dead: `the worker exited with code ${code}` }));
    return w;
  }

  private settle(r: CaseReply | { dead: string }): void {
    if ("dead" in r) this.worker = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(r);
  }

  /**
   * Runs a case: "hang" (with where) when its check and preparation take longer than `checkMs`,
   * or its CPU step, from the worker's {@link CaseChecked} note on, longer than `stepMs` (the
   * worker is then replaced).
   */
  run(req: CaseRequest, checkMs: number, stepMs: number): Promise<CaseReply | { dead: string } | { hang: "check" | "cpu step"; ms: number }> {
    const w = (this.worker ??= this.start());
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = (phase: "check" | "cpu step", ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.pending = undefined;
          this.worker = undefined;
          void w.terminate();
          resolve({ hang: phase, ms });
        }, ms);
      };
      arm("check", checkMs);
      this.pending = { resolve: (r) => (clearTimeout(timer), resolve(r)), checked: () => arm("cpu step", stepMs) };
      w.postMessage(req);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      w.removeAllListeners("exit");
      w.postMessage("exit");
      await w.terminate();
    }
  }
}

/** One case's record. */
interface CaseRecord {
  index: number;
  example: string;
  steps: string[];
  outcome: Outcome;
  stage: string;
  detail: string;
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const examples = readdirSync("examples").filter((f) => f.endsWith(".net")).sort();
  const sources = new Map(examples.map((f) => [f, readFileSync(join("examples", f), "utf8")]));
  const weights = examples.map((f) => (SLOW.has(f) ? 0.3 : 1));
  const counts: Record<Outcome, number> = { diagnostic: 0, clean: 0, crash: 0, hang: 0, silent: 0 };
  const extra = { checkOnly: 0, capped: 0, tooLarge: 0, cpuSteps: 0, cpuTrained: 0, gpuSteps: 0, gpuAgree: 0, checkSeconds: 0, cpuSeconds: 0, gpuSeconds: 0, slowestStep: { index: -1, seconds: 0, cost: 0 } };
  const failures: { index: number; outcome: Outcome; file: string }[] = [];
  const worker = new CaseWorker();
  let gpu: { ctx: GpuContext; backend: Backend } | undefined | null;
  const t0 = performance.now();
  mkdirSync(o.out, { recursive: true });
  const indices = o.files.length ? o.files.map((_, i) => i) : o.only.length ? o.only : Array.from({ length: o.n }, (_, i) => o.from + i);
  let stepped = 0;
  let deaths = 0;
  let ran = 0;
  for (const index of indices) {
    const rng = new Rng(o.seed, index);
    const file = o.files[index];
    const example = file ?? examples[rng.weighted(weights)]!;
    const mutant = file ? { text: readFileSync(file, "utf8"), steps: ["as written"] } : mutate(sources.get(example)!, rng);
    const path = file ?? join("examples", example);
    const rec: CaseRecord = { index, example, steps: mutant.steps, outcome: "clean", stage: "check", detail: "" };
    const reply = await worker.run({ id: index, text: mutant.text, path, step: index % o.stepEvery === 0, stepBytes: o.stepBytes, stepBudget: o.stepBudget }, o.timeoutMs, o.timeoutMs);
    if ("hang" in reply) Object.assign(rec, { outcome: "hang", stage: reply.hang, detail: `no answer in ${reply.ms / 1000} s${reply.hang === "check" ? "" : " (the step's estimated cost was under the budget)"}` });
    else if ("dead" in reply) {
      Object.assign(rec, { outcome: "crash", stage: "worker", detail: reply.dead });
      // NOTE: a worker that cannot even start (its modules gone: a node_modules reinstalled under a
      // long run) would make every later case a crash; the run stops instead.
      if (++deaths >= 5) throw new Error(`the worker died 5 times in a row, last: ${reply.dead.split("\n")[0]}; stopping at case ${index}`);
    }
    else if (reply.id !== index) throw new Error(`internal: the worker answered case ${reply.id} for case ${index}`);
    else {
      deaths = 0;
      Object.assign(rec, { outcome: reply.outcome, stage: reply.stage, detail: reply.detail });
      extra.checkSeconds += reply.checkMs / 1000;
      extra.cpuSeconds += reply.stepMs / 1000;
      if (reply.capped) extra.capped++;
      else if (reply.tooLarge) extra.tooLarge++;
      else if (!reply.stepped && reply.outcome === "clean") extra.checkOnly++;
      if (reply.stepped) {
        extra.cpuSteps++;
        if (process.env["FUZZ_COSTS"]) process.stderr.write(`cost ${index} ${reply.cost} ${reply.stepMs.toFixed(1)} ${example}\n`);
        if (reply.stepMs / 1000 > extra.slowestStep.seconds) extra.slowestStep = { index, seconds: reply.stepMs / 1000, cost: reply.cost ?? 0 };
        if (reply.trace) extra.cpuTrained++;
        const small = (reply.kernels ?? 0) <= o.gpuKernels;
        const wantGpu = small && o.gpuEvery > 0 && stepped++ % o.gpuEvery === 0 && extra.gpuSteps < o.gpuMax && (reply.outcome === "clean" || reply.outcome === "diagnostic");
        if (wantGpu && gpu === undefined) gpu = await openGpu();
        if (wantGpu && gpu) {
          extra.gpuSteps++;
          const tg = performance.now();
          const g = await gpuCase(gpu.backend, mutant.text, path, o.stepBytes, reply, o.gpuTimeoutMs, join(o.out, ".webgpu-step.safetensors"));
          extra.gpuSeconds += (performance.now() - tg) / 1000;
          if (g) Object.assign(rec, g);
          else extra.gpuAgree++;
        }
      }
    }
    counts[rec.outcome]++;
    if (file) process.stdout.write(`${file}: ${rec.outcome} at ${rec.stage}: ${rec.detail.split("\n")[0]}\n`);
    if (rec.outcome === "crash" || rec.outcome === "hang" || rec.outcome === "silent") {
      const saved = join(o.out, `seed${o.seed}-case${index}-${rec.outcome}.net`);
      writeFileSync(saved, reproducer(o.seed, rec) + mutant.text);
      failures.push({ index, outcome: rec.outcome, file: saved });
      process.stderr.write(`${rec.outcome}: case ${index} (${example}; ${rec.steps.join("; ")}) at ${rec.stage}: ${rec.detail.split("\n")[0]} -> ${saved}\n`);
    }
    const done = ++ran;
    if (!o.quiet && done % 100 === 0)
      process.stderr.write(`fuzz: ${done}/${indices.length} cases, ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify({ ...counts, cpuSteps: extra.cpuSteps, cpuTrained: extra.cpuTrained, gpuSteps: extra.gpuSteps, gpuAgree: extra.gpuAgree, capped: extra.capped, tooLarge: extra.tooLarge })}\n`);
  }
  await worker.close();
  if (gpu) releaseGpu(gpu.ctx);
  const seconds = (performance.now() - t0) / 1000;
  const out = (s: string) => process.stdout.write(s + "\n");
  out(`netc fuzz: seed ${o.seed}, ${indices.length} cases${o.from ? ` from case ${o.from}` : ""} (the examples, 1-3 mutations each) in ${seconds.toFixed(1)} s`);
  out(`  diagnostics ${counts.diagnostic}, clean ${counts.clean} (check only ${extra.checkOnly}, over the step's size cap ${extra.capped}, step skipped: too large ${extra.tooLarge})`);
  out(`  training steps: CPU ${extra.cpuSteps} (${extra.cpuTrained} trained), WebGPU ${gpu === null ? "unavailable" : `${extra.gpuSteps} (${extra.gpuAgree} agree with the CPU)`}`);
  out(`  time: check ${extra.checkSeconds.toFixed(1)} s, CPU steps ${extra.cpuSeconds.toFixed(1)} s, WebGPU steps ${extra.gpuSeconds.toFixed(1)} s${extra.slowestStep.index >= 0 ? `; slowest CPU step ${extra.slowestStep.seconds.toFixed(1)} s (case ${extra.slowestStep.index}, estimated cost ${extra.slowestStep.cost.toExponential(2)})` : ""}`);
  out(`  crashes ${counts.crash}, hangs ${counts.hang}, silent failures ${counts.silent}${failures.length ? `; cases in ${o.out}/` : ""}`);
  if (o.json) out(JSON.stringify({ seed: o.seed, cases: indices.length, seconds, counts, ...extra, gpu: gpu !== null, failures }));
  return counts.crash + counts.hang + counts.silent > 0 ? 1 : 0;
}

/** The device, opened once for the whole run (null when there is none: the WebGPU steps are left out). */
async function openGpu(): Promise<{ ctx: GpuContext; backend: Backend } | null> {
  const got = await acquireGpu();
  if (!got.ok) {
    process.stderr.write(`fuzz: no WebGPU adapter (${got.reason}); CPU steps only\n`);
    return null;
  }
  return { ctx: got.gpu, backend: webgpuBackend(got.gpu) };
}

/** The WebGPU step of a case the worker stepped on the CPU, compared with it; undefined when they agree. */
async function gpuCase(backend: Backend, text: string, path: string, stepBytes: number, cpu: CaseReply, timeoutMs: number, checkpoint: string): Promise<Partial<CaseRecord> | undefined> {
  const p = await prepareCase(text, path, { step: true, stepBytes });
  if (p.done) return { outcome: "crash", stage: "webgpu", detail: `the case prepares differently in the main thread: ${p.detail}` };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), timeoutMs)));
  const r = await Promise.race([stepCase(backend, p.setup, checkpoint), hang]);
  clearTimeout(timer);
  if (r === "hang") return { outcome: "hang", stage: "webgpu", detail: `no answer in ${timeoutMs / 1000} s` };
  if ("outcome" in r) {
    if (r.outcome !== "diagnostic") return { outcome: r.outcome, stage: "webgpu", detail: r.detail };
    if (cpu.outcome === "diagnostic" || /does not fit this device/.test(r.detail)) return undefined;
    return { outcome: "silent", stage: "webgpu", detail: `the CPU trained, WebGPU said: ${r.detail}` };
  }
  if (!cpu.trace) return { outcome: "silent", stage: "webgpu", detail: `WebGPU trained, the CPU said: ${cpu.detail}` };
  const diff = disagreement(cpu.trace, r.trace);
  return diff ? { outcome: "silent", stage: "webgpu", detail: `WebGPU and the CPU disagree: ${diff}` } : undefined;
}

/** The comment block a failing case's file starts with. */
function reproducer(seed: number, rec: CaseRecord): string {
  const lines = [
    `netc fuzz: seed ${seed}, case ${rec.index}: ${rec.outcome} at ${rec.stage}`,
    `reproduce: npm run fuzz -- --seed ${seed} --case ${rec.index}   (or: netc check / netc train this file)`,
    `mutant of examples/${rec.example}: ${rec.steps.join("; ")}`,
    ...rec.detail.split("\n").slice(0, 12),
  ];
  return lines.map((l) => `# ${l}`).join("\n") + "\n";
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
