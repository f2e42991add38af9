import type { Value } from "../ir/graph.js";
import type { Emit } from "./function-def.js";

/**
 * The recurrent cells, once: one step of an Elman RNN, an LSTM and a GRU in primitives, shared by
 * the frontend's `rnn`/`lstm`/`gru` layers (src/frontend/recurrent.ts, Keras-style weights) and the
 * ONNX importer's RNN/LSTM/GRU (src/onnx/ops/recurrent.ts, ONNX's weights and gate orders).
 *
 * A step sees its input already projected (`xz` = x_t·W_x + b, [batch, gates·units], computed for
 * every step by one matmul) and multiplies the state by the recurrent weight `wh`: [units,
 * gates·units], or [gates·units, units] used transposed where `transposed` is set (ONNX's R).
 * Gates are blocks of `units` columns of `xz` and of h·W_h, found through `order`.
 */

/** The activations of a cell: `f` on the gates, `g` on the candidate, `h` on the LSTM's output. */
export interface Activations {
  f: (v: Value) => Value;
  g: (v: Value) => Value;
  h: (v: Value) => Value;
}

/** What every cell step needs. */
export interface StepArgs {
  emit: Emit;
  xz: Value;
  h: Value;
  wh: Value;
  units: number;
  /** `wh` is [gates·units, units] and is used transposed. */
  transposed: boolean;
  act: Activations;
}

/** σ on the gates and tanh elsewhere: every cell's default. */
export function defaultActivations(emit: Emit): Activations {
  return { f: (v) => emit("sigmoid", [v]), g: (v) => emit("tanh", [v]), h: (v) => emit("tanh", [v]) };
}

/** Block `k` of `units` columns of a [batch, gates·units] value. */
function block(emit: Emit, v: Value, k: number, units: number): Value {
  return emit("slice", [v], { starts: [k * units], ends: [(k + 1) * units], axes: [1] });
}

/** h·W_h for the gate blocks [from, to) (all of them when `from` is undefined). */
function recurrentProduct(a: StepArgs, h: Value, from?: number, to?: number): Value {
  const { emit, wh, units, transposed } = a;
  const w = from === undefined ? wh : emit("slice", [wh], { starts: [from * units], ends: [to! * units], axes: [transposed ? 0 : 1] });
  return emit("matmul", [h, w], transposed ? { tb: true } : {});
}

/** Elman: h_t = g(x_t·W_x + h·W_h + b). */
export function rnnStep(a: StepArgs): Value {
  return a.act.g(a.emit("add", [a.xz, recurrentProduct(a, a.h)]));
}

/** Where each LSTM gate's block sits (netc and PyTorch: i, f, g, o; ONNX: i, o, f, c). */
export interface LstmOrder {
  i: number;
  f: number;
  g: number;
  o: number;
}

/**
 * LSTM: i, f, o = f(z + peephole·c), g = g(z); c_t = f·c + i·g; h_t = o·h(c_t). The peepholes
 * (ONNX's P: i, o, f) see the previous cell state for i and f and the new one for o.
 */
export function lstmStep(a: StepArgs & { c: Value; order: LstmOrder; peep?: { i: Value; o: Value; f: Value } }): { h: Value; c: Value } {
  const { emit, units, order, peep, act } = a;
  const z = emit("add", [a.xz, recurrentProduct(a, a.h)]);
  const gate = (k: number, p: Value | undefined, cell: Value) => {
    const v = block(emit, z, k, units);
    return act.f(p ? emit("add", [v, emit("mul", [p, cell])]) : v);
  };
  const i = gate(order.i, peep?.i, a.c);
  const f = gate(order.f, peep?.f, a.c);
  const g = act.g(block(emit, z, order.g, units));
  // NOTE: without peepholes o does not wait for c_t (the nodes keep the order the layers always had).
  const early = peep ? undefined : gate(order.o, undefined, a.c);
  const c = emit("add", [emit("mul", [f, a.c]), emit("mul", [i, g])]);
  const o = early ?? gate(order.o, peep?.o, c);
  return { h: emit("mul", [o, act.h(c)]), c };
}

/** Where each GRU gate's block sits (netc and PyTorch: r, z, n; ONNX: z, r, h). */
export interface GruOrder {
  r: number;
  z: number;
  n: number;
}

/**
 * GRU: r, z = f(x_r,z + h·W_hr,hz [+ b_hr,hz]); with `resetAfter` (PyTorch, Keras's default, ONNX's
 * linear_before_reset) n = g(x_n + r·(h·W_hn + b_hn)), else n = g(x_n + (r·h)·W_hn);
 * h_t = (1 - z)·n + z·h. `bh` is the recurrent bias [gates·units], applied only with `resetAfter`.
 */
export function gruStep(a: StepArgs & { order: GruOrder; resetAfter: boolean; bh?: Value }): Value {
  const { emit, units, order, act, h } = a;
  const gate = (hz: Value, k: number) => act.f(emit("add", [block(emit, a.xz, k, units), block(emit, hz, k, units)]));
  let recurrent: Value;
  let r: Value;
  let z: Value;
  if (a.resetAfter) {
    let hz = recurrentProduct(a, h);
    if (a.bh) hz = emit("add", [hz, a.bh]);
    r = gate(hz, order.r);
    z = gate(hz, order.z);
    recurrent = emit("mul", [r, block(emit, hz, order.n, units)]);
  } else {
    // NOTE: the n block is the last in both orders, so r and z are the first two blocks of W_h.
    const hz = recurrentProduct(a, h, 0, 2);
    r = gate(hz, order.r);
    z = gate(hz, order.z);
    recurrent = recurrentProduct(a, emit("mul", [r, h]), 2, 3);
  }
  const n = act.g(emit("add", [block(emit, a.xz, order.n, units), recurrent]));
  return emit("add", [emit("mul", [emit("sub", [emit("const", [], { value: 1 }), z]), n]), emit("mul", [z, h])]);
}
