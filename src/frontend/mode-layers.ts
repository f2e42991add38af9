import type { Value } from "../ir/graph.js";
import type { Dim } from "../ir/types.js";
import type { Emit, FunctionDef } from "./function-def.js";

/**
 * Layers that behave differently in a training step and in inference: dropout (active only in
 * training) and batch normalisation (batch statistics and running-statistics updates in training,
 * the running statistics in inference). The frontend lowers the network once per mode.
 */

const c = (emit: Emit, value: number) => emit("const", [], { value });

/** A 32-bit FNV-1a hash of the instance name, below 2^24 so it is exact as an f32 attribute. */
function saltOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0xffffff;
}

/** The layers by name. */
export const MODE_LAYERS: Record<string, FunctionDef> = {
  /**
   * Inverted dropout: in training each element is zeroed with probability `rate` and the rest are
   * scaled by 1/(1 - rate), so inference is the identity. The mask comes from a counter-based hash
   * of (step seed, instance, element), the same on the GPU and the CPU reference.
   */
  dropout: {
    params: ["x"],
    statics: [{ name: "rate", kind: "number" }],
    kwargs: {},
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const rate = kw["rate"] as number;
      if (!(rate >= 0 && rate < 1)) {
        layer.error("NC2034", { name: layer.instance, rate });
        return undefined;
      }
      if (!layer.training || rate === 0) return x!;
      const shape = layer.shape(x!);
      if (!shape) return undefined;
      const u = emit("rand", [layer.seed()], { shape, salt: saltOf(layer.instance) });
      const keep = emit("select", [emit("lt", [u, c(emit, rate)]), c(emit, 0), c(emit, 1 / (1 - rate))]);
      return emit("mul", [x!, keep]);
    },
  },
  /**
   * Batch normalisation over every axis but the channels (axis 1): [batch, channels, *spatial] or
   * [batch, features]. Training normalises with the batch's mean and (biased) variance and moves
   * the running statistics towards them (running := (1 - momentum)·running + momentum·batch, the
   * variance unbiased, as PyTorch does); inference uses the running statistics.
   */
  batchnorm: {
    params: ["x"],
    kwargs: { momentum: "number", eps: "number" },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const shape = layer.shape(x!);
      if (!shape) return undefined;
      if (shape.length < 2) {
        layer.error("NC3004", { op: "batchnorm", expected: "2 or more ([batch, channels, ...])", got: shape.length });
        return undefined;
      }
      const momentum = (kw["momentum"] as number | undefined) ?? 0.1;
      const eps = c(emit, (kw["eps"] as number | undefined) ?? 1e-5);
      const channels: Dim = shape[1]!;
      const axes = shape.map((_, i) => i).filter((i) => i !== 1);
      // Per-channel [C] vectors broadcast against x as [C, 1, ...].
      const perChannel = (v: Value) =>
        shape.length === 2 ? v : emit("reshape", [v], { shape: [channels, ...new Array<number>(shape.length - 2).fill(1)] });
      const gamma = layer.param("gamma", [channels], { kind: "ones", options: {} });
      const beta = layer.param("beta", [channels], { kind: "zeros", options: {} });
      const runningMean = layer.state("running_mean", [channels], { kind: "zeros", options: {} });
      const runningVar = layer.state("running_var", [channels], { kind: "ones", options: {} });
      let mean = runningMean;
      let variance = runningVar;
      if (layer.training) {
        mean = emit("mean", [x!], { axes, keepdims: false });
        const centred = emit("sub", [x!, perChannel(mean)]);
        variance = emit("mean", [emit("mul", [centred, centred])], { axes, keepdims: false });
        const n = emit("size", [], { dims: axes.map((a) => shape[a]!) });
        const unbiased = emit("mul", [variance, emit("div", [n, emit("sub", [n, c(emit, 1)])])]);
        const blend = (run: Value, batch: Value) =>
          emit("add", [emit("mul", [c(emit, 1 - momentum), run]), emit("mul", [c(emit, momentum), batch])]);
        layer.update(runningMean, blend(runningMean, mean));
        layer.update(runningVar, blend(runningVar, unbiased));
      }
      const scale = emit("div", [gamma, emit("sqrt", [emit("add", [variance, eps])])]);
      const shift = emit("sub", [beta, emit("mul", [mean, scale])]);
      return emit("add", [emit("mul", [x!, perChannel(scale)]), perChannel(shift)]);
    },
  },
};
