import type { Graph, Value } from "./graph.js";

/** The first output (not a metric) typed like the label: its argmax is the predicted class. */
export function predictionOutput(graph: Graph, label: Value): string | undefined {
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  return graph.outputs.find((o) => !o.name.startsWith("metric.") && same(o.value.type.shape, label.type.shape))?.name;
}

/**
 * A classifier's prediction output for `label`: the output typed like it (one-hot rows, or one
 * 0/1 column), else the first with one more axis than it, of 2 or more classes (the label holds
 * class ids, as `cross_entropy(logits, ids)` takes them). `width` is a prediction row's width.
 */
export function classifierOutput(graph: Graph, label: Value): { output: string; width: number; ids: boolean } | undefined {
  const same = predictionOutput(graph, label);
  const width = label.type.shape.at(-1);
  if (same) return typeof width === "number" ? { output: same, width, ids: false } : undefined;
  const shape = label.type.shape;
  const byIds = graph.outputs.find((o) => {
    const s = o.value.type.shape;
    const classes = s.at(-1);
    return !o.name.startsWith("metric.") && s.length === shape.length + 1 && shape.every((d, i) => d === s[i]) && typeof classes === "number" && classes >= 2;
  });
  return byIds && { output: byIds.name, width: byIds.value.type.shape.at(-1) as number, ids: true };
}
