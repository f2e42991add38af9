import type { Attrs, Value } from "../ir/graph.js";
import type { Dim } from "../ir/types.js";
import type { Emit, FunctionDef, KwValue, LayerCtx } from "./function-def.js";

/**
 * Convolution and pooling layers over channels-first tensors ([batch, channels, *spatial], as
 * PyTorch and ONNX lay them out). Each lowers to one `conv` or `pool` primitive; bias and
 * activation are separate elementwise nodes that fusion folds into the conv kernel's epilogue.
 */

/** An `ints` argument for `s` spatial axes: `3` is `[3, 3]`, a list must have `s` entries. */
function perAxis(v: KwValue | undefined, s: number, fallback: number): number[] | undefined {
  if (v === undefined) return new Array<number>(s).fill(fallback);
  if (typeof v === "number") return new Array<number>(s).fill(v);
  return Array.isArray(v) && v.length === s ? (v as number[]) : undefined;
}

/** The spatial sizes of x ([batch, channels, *spatial], all known), or undefined after reporting why not. */
function spatialOf(layer: LayerCtx, op: string, x: Value, s: number): { shape: Dim[]; spatial: number[] } | undefined {
  const shape = layer.shape(x);
  if (!shape) return undefined; // infer-shapes reports why x has no type
  if (shape.length !== s + 2) {
    layer.error("NC3004", { op, expected: `${s + 2} ([batch, channels, ${SPATIAL_NAMES[s]}])`, got: shape.length });
    return undefined;
  }
  const spatial: number[] = [];
  for (let a = 2; a < shape.length; a++) {
    const d = shape[a]!;
    if (typeof d !== "number") {
      layer.error("NC3013", { op, axis: a, dim: d });
      return undefined;
    }
    spatial.push(d);
  }
  return { shape, spatial };
}

const SPATIAL_NAMES: Record<number, string> = { 1: "length", 2: "height, width", 3: "depth, height, width" };

/**
 * Explicit per-axis pads `[before0, after0, before1, after1, ...]` for a padding argument:
 * `valid` is none, an integer pads every side by it, a list gives each axis's (symmetric) pad,
 * and `same` pads so that out = ceil(in / stride), the odd pixel after (TensorFlow's rule).
 */
function padsFor(
  layer: LayerCtx,
  padding: KwValue | undefined,
  spatial: number[],
  kernel: number[],
  strides: number[],
  dilations: number[],
): number[] | undefined {
  const s = spatial.length;
  if (padding === undefined || padding === "valid") return new Array<number>(2 * s).fill(0);
  if (padding === "same") {
    return spatial.flatMap((n, a) => {
      const out = Math.ceil(n / strides[a]!);
      const span = (kernel[a]! - 1) * dilations[a]! + 1;
      const total = Math.max((out - 1) * strides[a]! + span - n, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  const each = perAxis(padding, s, 0);
  if (!each || each.some((p) => p < 0)) {
    layer.error("NC2031", { name: layer.instance, axes: s });
    return undefined;
  }
  return each.flatMap((p) => [p, p]);
}

/** The window arguments shared by conv and pooling, checked: kernel, strides, dilations. */
function windowArgs(
  layer: LayerCtx,
  kw: Record<string, KwValue>,
  s: number,
): { kernel: number[]; strides: number[]; dilations: number[] } | undefined {
  const kernel = perAxis(kw["kernel"], s, 1);
  const strides = perAxis(kw["stride"], s, 1);
  const dilations = perAxis(kw["dilation"], s, 1);
  const named = (arg: string, v: number[] | undefined) => {
    if (v && v.every((x) => Number.isInteger(x) && x >= 1)) return true;
    layer.error("NC2032", { name: layer.instance, arg, axes: s });
    return false;
  };
  if (!named("kernel", kernel) || !named("stride", strides) || !named("dilation", dilations)) return undefined;
  return { kernel: kernel!, strides: strides!, dilations: dilations! };
}

/**
 * `conv{s}d(filters, kernel, stride = 1, padding = valid, dilation = 1, groups = 1, activation, use_bias)`:
 * weight [filters, channels / groups, *kernel] (Glorot uniform over its fans), bias [filters].
 */
function convLayer(s: number): FunctionDef {
  const op = `conv${s}d`;
  return {
    params: ["x"],
    statics: [
      { name: "filters", kind: "size" },
      { name: "kernel", kind: "ints" },
    ],
    kwargs: { stride: "ints", padding: "padding", dilation: "ints", groups: "int", activation: "function", use_bias: "bool" },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const input = spatialOf(layer, op, x!, s);
      const win = input && windowArgs(layer, kw, s);
      if (!input || !win) return undefined;
      const pads = padsFor(layer, kw["padding"], input.spatial, win.kernel, win.strides, win.dilations);
      if (!pads) return undefined;
      const filters = kw["filters"] as number;
      const groups = (kw["groups"] as number | undefined) ?? 1;
      const channels = input.shape[1]!;
      if (typeof channels !== "number" || groups < 1 || channels % groups !== 0 || filters % groups !== 0) {
        layer.error("NC2033", { name: layer.instance, channels: String(channels), filters, groups });
        return undefined;
      }
      const weight = layer.param("weight", [filters, channels / groups, ...win.kernel], { kind: "xavier", options: {} });
      const attrs: Attrs = { strides: win.strides, pads, dilations: win.dilations, groups };
      let y = emit("conv", [x!, weight], attrs);
      if (kw["use_bias"] !== false) {
        const bias = layer.param("bias", [filters], { kind: "zeros", options: {} });
        y = emit("add", [y, emit("reshape", [bias], { shape: [filters, ...new Array<number>(s).fill(1)] })]);
      }
      const act = kw["activation"];
      return typeof act === "string" ? layer.apply(act, y) : y;
    },
  };
}

/**
 * `{mode}pool{s}d(kernel, stride = kernel, padding = valid, ceil = false)`: max or average over
 * windows; average pooling divides by the number of real (unpadded) elements, as Keras does.
 */
function poolLayer(mode: "max" | "avg", s: number): FunctionDef {
  const op = `${mode}pool${s}d`;
  return {
    params: ["x"],
    statics: [{ name: "kernel", kind: "ints" }],
    kwargs: { stride: "ints", padding: "padding", dilation: "ints", ceil: "bool" },
    lower: (emit, [x], kw, _span, layer) => {
      const input = spatialOf(layer, op, x!, s);
      // NOTE: the stride defaults to the window, so `maxpool2d(2)` halves height and width.
      const win = input && windowArgs(layer, { ...kw, stride: kw["stride"] ?? kw["kernel"]! }, s);
      if (!input || !win) return undefined;
      const pads = padsFor(layer, kw["padding"], input.spatial, win.kernel, win.strides, win.dilations);
      if (!pads) return undefined;
      return emit("pool", [x!], {
        mode,
        kernel: win.kernel,
        strides: win.strides,
        pads,
        dilations: win.dilations,
        ceil: kw["ceil"] === true,
        count_pad: false,
      });
    },
  };
}

/** Mean or max over every spatial axis of [batch, channels, *spatial], giving [batch, channels]. */
function globalPool(op: "mean" | "max_reduce", name: string): FunctionDef {
  return {
    params: ["x"],
    kwargs: {},
    lower: (emit: Emit, [x], _kw, _span, layer) => {
      const shape = layer.shape(x!);
      if (!shape) return undefined;
      if (shape.length < 3) {
        layer.error("NC3004", { op: name, expected: "3 or more ([batch, channels, *spatial])", got: shape.length });
        return undefined;
      }
      return emit(op, [x!], { axes: shape.slice(2).map((_, i) => i + 2), keepdims: false });
    },
  };
}

/** The convolution and pooling layers by name. */
export const CONV_LAYERS: Record<string, FunctionDef> = {
  conv1d: convLayer(1),
  conv2d: convLayer(2),
  conv3d: convLayer(3),
  maxpool1d: poolLayer("max", 1),
  maxpool2d: poolLayer("max", 2),
  maxpool3d: poolLayer("max", 3),
  avgpool1d: poolLayer("avg", 1),
  avgpool2d: poolLayer("avg", 2),
  avgpool3d: poolLayer("avg", 3),
  global_avgpool: globalPool("mean", "global_avgpool"),
  global_maxpool: globalPool("max_reduce", "global_maxpool"),
};
