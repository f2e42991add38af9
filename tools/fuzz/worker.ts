import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import { cpuBackend } from "../../src/runtime/cpu-backend.js";
import { prepareCase, stepCase, type Outcome, type StepTrace } from "./case.js";

/**
 * The fuzzer's worker thread: checks a case and runs its CPU step. It runs in a thread so that
 * a case that never ends (a hang) can be stopped: the main thread terminates the worker and
 * starts another. Between the two it posts a {@link CaseChecked} note, so the main thread times
 * check and step apart; a step whose estimated cost (cost.ts) is over the budget is not run.
 */

/** A case for the worker. */
export interface CaseRequest {
  id: number;
  text: string;
  path: string;
  /** Run the training step (else check only). */
  step: boolean;
  /** A step's buffers over this many bytes are not run. */
  stepBytes: number;
  /** A step estimated to cost more than this (cost.ts's units) is not run: "step skipped: too large". */
  stepBudget: number;
}

/** The worker's note that a case is checked and prepared, and its step starts now. */
export interface CaseChecked {
  id: number;
  checked: true;
  /** The step's estimated cost. */
  cost: number;
}

/** The worker's answer. */
export interface CaseReply {
  id: number;
  outcome: Outcome;
  stage: string;
  detail: string;
  capped?: boolean;
  /** The step was not run: its estimated cost is over the budget. */
  tooLarge?: boolean;
  /** The estimated cost of a case that reached the step. */
  cost?: number;
  /** Set when the CPU step ran to its end. */
  trace?: StepTrace;
  /** Whether the case reached the training step (its CPU result is `trace`, or the outcome). */
  stepped: boolean;
  /** Kernels per step of a stepped case. */
  kernels?: number;
  /** Milliseconds spent checking (and preparing) and in the CPU step. */
  checkMs: number;
  stepMs: number;
}

const port = parentPort!;
const dir = mkdtempSync(join(tmpdir(), "netc-fuzz-"));
const checkpoint = join(dir, "step.safetensors");
const backend = cpuBackend();

port.on("message", (req: CaseRequest | "exit") => {
  if (req === "exit") {
    rmSync(dir, { recursive: true, force: true });
    port.close();
    return;
  }
  void answer(req).then((reply) => port.postMessage(reply));
});

async function answer(req: CaseRequest): Promise<CaseReply> {
  const t0 = performance.now();
  let t1 = t0;
  const ms = () => ({ checkMs: t1 - t0, stepMs: performance.now() - t1 });
  try {
    const p = await prepareCase(req.text, req.path, { step: req.step, stepBytes: req.stepBytes });
    t1 = performance.now();
    if (p.done) return { id: req.id, outcome: p.outcome, stage: p.stage, detail: p.detail, stepped: false, ...(p.capped ? { capped: true } : {}), ...ms() };
    const { kernels, cost } = p.setup;
    if (cost > req.stepBudget)
      return { id: req.id, outcome: "clean", stage: "plan", detail: `step skipped: too large (estimated cost ${cost.toExponential(2)}, budget ${req.stepBudget.toExponential(2)})`, stepped: false, tooLarge: true, cost, ...ms() };
    port.postMessage({ id: req.id, checked: true, cost } satisfies CaseChecked);
    const r = await stepCase(backend, p.setup, checkpoint);
    if ("trace" in r) return { id: req.id, outcome: "clean", stage: "cpu", detail: "trained", trace: r.trace, stepped: true, kernels, cost, ...ms() };
    return { id: req.id, outcome: r.outcome, stage: "cpu", detail: r.detail, stepped: true, kernels, cost, ...ms() };
  } catch (e) {
    return { id: req.id, outcome: "crash", stage: "worker", detail: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e), stepped: false, ...ms() };
  }
}
