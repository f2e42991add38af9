import type { Graph } from "../ir/graph.js";
import { hyperValues, type DataColumn, type TrainSpec } from "../ir/training.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import { initialValues } from "./init.js";
import type { StepRunner } from "./runner.js";

/** Starting values of every param and optimizer state, from its initialiser and the seed. */
export function initialParams(g: Graph, dims: DimBindings, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const p of g.persistent) out[p.arg!.name] = initialValues(p.arg!.init!, concreteShape(p.type.shape, dims), seed, p.arg!.name);
  return out;
}

/** One logged point of a run. */
export interface LossPoint {
  epoch: number;
  step: number;
  loss: number;
}

/** How a training loop runs and reports. */
export interface LoopOptions {
  epochs: number;
  logEvery: number;
  onLog?: (p: LossPoint) => void;
}

/** The batches of one epoch, in order: the last partial batch is left out (shapes are specialised per batch size). */
export function batches(data: DataColumn[], batch: number): Record<string, Float32Array>[] {
  const rows = data[0]?.shape[0] ?? 0;
  const out: Record<string, Float32Array>[] = [];
  for (let start = 0; start + batch <= rows; start += batch) {
    const b: Record<string, Float32Array> = {};
    for (const c of data) {
      const width = numel(c.shape.slice(1));
      b[c.name] = c.values.subarray(start * width, (start + batch) * width);
    }
    out.push(b);
  }
  return out;
}

/**
 * Runs the epochs; the loss is read back only on logged epochs (the last step of the epoch),
 * so other steps never wait for the device.
 */
export async function trainLoop(spec: TrainSpec, runner: StepRunner, opts: LoopOptions): Promise<LossPoint[]> {
  const epochBatches = batches(spec.data, spec.batch);
  const history: LossPoint[] = [];
  let step = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    const logged = epoch === 1 || epoch === opts.epochs || epoch % opts.logEvery === 0;
    for (let i = 0; i < epochBatches.length; i++) {
      step++;
      const last = i === epochBatches.length - 1;
      const hyper = Object.fromEntries(Object.entries(hyperValues(spec, step - 1)).map(([k, v]) => [k, Float32Array.of(v)]));
      const loss = await runner.step({ ...epochBatches[i]!, ...hyper }, logged && last);
      if (loss !== undefined) {
        const p = { epoch, step, loss };
        history.push(p);
        opts.onLog?.(p);
      }
    }
  }
  return history;
}
