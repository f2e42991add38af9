import type { Graph, Value } from "./graph.js";

/** The first output (not a metric) typed like the label: its argmax is the predicted class. */
export function predictionOutput(graph: Graph, label: Value): string | undefined {
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  return graph.outputs.find((o) => !o.name.startsWith("metric.") && same(o.value.type.shape, label.type.shape))?.name;
}
