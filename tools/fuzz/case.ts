import { planOf } from "../../src/codegen/plan.js";
import { compile } from "../../src/compile.js";
import { NetcError } from "../../src/base/errors.js";
import { DataError } from "../../src/data/errors.js";
import type { Dataset } from "../../src/data/datasets.js";
import { DATASET_SHAPES } from "../../src/frontend/dataset-shapes.js";
import type { Plan } from "../../src/ir/plan.js";
import type { TrainSpec } from "../../src/ir/training.js";
import { MissingPackageError } from "../../src/optional-packages.js";
import { dimsFor, type Backend } from "../../src/runtime/backend.js";
import { CheckpointError } from "../../src/runtime/checkpoint.js";
import { prepareData, type PreparedData } from "../../src/runtime/data-source.js";
import { planNeeds } from "../../src/runtime/limits.js";
import { nonFiniteWeights } from "../../src/runtime/nan-trace.js";
import { Trainer } from "../../src/runtime/trainer.js";
import { caseCost } from "./cost.js";
import { Rng } from "./rng.js";

/**
 * One fuzz case on one backend, as `netc check` and `netc train` would run it but in-process:
 *   1. compile (the library's `compile`): diagnostics, or a graph; a thrown error, or a diagnostic
 *      that calls itself internal, is a crash;
 *   2. for a graph with a training section: its plan, a size cap (a step's buffers over
 *      {@link STEP_BYTES} are not run: a fuzzer must not allocate what a mutated size asks for),
 *      and a few rows of data: the section's own literal rows, or for a named dataset rows of the
 *      dataset's shape made up here (no dataset is loaded);
 *   3. one epoch of two steps of two rows through the Trainer (the loop `netc train` runs), reading
 *      the loss after each step and writing a checkpoint at the end.
 * User errors anywhere (NetcError, DataError, CheckpointError) are diagnostics; anything else
 * thrown is a crash. A run that ends well with a non-finite loss or non-finite saved weights or state is a
 * silent failure.
 */

/** By default, a step's buffers above this many bytes are not run (check only). */
export const STEP_BYTES = 64 * 1024 * 1024;

/** How far {@link prepareCase} goes. */
export interface PrepareOptions {
  /** Prepare the training step (else stop after check). */
  step: boolean;
  /** A step's buffers over this many bytes are not run. */
  stepBytes: number;
}

/** Rows per step, and rows per case (two steps). */
export const STEP_ROWS = 2;
const CASE_ROWS = 4;

/** What one case came to. */
export type Outcome = "diagnostic" | "clean" | "crash" | "hang" | "silent";

/** Everything the step needs, made by {@link prepareCase}. */
export interface CaseSetup {
  plan: Plan;
  infer?: Plan;
  spec: TrainSpec;
  data: PreparedData;
  /** Kernels per step (what the WebGPU step compiles). */
  kernels: number;
  /** The CPU training's estimated cost (see cost.ts), known before it runs. */
  cost: number;
}

/** The result of compiling and preparing a case. */
export type Prepared =
  | { done: true; outcome: Outcome; stage: string; detail: string; capped?: boolean }
  | { done: false; setup: CaseSetup };

/** What a training run on one backend gave. */
export interface StepTrace {
  /** The running mean of the loss after each step. */
  losses: number[];
  /** Every persistent value at the end. */
  state: Record<string, Float32Array>;
}

/** Whether an error is one a user is meant to see (a diagnostic), not a bug. */
export function isUserError(e: unknown): boolean {
  const userType = e instanceof NetcError || e instanceof DataError || e instanceof CheckpointError || e instanceof MissingPackageError;
  return userType && !/\binternal\b/i.test((e as Error).message);
}

/** An error as one text: its message, and the stack for a crash. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `thrown non-Error: ${String(e)}`;
  return isUserError(e) ? `${e.name}: ${e.message}` : `${e.name}: ${e.message}\n${e.stack ?? ""}`;
}

/** Steps 1 and 2: compile, plan, cap and data. */
export async function prepareCase(text: string, path: string, opts: PrepareOptions = { step: true, stepBytes: STEP_BYTES }): Promise<Prepared> {
  let c: ReturnType<typeof compile>;
  try {
    c = compile(text, path);
    c.diagnostics.render();
  } catch (e) {
    return { done: true, outcome: "crash", stage: "check", detail: describeError(e) };
  }
  const internal = c.diagnostics.items.find((d) => /\binternal\b/i.test(d.message));
  if (internal) return { done: true, outcome: "crash", stage: "check", detail: `a diagnostic says internal: ${internal.code} ${internal.message}` };
  if (c.diagnostics.hasErrors || !c.graph) {
    if (c.graph) return { done: true, outcome: "crash", stage: "check", detail: "errors reported, yet a graph was returned" };
    if (!c.diagnostics.hasErrors) return { done: true, outcome: "crash", stage: "check", detail: "no graph, yet no error reported" };
    return { done: true, outcome: "diagnostic", stage: "check", detail: c.diagnostics.items[0]!.message };
  }
  const g = c.graph;
  if (!c.train || !g.loss) return { done: true, outcome: "clean", stage: "check", detail: "compiles; no training section" };
  if (!opts.step) return { done: true, outcome: "clean", stage: "check", detail: "compiles; the step is not run for this case" };
  const spec: TrainSpec = { ...c.train, epochs: 1, batch: Math.min(c.train.batch, STEP_ROWS) };
  try {
    const plan = planOf(g, { train: spec });
    // NOTE: dimsFor refuses a dim no input binds, as the runners do (a RunnerSetupError).
    const needs = planNeeds(plan, dimsFor(plan, spec.batch), UNLIMITED);
    if (needs.totalBytes > opts.stepBytes)
      return { done: true, outcome: "clean", stage: "plan", detail: `a step needs ${(needs.totalBytes / 1048576).toFixed(0)} MiB: not run`, capped: true };
    const data = await prepareData(spec, g, { seed: spec.seed, limit: CASE_ROWS, ...(spec.dataset ? { dataset: madeUpDataset(spec.dataset.name, g.argNamed(spec.dataset.input)?.type.shape[1]) } : {}) });
    let infer: Plan | undefined;
    if (data.validation) {
      const ce = compile(text, path, { mode: "eval" });
      if (!ce.graph) return { done: true, outcome: "crash", stage: "plan", detail: `compiles for training but not for evaluation: ${ce.diagnostics.items[0]?.message}` };
      infer = planOf(ce.graph);
    }
    const cost = caseCost(plan, dimsFor(plan, spec.batch), infer && dimsFor(infer, spec.batch), infer);
    return { done: false, setup: { plan, infer, spec, data, kernels: g.kernels?.length ?? 0, cost } };
  } catch (e) {
    return { done: true, outcome: isUserError(e) ? "diagnostic" : "crash", stage: "data", detail: describeError(e) };
  }
}

const UNLIMITED = { maxStorageBuffersPerShaderStage: Infinity, maxStorageBufferBindingSize: Infinity, maxComputeWorkgroupsPerDimension: Infinity, maxComputeInvocationsPerWorkgroup: Infinity };

/** Step 3 on one backend: the trace, or the outcome when it ended otherwise. */
export async function stepCase(
  backend: Backend,
  setup: CaseSetup,
  checkpointPath: string,
): Promise<{ trace: StepTrace } | { outcome: Outcome; detail: string }> {
  let trainer: Trainer | undefined;
  try {
    trainer = await Trainer.create({ backend, plan: setup.plan, infer: setup.infer, spec: setup.spec, data: setup.data, readEvery: 1, logEvery: 1, checkpointPath });
    const losses: number[] = [];
    await trainer.run({ onStep: (p) => p.loss !== undefined && losses.push(p.loss) });
    const state = await trainer.pool.state();
    const badLoss = losses.find((l) => !Number.isFinite(l));
    if (badLoss !== undefined) return { outcome: "silent", detail: `training ended well with the loss ${badLoss}` };
    // NOTE: the trainer checks the weights and the state (optimizer moments, batchnorm
    // statistics) every step; either left non-finite by a run that ended well went unnoticed.
    const bad = nonFiniteWeights(setup.plan, state);
    if (bad.length) return { outcome: "silent", detail: `training ended well and saved non-finite values: ${bad.slice(0, 4).join(", ")}` };
    return { trace: { losses, state } };
  } catch (e) {
    const msg = e instanceof Error ? e.message : "";
    // NOTE: a device error after the plan passed the limit checks is netc's, not the user's.
    if (/device reported an error|WebGPU-only problem/.test(msg)) return { outcome: "crash", detail: describeError(e) + (e instanceof Error ? `\n${e.stack}` : "") };
    return { outcome: isUserError(e) ? "diagnostic" : "crash", detail: describeError(e) };
  } finally {
    trainer?.dispose();
  }
}

/** Made-up rows shaped like a named dataset's: random pixels or features, class ids; a short text for text. */
function madeUpDataset(name: string, steps: unknown): Dataset | undefined {
  const shape = DATASET_SHAPES[name];
  if (!shape) return undefined;
  const rng = new Rng(7, name.length);
  if (shape.kind === "text") {
    const chars = ["a", "b", " "];
    const length = (typeof steps === "number" && Number.isInteger(steps) && steps > 0 && steps < 4096 ? steps : 8) * CASE_ROWS + 1;
    const text = Array.from({ length }, () => rng.pick(chars)).join("");
    const ids = Int32Array.from(text, (ch) => chars.indexOf(ch));
    const split = { text, ids: { shape: [ids.length], values: ids } };
    return { name, kind: "text", source: `made-up ${name}`, train: split, test: split, inputShape: [], classes: chars.length, classNames: chars, vocab: { chars, index: new Map(chars.map((ch, i) => [ch, i])) } };
  }
  const classes = shape.classes!;
  const width = shape.sample.reduce((a, b) => a * b, 1);
  const split = () => ({
    inputs: { shape: [CASE_ROWS, ...shape.sample], values: Float32Array.from({ length: CASE_ROWS * width }, () => (shape.kind === "images" ? rng.next() : rng.next() * 6 - 3)) },
    labels: { shape: [CASE_ROWS], values: Int32Array.from({ length: CASE_ROWS }, () => rng.int(classes)) },
  });
  return { name, kind: shape.kind, source: `made-up ${name}`, train: split(), test: split(), inputShape: shape.sample, classes, classNames: Array.from({ length: classes }, (_, i) => `class ${i}`) };
}
