import type { Init } from "../ir/graph.js";
import { numel } from "../ir/types.js";
import { normal, streamOf, uniform01 } from "./random.js";

/** Fan-in and fan-out of a weight shaped [in, out] (or [out, in, kh, kw] for convolutions). */
function fans(shape: number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const receptive = numel(shape.slice(2));
  return [shape[1]! * receptive, shape[0]! * receptive];
}

/**
 * A param's initial values from its initialiser, seed and name. Xavier is Glorot's uniform
 * (limit = gain·sqrt(6 / (fan_in + fan_out))); He is normal with std = gain·sqrt(2 / fan_in).
 */
export function initialValues(init: Init, shape: number[], seed: number, name: string): Float32Array {
  const n = numel(shape);
  const out = new Float32Array(n);
  const s = streamOf(name);
  const o = init.options;
  const [fanIn, fanOut] = fans(shape);
  const uniform = (lo: number, hi: number) => {
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * uniform01(seed, s, i);
  };
  const gauss = (mean: number, std: number) => {
    for (let i = 0; i < n; i++) out[i] = mean + std * normal(seed, s, i);
  };
  switch (init.kind) {
    case "zeros":
      break;
    case "ones":
      out.fill(1);
      break;
    case "uniform":
      uniform(o["low"] ?? -0.05, o["high"] ?? 0.05);
      break;
    case "normal":
      gauss(o["mean"] ?? 0, o["std"] ?? 0.05);
      break;
    case "xavier": {
      const limit = (o["gain"] ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
      uniform(-limit, limit);
      break;
    }
    case "he":
      gauss(0, (o["gain"] ?? 1) * Math.sqrt(2 / fanIn));
      break;
  }
  return out;
}
