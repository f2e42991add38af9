import type { Plan } from "../ir/plan.js";
import { concreteShape, formatShape } from "../ir/types.js";
import { CheckpointError, type Checkpoint, type StoredTensor } from "./checkpoint.js";

/**
 * Checks a checkpoint against the graph that will use it and returns the values of the graph's
 * persistent args. Refused, with a CheckpointError naming the file: a checkpoint of another
 * network, a missing tensor, a tensor of another shape, and (for `exact`, i.e. resuming
 * training) tensors the graph does not have, such as another optimizer's state.
 */
export function checkpointValues(ckpt: Checkpoint, graph: Pick<Plan, "name" | "params">, path: string, exact: boolean): Record<string, Float32Array> {
  if (ckpt.meta.network !== graph.name)
    throw new CheckpointError(path, `is a checkpoint of network \`${ckpt.meta.network || "?"}\`, not of \`${graph.name}\``);
  const out: Record<string, Float32Array> = {};
  const problems: string[] = [];
  for (const p of graph.params) {
    const name = p.name;
    const t: StoredTensor | undefined = Object.hasOwn(ckpt.tensors, name) ? ckpt.tensors[name] : undefined;
    const shape = concreteShape(p.shape, {});
    const kind = p.role;
    if (!t) problems.push(`it has no tensor \`${name}\` (${kind} ${formatShape(shape)} of ${graph.name})`);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      problems.push(`tensor \`${name}\` is ${formatShape(t.shape)}, but ${graph.name}'s ${kind} is ${formatShape(shape)}`);
    else out[name] = t.values;
  }
  if (exact) {
    const known = new Set(graph.params.map((p) => p.name));
    const extra = Object.keys(ckpt.tensors).filter((n) => !known.has(n));
    if (extra.length)
      problems.push(
        `it holds ${extra.length === 1 ? "a tensor" : "tensors"} ${graph.name} does not have (${extra.slice(0, 4).map((n) => `\`${n}\``).join(", ")}${extra.length > 4 ? ", ..." : ""}): written with another optimizer or network?`,
      );
  }
  if (problems.length) {
    const shown = problems.slice(0, 5);
    const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : "";
    throw new CheckpointError(path, `does not fit ${graph.name}: ${shown.join("; ")}${more}`);
  }
  return out;
}
