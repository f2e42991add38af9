import type { Expr, TrainDecl } from "./ast.js";

/**
 * The hint NC2001 gives for a name nothing defines, when the name is one a batch could feed: a
 * data column the network reads (it feeds the network only through an `input`), or a target the
 * loss reads that no column or input feeds.
 */

/** What the training section can feed. */
export interface Feedable {
  /** Data columns by name, with the shape of their literal. */
  columns: Map<string, number[]>;
  /** Whether the section names a dataset (its targets are the label `labels`). */
  dataset: boolean;
}

/** The data columns and dataset of a training section, before it is lowered. */
export function feedableNames(t: TrainDecl | undefined): Feedable {
  const shape = (e: Expr): number[] => (e.kind === "array" ? [e.items.length, ...(e.items[0] ? shape(e.items[0]) : [])] : []);
  return {
    columns: new Map((t?.data ?? []).map((e) => [e.name.name, e.value.kind === "numbers" ? e.value.shape : shape(e.value)])),
    dataset: t?.settings.some((s) => s.key.name === "data") ?? false,
  };
}

/**
 * The hint for unknown `name`: `near` (a near miss in scope, from `suggest`) inside blocks; in the
 * network, a data column of that name first (how to declare the input it would feed), then the
 * near miss; in the training section, the near miss, else the dataset's `labels` or how to feed it.
 */
export function unknownNameHint(name: string, at: { near: string; inBlock: boolean; inTrain: boolean; feedable: Feedable }): string {
  if (at.inBlock) return at.near;
  const column = at.feedable.columns.get(name);
  // NOTE: a data column of that very name beats a near miss (`w` is not a typo of `x` when a column `w` exists).
  if (column && !at.inTrain) {
    const dims = ["B", ...column.slice(1)].join(", ");
    return `; did you mean an \`input\`? The data column \`${name}\` feeds the network only through one: \`input ${name}: f32[${dims}]\``;
  }
  if (at.near || !at.inTrain) return at.near;
  if (at.feedable.dataset) return "; the dataset's targets are `labels`";
  return `; did you mean an \`input\`? A value fed with each batch is declared in the network (\`input ${name}: f32[B, ...]\`) or given as a data column (\`${name} = [...]\`)`;
}
