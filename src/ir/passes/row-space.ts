import type { Kernel, Value } from "../graph.js";
import { reduceAxes } from "../ops/reduce.js";
import { opDef } from "../ops/registry.js";
import { sameShape, type Dim } from "../types.js";

// The rows of a row kernel (see fuse-merge.ts): which reductions share them, and which values
// are one per row or one per element, so that a thread owning a row computes them right.

/** Longest row (elements per reduced row) a row kernel writes element-wise results for: each row is one thread's loop. */
export const ROW_ELEMENTS_MAX = 1024;

/** The space of a row kernel: the reductions' input shape and axes, and the row shape kept (with and without the reduced dims). */
export interface RowSpace {
  shape: Dim[];
  axes: number[];
  /** The shape with the reduced dims set to 1 (what keepdims gives, and what broadcasts back by row). */
  rowShape: Dim[];
  /** Elements per row, when every reduced dim is a number. */
  count?: number;
}

/** The row space of a reduce kernel (its one reduction's input shape and axes). */
export function rowSpaceOf(k: Kernel): RowSpace | undefined {
  const reds = k.nodes.filter((n) => opDef(n.op).kind === "reduce");
  if (reds.length !== 1) return undefined;
  const red = reds[0]!;
  const shape = red.inputs[0]!.type.shape;
  const axes = reduceAxes(red.attrs, shape.length);
  const rowShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  let count: number | undefined = 1;
  for (const a of axes) {
    const d = shape[a]!;
    count = typeof d === "number" && count !== undefined ? count * d : undefined;
  }
  // NOTE: a row of one element is no reduction worth a loop, and its values could not tell rows from elements.
  if (count === 1) return undefined;
  return { shape, axes, rowShape, ...(count !== undefined ? { count } : {}) };
}

export function sameSpace(a: RowSpace, b: RowSpace): boolean {
  return sameShape(a.shape, b.shape) && a.axes.length === b.axes.length && a.axes.every((x, i) => x === b.axes[i]);
}

/** Whether a value of `shape` holds one value per row of `space`, broadcasting back by row (right-aligned onto the row shape). */
export function isRowShape(shape: readonly Dim[], space: RowSpace): boolean {
  const r = space.rowShape;
  if (shape.length > r.length) return false;
  const pad = r.length - shape.length;
  return r.every((d, i) => (i < pad ? d === 1 : shape[i - pad] === d));
}

/** Whether a value of `shape` holds one value per row, in row order (the kept dims with or without the reduced ones). */
function isRowValue(shape: readonly Dim[], space: RowSpace): boolean {
  if (isRowShape(shape, space)) return true;
  const kept = space.shape.filter((_, i) => !space.axes.includes(i));
  return sameShape(shape, kept);
}

/**
 * Whether the merged kernel `k` can run as rows of `space`: every reduction over `space`; every
 * value computed from a reduction is either a row value (one per row) or an element of the space
 * computed by elementwise ops (never through a view, which would read another row); its results
 * are rows or elements; and element-wise results only for short, fixed rows.
 */
export function rowsFit(k: Kernel, space: RowSpace): boolean {
  const dependent = new Set<Value>();
  for (const n of k.nodes) {
    const def = opDef(n.op);
    if (def.kind === "reduce") {
      const axes = reduceAxes(n.attrs, n.inputs[0]!.type.shape.length);
      if (!sameShape(n.inputs[0]!.type.shape, space.shape) || axes.length !== space.axes.length || axes.some((a, i) => a !== space.axes[i])) return false;
      dependent.add(n.out);
      continue;
    }
    if (!n.inputs.some((v) => dependent.has(v))) {
      // NOTE: a reshape is an alias of a row value only: codegen names it as its input.
      if (n.op === "reshape") return false;
      continue;
    }
    dependent.add(n.out);
    if (n.op === "reshape") {
      if (!isRowValue(n.out.type.shape, space)) return false;
      continue;
    }
    if (def.kind !== "elementwise" && n.op !== "broadcast") return false;
    if (sameShape(n.out.type.shape, space.shape)) {
      // An element reads a row value by broadcasting: only a row-shaped one lands on its own row.
      if (n.inputs.some((v) => dependent.has(v) && !sameShape(v.type.shape, space.shape) && !isRowShape(v.type.shape, space))) return false;
      continue;
    }
    if (!isRowValue(n.out.type.shape, space)) return false;
  }
  for (const v of [k.output, ...(k.extraOutputs ?? [])]) {
    if (sameShape(v.type.shape, space.shape)) {
      if (space.count === undefined || space.count > ROW_ELEMENTS_MAX) return false;
    } else if (!isRowValue(v.type.shape, space)) return false;
  }
  return true;
}
