import type { RunnerPool } from "./backend.js";
import { batchOf, targetClasses, type ClassTask, type RowSet } from "./data-source.js";
import { classesOf, ConfusionMatrix } from "./metrics.js";

/** Loss and accuracy over a set of rows (row-weighted means of the per-batch values), and the confusion matrix when asked. */
export interface EvalResult {
  rows: number;
  loss?: number;
  /** The confusion matrix's accuracy when there is one, else the graph's `metric.accuracy` averaged over rows. */
  accuracy?: number;
  confusion?: ConfusionMatrix;
  seconds: number;
}

/** Options for {@link evaluate}. */
export interface EvalOptions {
  batch: number;
  /** Build the confusion matrix from the prediction output read back per batch. */
  task?: ClassTask;
  /** Called after each batch with the rows done so far. */
  onBatch?: (done: number, total: number) => void;
}

/**
 * Runs an inference pool over rows in order, batch by batch (the last one smaller), reading the
 * loss, `metric.accuracy` and, for a confusion matrix, the prediction output: one read-back per batch.
 */
export async function evaluate(pool: RunnerPool, set: RowSet, opts: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  let lossSum = 0;
  let accSum = 0;
  let hasLoss = false;
  let hasAcc = false;
  const confusion = opts.task ? new ConfusionMatrix(opts.task.classes) : undefined;
  for (let start = 0; start < set.rows; start += opts.batch) {
    const end = Math.min(set.rows, start + opts.batch);
    const runner = await pool.get(end - start);
    const read = ["loss", "metric.accuracy", ...(opts.task ? [opts.task.output] : [])].filter((n) => runner.readable.includes(n));
    const got = await runner.run(batchOf(set, { start, end }), read);
    const n = end - start;
    if (got["loss"]) {
      lossSum += got["loss"][0]! * n;
      hasLoss = true;
    }
    if (got["metric.accuracy"]) {
      accSum += got["metric.accuracy"][0]! * n;
      hasAcc = true;
    }
    if (confusion && opts.task) {
      const predicted = classesOf(got[opts.task.output]!, opts.task.width);
      confusion.addAll(targetClasses(set, opts.task, { start, end }), predicted);
    }
    opts.onBatch?.(end, set.rows);
  }
  const rows = set.rows;
  return {
    rows,
    loss: hasLoss && rows ? lossSum / rows : undefined,
    // NOTE: with a confusion matrix the accuracy is its own, so the two agree on any input (NaN scores included).
    accuracy: confusion && rows ? confusion.accuracy() : hasAcc && rows ? accSum / rows : undefined,
    confusion,
    seconds: (performance.now() - t0) / 1000,
  };
}
