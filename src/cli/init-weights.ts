import { readFileSync } from "node:fs";
import type { Graph } from "../ir/graph.js";
import { mapForeignWeights, type WeightSource } from "../weights/foreign.js";
import { netcLayers } from "../weights/layers.js";
import { decodeForeignSafetensors, type ForeignTensor } from "../weights/safetensors-any.js";
import { loadCheckpoint, userError } from "./backend.js";
import { UsageError } from "./io.js";

/**
 * `netc train --init FILE [--from torch|keras] [--partial]`: a fresh run's starting weights from a
 * file. Without `--from`, FILE is netc's own (a checkpoint, or the weights `netc import` wrote) and
 * its params and batchnorm statistics are taken by name (its optimizer state is not: the run starts
 * its own). With `--from`, FILE is any safetensors file of PyTorch- or Keras-named weights, mapped by
 * src/weights/foreign.ts.
 */
export function initWeights(graph: Graph, path: string, from: string | undefined, partial: boolean): Record<string, Float32Array> {
  if (from !== undefined && from !== "torch" && from !== "keras") throw new UsageError(`--from must be torch or keras, got ${from}`);
  let tensors: Record<string, ForeignTensor>;
  if (from === undefined) {
    const ckpt = loadCheckpoint(path);
    tensors = Object.fromEntries(Object.entries(ckpt.tensors).map(([n, t]) => [n, { shape: t.shape, values: t.values, dtype: "F32" }]));
  } else {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    try {
      tensors = decodeForeignSafetensors(bytes, path).tensors;
    } catch (e) {
      throw userError(e);
    }
  }
  const source: WeightSource = (from as WeightSource | undefined) ?? "netc";
  try {
    return mapForeignWeights(netcLayers(graph), tensors, { from: source, partial, what: path });
  } catch (e) {
    throw userError(e);
  }
}
