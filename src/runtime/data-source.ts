import { charSequences } from "../data/text.js";
import { DataError } from "../data/errors.js";
import { loadDatasetAsync, type Dataset } from "../data/datasets.js";
import {
  batchIndices,
  idsToFloat,
  limitRows,
  oneHot,
  sliceRows,
  standardStats,
  standardise,
  takeRows,
  trainValidationSplit,
  type Columns,
} from "../data/pipeline.js";
import { rowCount, sizeOf, type AnyTensor, type FloatTensor, type IntTensor } from "../data/tensor.js";
import type { Graph, Value } from "../ir/graph.js";
import { classifierOutput, predictionOutput } from "../ir/prediction.js";
import type { InputTransform } from "./transform.js";
import type { TrainSpec } from "../ir/training.js";
import { classesOf, unigramEntropy } from "./metrics.js";

/**
 * The rows a training run, an evaluation or an inference reads, turned into what the graph's
 * per-step args take:
 *   1. literal columns (`data { x = [...] }`) by name, or a named dataset through src/data (with
 *      `limit`); dataset rows feed the network's one input and their targets the label `labels`;
 *   2. the input transform: image pixels are already in [0, 1] (the loaders scale them); table
 *      features (iris) are standardised per feature with the training rows' mean and std, kept in
 *      the checkpoint so evaluation and inference apply the same numbers;
 *   3. a seeded validation split (`validation = 0.1`), and for datasets the published test split;
 *   4. per batch: the rows gathered in the epoch's seeded order, class ids one-hot encoded to the
 *      label's width (so a 60,000-row dataset is never held one-hot in memory).
 */

/** Rows as columns named like the graph's args; int columns hold class ids, one-hot encoded per batch. */
export interface RowSet {
  rows: number;
  columns: Columns;
  /** Class-id columns and their class counts (the width of the one-hot rows). */
  oneHot: Record<string, number>;
}

export type { InputTransform };

/** What a classification's predictions and targets are. */
export interface ClassTask {
  /** The label arg. */
  label: string;
  /** The output whose argmax (or 0.5 threshold, for one column) is the prediction. */
  output: string;
  /** Classes (2 for a one-column binary output). */
  classes: number;
  /** The width of a prediction row: `classes`, or 1 for binary. */
  width: number;
  /** The label holds class ids (one per prediction row), not one-hot rows. */
  ids?: boolean;
  classNames?: string[];
}

/** Prepared rows and what is known about them. */
export interface PreparedData {
  /** Where the rows came from, for messages. */
  source: string;
  /** The training rows (after `limit` and the validation split). */
  train: RowSet;
  /** The held-out validation rows, when `validation` > 0 leaves any. */
  validation?: RowSet;
  /** The dataset's test split; for literal data, all of its rows. */
  test: RowSet;
  transform: InputTransform;
  /** Set for classification (a dataset, or `metrics = [accuracy]`) when an output fits the labels. */
  task?: ClassTask;
  /** Text datasets: the vocabulary and the unigram entropy of the training text (nats per character). */
  text?: { vocab: string[]; unigramEntropy: number };
}

/** Options for {@link prepareData}. */
export interface PrepareOptions {
  /** Seed of the validation split (the run's seed). */
  seed: number;
  /** Keep only the first `limit` training rows (overrides the dataset's `limit`). */
  limit?: number;
  /** A transform to apply instead of computing one (from a checkpoint). */
  transform?: InputTransform;
  /** Folder holding the dataset's files instead of its package's (tests). */
  dataDir?: string;
  /** An already loaded dataset (tests, or a caller that loads once). */
  dataset?: Dataset;
}

/** Loads and prepares the rows of a training section for `graph` (the training or inference graph). */
export async function prepareData(spec: TrainSpec, graph: Graph, opts: PrepareOptions): Promise<PreparedData> {
  if (spec.dataset) {
    const limit = opts.limit ?? spec.dataset.limit;
    const ds = opts.dataset ?? (await loadDatasetAsync(spec.dataset.name, { limit, dataDir: opts.dataDir }));
    return ds.kind === "text" ? prepareText(spec, graph, ds, opts) : prepareClassification(spec, graph, ds, opts);
  }
  return prepareLiteral(spec, graph, opts);
}

/** `data { x = [...]; target = [...] }`: columns by name; `limit` keeps the first rows. */
function prepareLiteral(spec: TrainSpec, graph: Graph, opts: PrepareOptions): PreparedData {
  const all: Columns = {};
  for (const c of spec.data) all[c.name] = { shape: [...c.shape], values: c.values };
  if (spec.data.length === 0) throw new DataError("", `${graph.name}'s training section has no data (neither \`data = DATASET\` nor \`data { ... }\`)`);
  const columns = limitRows(all, opts.limit);
  const { train, validation } = split(columns, spec.validation, opts.seed);
  const rows = spec.data[0]!.shape[0]!;
  const source = `the training section's data (${rows} row${rows === 1 ? "" : "s"}${opts.limit !== undefined && opts.limit < rows ? `, first ${opts.limit} used` : ""})`;
  const set = (c: Columns): RowSet => ({ rows: commonRows(c), columns: c, oneHot: {} });
  const label = graph.args.find((a) => a.arg!.role === "label");
  const classifier = label && classifierOutput(graph, label);
  if (label && classifier?.ids) checkClassIds(all[label.arg!.name]!.values, label.arg!.name, classifier);
  return {
    source,
    train: set(train),
    validation: validation && set(validation),
    test: set(all),
    transform: opts.transform ?? { kind: "none" },
    task: label && spec.metrics.includes("accuracy") ? literalTask(graph, label) : undefined,
  };
}

/**
 * A label column of class ids holds whole numbers from 0 to the classes - 1: an id out of range
 * would add nothing to the loss (its one-hot row is all zeros) and no cell to a confusion matrix.
 */
function checkClassIds(values: ArrayLike<number>, label: string, c: { output: string; width: number }): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < c.width))
      throw new DataError("", `the data column \`${label}\` holds class ids of \`${c.output}\`, whole numbers from 0 to ${c.width - 1}, but value ${i + 1} is ${v}`);
  }
}

/** The classification of literal one-hot (or 0/1) labels, or class ids: the output shaped like them (or with a class axis more). */
function literalTask(graph: Graph, label: Value): ClassTask | undefined {
  const found = classifierOutput(graph, label);
  if (!found) return undefined;
  const { output, width, ids } = found;
  return { label: label.arg!.name, output, classes: width === 1 ? 2 : width, width, ...(ids ? { ids } : {}) };
}

/** Image or table datasets: rows feed the input, class ids feed `labels` (one-hot per batch). */
function prepareClassification(spec: TrainSpec, graph: Graph, ds: Extract<Dataset, { kind: "images" | "table" }>, opts: PrepareOptions): PreparedData {
  const ref = spec.dataset!;
  const label = labelArg(graph);
  const width = label.type.shape.at(-1);
  if (width !== ds.classes)
    throw new DataError(`dataset ${ds.name}`, `has ${ds.classes} classes, but the label \`labels\` of ${graph.name} is ${typeof width === "number" ? width : String(width)} wide`);
  const toColumns = (inputs: FloatTensor, labels: IntTensor): Columns => ({ [ref.input]: inputs, labels });
  const { train, validation } = split(toColumns(ds.train.inputs, ds.train.labels), spec.validation, opts.seed);
  let transform: InputTransform = opts.transform ?? { kind: ds.kind === "images" ? "unit" : "none" };
  if (!opts.transform && ds.kind === "table") {
    const stats = standardStats(train[ref.input] as FloatTensor, "feature");
    transform = { kind: "standardise", mean: [...stats.mean], std: [...stats.std] };
  }
  const set = (c: Columns): RowSet => ({
    rows: commonRows(c),
    columns: { ...c, [ref.input]: applyTransform(c[ref.input] as FloatTensor, transform) },
    oneHot: { labels: ds.classes },
  });
  const output = predictionOutput(graph, label);
  return {
    source: ds.source,
    train: set(train),
    validation: validation && set(validation),
    test: set(toColumns(ds.test.inputs, ds.test.labels)),
    transform,
    task: output ? { label: "labels", output, classes: ds.classes, width: ds.classes, classNames: ds.classNames } : undefined,
  };
}

/** Text datasets: sequences of the input's length, next-character targets one-hot over the output width. */
function prepareText(spec: TrainSpec, graph: Graph, ds: Extract<Dataset, { kind: "text" }>, opts: PrepareOptions): PreparedData {
  const ref = spec.dataset!;
  const input = graph.argNamed(ref.input);
  const steps = input?.type.shape[1];
  const label = labelArg(graph);
  const classes = label.type.shape.at(-1);
  if (typeof steps !== "number" || typeof classes !== "number")
    throw new DataError(`dataset ${ds.name}`, `needs an input [batch, steps] and labels [batch, steps, classes] of fixed sizes`);
  if (ds.classes > classes)
    throw new DataError(
      `dataset ${ds.name}`,
      `the text has ${ds.classes} distinct characters, but ${graph.name}'s output has ${classes} classes: make the output layer at least ${ds.classes} wide`,
    );
  const seqs = (ids: IntTensor, what: string) => {
    const s = charSequences(ids.values, steps, { source: `dataset ${ds.name} (${what})` });
    return { [ref.input]: idsToFloat(s.inputs), labels: s.targets } as Columns;
  };
  const { train, validation } = split(seqs(ds.train.ids, "training text"), spec.validation, opts.seed);
  const set = (c: Columns): RowSet => ({ rows: commonRows(c), columns: c, oneHot: { labels: classes } });
  const output = predictionOutput(graph, label);
  return {
    source: ds.source,
    train: set(train),
    validation: validation && set(validation),
    test: set(seqs(ds.test.ids, "test text")),
    transform: { kind: "none" },
    task: output ? { label: "labels", output, classes, width: classes, classNames: [...ds.classNames] } : undefined,
    text: { vocab: [...ds.classNames], unigramEntropy: unigramEntropy(ds.train.ids.values) },
  };
}

function labelArg(graph: Graph): Value {
  const label = graph.argNamed("labels");
  if (!label || label.arg!.role !== "label") throw new Error(`internal: ${graph.name} names a dataset but has no label arg \`labels\``);
  return label;
}


function split(columns: Columns, fraction: number, seed: number): { train: Columns; validation?: Columns } {
  if (!(fraction > 0)) return { train: columns };
  const { train, validation } = trainValidationSplit(columns, fraction, seed);
  if (commonRows(train) === 0) throw new DataError("", `validation = ${fraction} leaves no training rows out of ${commonRows(columns)}`);
  return commonRows(validation) > 0 ? { train, validation } : { train };
}

function commonRows(c: Columns): number {
  const first = Object.values(c)[0];
  return first ? rowCount(first) : 0;
}

export { predictionOutput };

/** Applies an input transform to float rows (a new tensor, or the same one for `none` and `unit`). */
export function applyTransform(t: FloatTensor, transform: InputTransform): FloatTensor {
  if (transform.kind !== "standardise") return t;
  const width = sizeOf(t.shape.slice(1));
  if (width !== transform.mean.length)
    throw new DataError("", `the inputs have ${width} features per row, but the network was trained on ${transform.mean.length}`);
  return standardise(t, { per: "feature", mean: Float32Array.from(transform.mean), std: Float32Array.from(transform.std) });
}

/** The per-step arrays of one batch: rows [start, end) in order, or the rows at `indices`. */
export function batchOf(set: RowSet, rows: { start: number; end: number } | ArrayLike<number>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(set.columns)) {
    const part: AnyTensor = "start" in rows ? sliceRows(t, rows.start, rows.end) : takeRows(t, rows);
    const classes = set.oneHot[name];
    if (part.values instanceof Int32Array) out[name] = classes !== undefined ? oneHot(part as IntTensor, classes).values : idsToFloat(part as IntTensor).values;
    else out[name] = part.values;
  }
  return out;
}

/** The row indices of each batch of an epoch: seeded by (seed, epoch) so a resumed run repeats them. */
export function epochBatches(rows: number, batch: number, seed: number, epoch: number, shuffle = true): Int32Array[] {
  return batchIndices(rows, { batch, shuffle, seed, epoch });
}

/** The class ids of a batch's targets: argmax of one-hot rows (or a 0.5 threshold for one column). */
export function targetClasses(set: RowSet, task: ClassTask, rows: { start: number; end: number }): Int32Array {
  const t = sliceRows(set.columns[task.label]!, rows.start, rows.end);
  if (t.values instanceof Int32Array || task.ids) return Int32Array.from(t.values, Math.round);
  return classesOf(t.values, task.width);
}
