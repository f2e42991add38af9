import type { Value } from "../../ir/graph.js";
import { dimsOf, dtypeOfTerm, type Handler, invalid, type NodeCtx, type Term, unsupported } from "../node-context.js";
import { out, reshapeValue, staticOf } from "./common.js";

/**
 * ONNX RNN, GRU and LSTM, unrolled over time (the sequence length is static), built from
 * primitives in ONNX's own conventions rather than the frontend's Keras-style layers: weights
 * are [dirs, gates·H, in] and used transposed, gate order is LSTM i,o,f,c and GRU z,r,h, GRU's
 * `linear_before_reset` applies the reset gate after the recurrent product, directions are
 * forward, reverse or bidirectional, LSTM has optional peepholes, and layout 1 puts batch first.
 * As in the frontend, the input projection x·Wᵀ + b runs once for all steps.
 */

type Kind = "rnn" | "gru" | "lstm";

const GATES: Record<Kind, number> = { rnn: 1, gru: 3, lstm: 4 };
const DEFAULT_ACTIVATIONS: Record<Kind, string[]> = { rnn: ["Tanh"], gru: ["Sigmoid", "Tanh"], lstm: ["Sigmoid", "Tanh", "Tanh"] };

function activation(n: NodeCtx, name: string): (v: Value) => Value {
  switch (name.toLowerCase()) {
    case "sigmoid":
      return (v) => n.emit("sigmoid", [v]);
    case "tanh":
      return (v) => n.emit("tanh", [v]);
    case "relu":
      return (v) => n.emit("max", [v, n.scalar(0)]);
    default:
      return unsupported(`${n.where}: activation ${name}`);
  }
}

/** Rows [lo, hi) of axis `axis`. */
function part(n: NodeCtx, v: Value, axis: number, lo: number, hi: number): Value {
  const size = (v.type.shape as number[])[axis]!;
  if (lo === 0 && hi === size) return v;
  return n.emit("slice", [v], { starts: [lo], ends: [hi], axes: [axis] });
}

function recurrent(kind: Kind): Handler {
  return (n) => {
    const gates = GATES[kind];
    const x = n.input(0);
    const dt = dtypeOfTerm(x);
    const layout = n.attr.int("layout", 0);
    const direction = n.attr.string("direction", "forward");
    if (!["forward", "reverse", "bidirectional"].includes(direction)) invalid(`${n.where}: direction ${direction}`);
    const dirs = direction === "bidirectional" ? 2 : 1;
    if (n.attr.has("clip")) unsupported(`${n.where}: clip`);
    if (n.attr.int("input_forget", 0) !== 0) unsupported(`${n.where}: input_forget`);
    if (n.attr.has("activation_alpha") || n.attr.has("activation_beta")) unsupported(`${n.where}: activation_alpha/beta`);
    const perDir = DEFAULT_ACTIVATIONS[kind].length;
    const names = n.attr.strings("activations") ?? Array.from({ length: dirs }, () => DEFAULT_ACTIVATIONS[kind]).flat();
    if (names.length !== perDir * dirs) invalid(`${n.where}: ${names.length} activations for ${dirs} direction(s)`);
    const lbr = kind === "gru" && n.attr.int("linear_before_reset", 0) === 1;

    let xv = n.value(x);
    if (layout === 1) xv = n.emit("transpose", [xv], { perm: [1, 0, 2] });
    const [steps, batch, features] = xv.type.shape as [number, number, number];
    const wDims = dimsOf(n.input(1));
    const hidden = n.attr.int("hidden_size") ?? dimsOf(n.input(2))[2]!;
    const gh = gates * hidden;
    if (wDims[0] !== dirs || wDims[1] !== gh || wDims[2] !== features)
      invalid(`${n.where}: W is [${wDims}], expected [${dirs}, ${gh}, ${features}]`);

    const lensTerm = n.optional(4);
    const lens = lensTerm ? n.ints(lensTerm, "sequence_lens") : undefined;
    const ragged = lens !== undefined && lens.some((l) => l !== steps);
    if (ragged && direction !== "forward") unsupported(`${n.where}: sequence_lens shorter than the sequence with direction ${direction}`);

    // initial_h / initial_c are [dirs, batch, H] (layout 1: [batch, dirs, H]).
    const initial = (i: number, d: number): Value | undefined => {
      const t = n.optional(i);
      if (!t) return undefined;
      return reshapeValue(n, part(n, n.value(t), layout === 1 ? 1 : 0, d, d + 1), [batch, hidden]);
    };
    const zeros = () => n.emit("broadcast", [n.scalar(0)], { shape: [batch, hidden] });

    const ys: Value[] = [];
    const lastH: Value[] = [];
    const lastC: Value[] = [];
    for (let d = 0; d < dirs; d++) {
      const reverse = direction === "reverse" || d === 1;
      const act = names.slice(d * perDir, (d + 1) * perDir).map((a) => activation(n, a));
      const w = reshapeValue(n, part(n, n.value(n.input(1)), 0, d, d + 1), [gh, features]);
      const r = reshapeValue(n, part(n, n.value(n.input(2)), 0, d, d + 1), [gh, hidden]);
      const bTerm = n.optional(3);
      const b = bTerm ? reshapeValue(n, part(n, n.value(bTerm), 0, d, d + 1), [2 * gh]) : undefined;
      // Input bias plus recurrent bias, except GRU's hidden-gate recurrent bias with linear_before_reset.
      let bias: Value | undefined;
      let rbh: Value | undefined;
      if (b) {
        const wb = part(n, b, 0, 0, gh);
        let rb = part(n, b, 0, gh, 2 * gh);
        if (lbr) {
          rbh = part(n, rb, 0, 2 * hidden, gh);
          rb = n.emit("concat", [part(n, rb, 0, 0, 2 * hidden), n.emit("broadcast", [n.scalar(0)], { shape: [hidden] })], { axis: 0 });
        }
        bias = n.emit("add", [wb, rb]);
      }
      let projected = n.emit("matmul", [reshapeValue(n, xv, [steps * batch, features]), w], { tb: true });
      if (bias) projected = n.emit("add", [projected, bias]);
      projected = reshapeValue(n, projected, [steps, batch, gh]);

      const p = kind === "lstm" && n.optional(7) ? reshapeValue(n, part(n, n.value(n.input(7)), 0, d, d + 1), [3 * hidden]) : undefined;
      const peep = (k: number) => (p ? part(n, p, 0, k * hidden, (k + 1) * hidden) : undefined);
      const [pi, po, pf] = [peep(0), peep(1), peep(2)];

      let h = initial(5, d) ?? zeros();
      let c = kind === "lstm" ? (initial(6, d) ?? zeros()) : undefined;
      const stepOut: Value[] = new Array<Value>(steps);
      for (let s = 0; s < steps; s++) {
        const t = reverse ? steps - 1 - s : s;
        const xt = reshapeValue(n, part(n, projected, 0, t, t + 1), [batch, gh]);
        const gate = (v: Value, k: number) => part(n, v, 1, k * hidden, (k + 1) * hidden);
        let hNew: Value;
        let cNew: Value | undefined;
        if (kind === "rnn") {
          hNew = act[0]!(n.emit("add", [xt, n.emit("matmul", [h, r], { tb: true })]));
        } else if (kind === "lstm") {
          const z = n.emit("add", [xt, n.emit("matmul", [h, r], { tb: true })]);
          const withPeep = (v: Value, pk: Value | undefined, cell: Value) => (pk ? n.emit("add", [v, n.emit("mul", [pk, cell])]) : v);
          const i = act[0]!(withPeep(gate(z, 0), pi, c!));
          const f = act[0]!(withPeep(gate(z, 2), pf, c!));
          const cand = act[1]!(gate(z, 3));
          cNew = n.emit("add", [n.emit("mul", [f, c!]), n.emit("mul", [i, cand])]);
          const o = act[0]!(withPeep(gate(z, 1), po, cNew));
          hNew = n.emit("mul", [o, act[2]!(cNew)]);
        } else {
          const rzr = part(n, r, 0, 0, 2 * hidden);
          const rh = part(n, r, 0, 2 * hidden, gh);
          const zr = n.emit("add", [part(n, xt, 1, 0, 2 * hidden), n.emit("matmul", [h, rzr], { tb: true })]);
          const z = act[0]!(gate(zr, 0));
          const rg = act[0]!(gate(zr, 1));
          let recurrentH: Value;
          if (lbr) {
            let hr = n.emit("matmul", [h, rh], { tb: true });
            if (rbh) hr = n.emit("add", [hr, rbh]);
            recurrentH = n.emit("mul", [rg, hr]);
          } else {
            recurrentH = n.emit("matmul", [n.emit("mul", [rg, h]), rh], { tb: true });
          }
          const cand = act[1]!(n.emit("add", [gate(xt, 2), recurrentH]));
          hNew = n.emit("add", [n.emit("mul", [n.emit("sub", [n.scalar(1), z]), cand]), n.emit("mul", [z, h])]);
        }
        if (ragged) {
          // Steps past a sequence's length keep its state and output zeros.
          const live = n.value(staticOf("bool", [batch, 1], lens!.map((l) => (t < l ? 1 : 0))));
          stepOut[t] = n.emit("select", [live, hNew, n.scalar(0)]);
          h = n.emit("select", [live, hNew, h]);
          if (cNew) c = n.emit("select", [live, cNew, c!]);
        } else {
          stepOut[t] = hNew;
          h = hNew;
          c = cNew;
        }
      }
      const rows = stepOut.map((v) => reshapeValue(n, v, [1, 1, batch, hidden]));
      ys.push(rows.length === 1 ? rows[0]! : n.emit("concat", rows, { axis: 0 }));
      lastH.push(reshapeValue(n, h, [1, batch, hidden]));
      if (c) lastC.push(reshapeValue(n, c, [1, batch, hidden]));
    }
    const join = (vs: Value[], axis: number) => (vs.length === 1 ? vs[0]! : n.emit("concat", vs, { axis }));
    let y = join(ys, 1);
    let yh = join(lastH, 0);
    let yc = lastC.length ? join(lastC, 0) : undefined;
    if (layout === 1) {
      y = n.emit("transpose", [y], { perm: [2, 0, 1, 3] });
      yh = n.emit("transpose", [yh], { perm: [1, 0, 2] });
      if (yc) yc = n.emit("transpose", [yc], { perm: [1, 0, 2] });
    }
    const outs: (Term | undefined)[] = [out(y, dt), out(yh, dt)];
    if (kind === "lstm") outs.push(yc && out(yc, dt));
    return outs;
  };
}

/** Recurrent handlers by ONNX op type. */
export const RECURRENT_OPS: Record<string, Handler> = {
  RNN: recurrent("rnn"),
  GRU: recurrent("gru"),
  LSTM: recurrent("lstm"),
};
