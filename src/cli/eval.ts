import { planOf } from "../codegen/plan.js";
import type { Graph } from "../ir/graph.js";
import type { TrainSpec } from "../ir/training.js";
import { RunnerPool } from "../runtime/backend.js";
import type { Checkpoint } from "../runtime/checkpoint.js";
import { prepareData, type InputTransform, type PreparedData, type RowSet } from "../runtime/data-source.js";
import { evaluate, type EvalResult } from "../runtime/evaluate.js";
import type { ConfusionMatrix } from "../runtime/metrics.js";
import { checkpointValues } from "../runtime/restore.js";
import { batchSizes } from "../runtime/trainer.js";
import { asUserErrors, loadCheckpoint, metaJson, openBackend } from "./backend.js";
import { compileFile, intOption, parseArgs, UsageError } from "./io.js";
import { fmtLoss, fmtPercent, fmtRate } from "./progress.js";

const USAGE = "usage: netc eval FILE --checkpoint CKPT [--split test|train|validation] [--backend auto|webgpu|cpu] [--batch N] [--json]";
const SPLITS = ["test", "train", "validation"] as const;
/** More classes than this (a character model's vocabulary) print only the macro averages as text. */
const MAX_PRINTED_CLASSES = 20;

/**
 * `netc eval FILE --checkpoint CKPT [--split test|train|validation] [--backend B] [--batch N] [--json]`:
 * runs the network in inference mode (dropout off, batchnorm on running statistics) with the
 * checkpoint's weights over a split of its data: the dataset's test split by default (for literal
 * data, the data itself); `train` and `validation` are the rows training used and held out (same
 * seed, limit and share as the checkpoint's run). Prints the loss, the accuracy, per-class
 * precision, recall and F1 with their macro averages, and the confusion matrix (or all of it as JSON).
 */
export async function evalCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { checkpoint: "string", split: "string", backend: "string", batch: "string", json: "boolean" });
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined) throw new UsageError(USAGE);
  const split = (options["split"] as string | undefined) ?? "test";
  if (!(SPLITS as readonly string[]).includes(split)) throw new UsageError(`--split must be test, train or validation, got ${split}`);

  const c = compileFile(file, { mode: "eval" });
  const g = c.graph!;
  const spec = c.train;
  if (!spec) throw new UsageError(`${file} has no train section: no data to evaluate on`);
  const ckpt = loadCheckpoint(ckptPath);
  const plan = planOf(g);
  const values = asUser(() => checkpointValues(ckpt, plan, ckptPath, false));
  const batch = intOption(options, "batch") || spec.batch;
  const data = await trainingData(ckpt, g, spec, ckptPath);
  const set: RowSet | undefined = split === "test" ? data.test : split === "train" ? data.train : data.validation;
  if (!set) throw new UsageError(`${file} holds out no validation rows (validation = ${spec.validation}); use --split test or train`);
  if (set.rows === 0) throw new UsageError(`the ${split} split has no rows`);

  const opened = await openBackend(options["backend"] as string | undefined, "evaluating");
  const pool = new RunnerPool(opened.backend, plan, values);
  let result: EvalResult;
  try {
    // NOTE: the runners are made first, so the time reported is the evaluation's alone.
    for (const size of batchSizes(set.rows, batch)) await asUserErrors(() => pool.get(size));
    result = await asUserErrors(() => evaluate(pool, set, { batch, task: data.task }));
    const runnerName = (await pool.owner()).name;
    const where = spec.dataset ? `the ${split} split of ${spec.dataset.name}` : split === "test" ? "the training section's data" : `the ${split} rows of the training section's data`;
    if (options["json"] === true) {
      process.stdout.write(JSON.stringify(evalJson(result, data, { file, checkpoint: ckptPath, split, backend: runnerName }), null, 2) + "\n");
      return 0;
    }
    const out = (line: string) => process.stdout.write(line + "\n");
    out(`netc: eval ${file} with ${ckptPath} (epoch ${ckpt.meta.epoch}) on ${where}: ${result.rows} rows in ${result.seconds.toFixed(2)} s (${fmtRate(result.rows / Math.max(result.seconds, 1e-9))} rows/s)`);
    if (result.loss !== undefined) out(`loss      ${fmtLoss(result.loss)}`);
    if (result.accuracy !== undefined) out(`accuracy  ${fmtPercent(result.accuracy)}`);
    if (result.confusion && result.confusion.classes > MAX_PRINTED_CLASSES) {
      const m = result.confusion.macro();
      out(`macro avg precision ${m.precision.toFixed(4)}  recall ${m.recall.toFixed(4)}  f1 ${m.f1.toFixed(4)}`);
      out(`(${result.confusion.classes} classes: --json gives the per-class scores and the confusion matrix)`);
    } else if (result.confusion) {
      out("");
      out(classTable(result.confusion, data.task?.classNames));
      out("");
      out("confusion matrix (rows: true class, columns: predicted class):");
      out(confusionTable(result.confusion, data.task?.classNames));
    }
    out(`backend: ${runnerName}`);
  } finally {
    pool.dispose();
    opened.close();
  }
  return 0;
}

/** The rows a checkpoint's run trained on: same seed, limit, validation share and input transform. */
export async function trainingData(ckpt: Checkpoint, g: Graph, spec: TrainSpec, path: string): Promise<PreparedData> {
  const limitText = ckpt.meta.extra?.["limit"];
  const limit = limitText ? Number(limitText) : undefined;
  const validationText = ckpt.meta.extra?.["validation"];
  const validation = validationText ? Number(validationText) : spec.validation;
  const transform = metaJson<InputTransform>(ckpt, "transform");
  if (transform === undefined && ckpt.meta.extra?.["transform"] !== undefined) throw new UsageError(`${path}: its input transform metadata is not valid JSON`);
  return asUserErrors(() =>
    prepareData({ ...spec, validation: Number.isFinite(validation) ? validation : spec.validation }, g, {
      seed: ckpt.meta.seed,
      limit: Number.isInteger(limit) ? limit : undefined,
      transform,
    }),
  );
}

/** Per class: precision, recall, F1 and support, then the macro averages. */
export function classTable(m: ConfusionMatrix, names?: string[]): string {
  const scores = m.perClass();
  const label = (c: number) => (names?.[c] !== undefined ? `${c} ${names[c]}` : String(c));
  const rows = scores.map((s, c) => [label(c), s.precision.toFixed(4), s.recall.toFixed(4), s.f1.toFixed(4), String(s.support)]);
  const macro = m.macro();
  rows.push(["macro avg", macro.precision.toFixed(4), macro.recall.toFixed(4), macro.f1.toFixed(4), String(m.total)]);
  const head = ["class", "precision", "recall", "f1", "support"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** The confusion matrix as a table with class ids as headers (and names in a key, when known). */
export function confusionTable(m: ConfusionMatrix, names?: string[]): string {
  const k = m.classes;
  const cells: string[][] = [];
  for (let t = 0; t < k; t++) cells.push(Array.from({ length: k }, (_, p) => String(m.at(t, p))));
  const width = Math.max(3, ...cells.flat().map((x) => x.length), String(k - 1).length);
  const rowHead = (t: number) => (names?.[t] !== undefined ? `${t} ${names[t]}` : String(t));
  const headWidth = Math.max(4, ...Array.from({ length: k }, (_, t) => rowHead(t).length));
  const lines = [`${"true".padEnd(headWidth)}  ${Array.from({ length: k }, (_, p) => String(p).padStart(width)).join(" ")}`];
  for (let t = 0; t < k; t++) lines.push(`${rowHead(t).padEnd(headWidth)}  ${cells[t]!.map((x) => x.padStart(width)).join(" ")}`);
  return lines.join("\n");
}

function evalJson(r: EvalResult, data: PreparedData, about: Record<string, string>): unknown {
  const m = r.confusion;
  const names = data.task?.classNames;
  return {
    ...about,
    rows: r.rows,
    loss: r.loss ?? null,
    accuracy: r.accuracy ?? null,
    classes: m ? m.perClass().map((s, c) => ({ id: c, ...(names?.[c] !== undefined ? { name: names[c] } : {}), ...s })) : null,
    macro: m ? m.macro() : null,
    confusion: m ? Array.from({ length: m.classes }, (_, t) => Array.from({ length: m.classes }, (_, p) => m.at(t, p))) : null,
  };
}

function asUser<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error && e.name === "CheckpointError") throw new UsageError(e.message);
    throw e;
  }
}
