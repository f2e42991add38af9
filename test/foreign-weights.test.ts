import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NetcError } from "../src/base/errors.js";
import { compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { foreignWeights, kerasName, type WeightSource } from "../src/weights/foreign.js";
import { rng } from "./util/build.js";
import { netc } from "./util/cli.js";
import { safetensorsBytes, type FixtureTensor } from "./util/safetensors-writer.js";

// PyTorch- and Keras-named weights (safetensors written here, byte by byte) loaded into netc
// networks through the documented mapping; each network's output is compared with the same
// network computed in plain JS straight from the foreign layout (PyTorch's y = x·Wᵀ + b, its
// [4H, in] LSTM weights with two biases, Keras's [kh, kw, in, out] kernels ...).

const rand = rng(7);
const randn = (n: number) => Array.from({ length: n }, () => 2 * rand() - 1);
const t = (shape: number[], data?: number[]): FixtureTensor => ({ shape, data: data ?? randn(shape.reduce((a, b) => a * b, 1)) });

/** The network's output for input x with the weights loaded from `tensors`. */
function run(src: string, tensors: Record<string, FixtureTensor>, from: WeightSource, x: Tensor, output = "y"): number[] {
  const c = compile(src, "foreign.net", { mode: "infer" });
  if (!c.graph) throw new Error(c.diagnostics.render());
  const g = c.graph;
  const weights = foreignWeights(g, safetensorsBytes(tensors), { from, what: "fixture.safetensors" });
  const args = new Map<Value, Tensor>();
  for (const a of g.args) {
    const name = a.arg!.name;
    if (a.arg!.role === "input") args.set(a, x);
    else args.set(a, { shape: a.type.shape as number[], data: Float64Array.from(weights[name]!) });
  }
  const values = interpret(g, args, { dims: { B: x.shape[0]! }, precision: "f64" });
  const out = g.outputs.find((o) => o.name === output)!.value;
  return Array.from(values.get(out)!.data);
}

const close = (got: number[], want: number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
};

/** out[o] = Σ_i w[o][i]·x[i] + b[o] for PyTorch's [out, in] weight. */
const linearTorch = (x: number[], w: number[], b: number[], out: number, inn: number) =>
  Array.from({ length: out }, (_, o) => b[o]! + x.reduce((s, xv, i) => s + xv * w[o * inn + i]!, 0));
/** out[o] = Σ_i x[i]·k[i][o] + b[o] for Keras's [in, out] kernel. */
const linearKeras = (x: number[], k: number[], b: number[], out: number, inn: number) =>
  Array.from({ length: out }, (_, o) => b[o]! + x.reduce((s, xv, i) => s + xv * k[i * out + o]!, 0));
const relu = (v: number) => Math.max(v, 0);
const sig = (v: number) => 1 / (1 + Math.exp(-v));

const MLP = `network mlp {
  input x: f32[B, 5]
  output y = x |> fc1: dense(4, activation = relu) |> fc2: dense(3)
}`;

describe("foreign weights: dense", () => {
  const x = { shape: [2, 5], data: Float64Array.from(randn(10)) };
  const rows = [Array.from(x.data.slice(0, 5)), Array.from(x.data.slice(5))];

  it("maps PyTorch's nn.Linear ([out, in] weights, transposed)", () => {
    const w = { "fc1.weight": t([4, 5]), "fc1.bias": t([4]), "fc2.weight": t([3, 4]), "fc2.bias": t([3]) };
    const d = (k: keyof typeof w) => w[k].data as number[];
    const want = rows.flatMap((r) => linearTorch(linearTorch(r, d("fc1.weight"), d("fc1.bias"), 4, 5).map(relu), d("fc2.weight"), d("fc2.bias"), 3, 4));
    close(run(MLP, w, "torch", x), want);
  });

  it("maps Keras's Dense ([in, out] kernels, `name/kernel:0` names)", () => {
    const w = { "fc1/kernel:0": t([5, 4]), "fc1/bias:0": t([4]), "fc2/kernel:0": t([4, 3]), "fc2/bias:0": t([3]) };
    const d = (k: keyof typeof w) => w[k].data as number[];
    const want = rows.flatMap((r) => linearKeras(linearKeras(r, d("fc1/kernel:0"), d("fc1/bias:0"), 4, 5).map(relu), d("fc2/kernel:0"), d("fc2/bias:0"), 3, 4));
    close(run(MLP, w, "keras", x), want);
  });

  it("reads F16 tensors", () => {
    const w = { "fc1.weight": { ...t([4, 5]), dtype: "F16" as const }, "fc1.bias": t([4]), "fc2.weight": t([3, 4]), "fc2.bias": t([3]) };
    const got = run(MLP, w, "torch", x);
    const d = (k: keyof typeof w) => w[k].data as number[];
    const want = rows.flatMap((r) => linearTorch(linearTorch(r, d("fc1.weight"), d("fc1.bias"), 4, 5).map(relu), d("fc2.weight"), d("fc2.bias"), 3, 4));
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(5e-3)); // half precision
  });

  it("lists every unmatched, mis-shaped and missing tensor in one error", () => {
    const c = compile(MLP, "foreign.net", { mode: "infer" });
    const bytes = safetensorsBytes({ "fc1.weight": t([5, 4]), "fc1.bias": t([4]), "fc2.bias": t([3]), "head.weight": t([2, 3]), "fc1.extra": t([1]) });
    let msg = "";
    try {
      foreignWeights(c.graph!, bytes, { from: "torch", what: "w.safetensors" });
    } catch (e) {
      expect(e).toBeInstanceOf(NetcError);
      msg = (e as Error).message;
    }
    expect(msg).toContain("w.safetensors does not fit the network as PyTorch weights");
    expect(msg).toContain("`fc1.weight` is [5, 4], expected [4, 5] for netc's `fc1.weight` [5, 4] (PyTorch stores [out, in])");
    expect(msg).toContain("2 tensors netc's network has no place for: `head.weight` [2, 3], `fc1.extra` [1]");
    expect(msg).toContain("missing from the file: `fc2.weight` [4, 3] (dense; from `fc2.weight`)");
    expect(msg).toContain("netc's layers: fc1 (dense), fc2 (dense)");
  });

  it("with partial, leaves what the file lacks out", () => {
    const c = compile(MLP, "foreign.net", { mode: "infer" });
    const w = foreignWeights(c.graph!, safetensorsBytes({ "fc1.weight": t([4, 5]), "fc1.bias": t([4]) }), { from: "torch", partial: true });
    expect(Object.keys(w).sort()).toEqual(["fc1.bias", "fc1.weight"]);
  });
});

describe("foreign weights: conv", () => {
  const CNN = `network cnn {
    input x: f32[B, 2, 5, 5]
    output y = x |> conv1: conv2d(3, 3, padding = 1) |> flatten |> fc: dense(2)
  }`;
  const x = { shape: [1, 2, 5, 5], data: Float64Array.from(randn(50)) };

  /** A 3×3 'same' conv of x [C, 5, 5] with weights at w(o, c, kh, kw), then PyTorch's linear on the CHW-flattened map. */
  function reference(w: (o: number, c: number, i: number, j: number) => number, bias: number[], fcw: number[], fcb: number[]) {
    const feat: number[] = [];
    for (let o = 0; o < 3; o++)
      for (let r = 0; r < 5; r++)
        for (let q = 0; q < 5; q++) {
          let s = bias[o]!;
          for (let c = 0; c < 2; c++)
            for (let i = 0; i < 3; i++)
              for (let j = 0; j < 3; j++) {
                const rr = r + i - 1;
                const qq = q + j - 1;
                if (rr >= 0 && rr < 5 && qq >= 0 && qq < 5) s += x.data[c * 25 + rr * 5 + qq]! * w(o, c, i, j);
              }
          feat.push(s);
        }
    return linearTorch(feat, fcw, fcb, 2, 75);
  }

  it("maps PyTorch's nn.Conv2d ([out, in, kh, kw], as netc)", () => {
    const w = { "conv1.weight": t([3, 2, 3, 3]), "conv1.bias": t([3]), "fc.weight": t([2, 75]), "fc.bias": t([2]) };
    const cw = w["conv1.weight"].data as number[];
    const want = reference((o, c, i, j) => cw[((o * 2 + c) * 3 + i) * 3 + j]!, w["conv1.bias"].data as number[], w["fc.weight"].data as number[], w["fc.bias"].data as number[]);
    close(run(CNN, w, "torch", x), want);
  });

  it("maps Keras's Conv2D ([kh, kw, in, out], permuted)", () => {
    const fcw = t([2, 75]);
    // Keras's Dense kernel is [in, out]: the same weights as PyTorch's, transposed.
    const kernel = Array.from({ length: 150 }, (_, k) => (fcw.data as number[])[(k % 2) * 75 + Math.floor(k / 2)]!);
    const w = { "conv1/kernel:0": t([3, 3, 2, 3]), "conv1/bias:0": t([3]), "fc/kernel:0": t([75, 2], kernel), "fc/bias:0": t([2]) };
    const kw = w["conv1/kernel:0"].data as number[];
    const want = reference((o, c, i, j) => kw[((i * 3 + j) * 2 + c) * 3 + o]!, w["conv1/bias:0"].data as number[], fcw.data as number[], w["fc/bias:0"].data as number[]);
    close(run(CNN, w, "keras", x), want);
  });
});

describe("foreign weights: norms", () => {
  const NORMS = `network norms {
    input x: f32[B, 4]
    output y = x |> ln: layernorm |> bn: batchnorm
  }`;
  const x = { shape: [2, 4], data: Float64Array.from(randn(8)) };
  const positive = (n: number) => Array.from({ length: n }, () => 0.5 + rand());

  function reference(g1: number[], b1: number[], g2: number[], b2: number[], mean: number[], variance: number[]): number[] {
    return [0, 1].flatMap((r) => {
      const row = Array.from(x.data.slice(4 * r, 4 * r + 4));
      const mu = row.reduce((a, b) => a + b, 0) / 4;
      const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 4;
      const ln = row.map((xv, i) => ((xv - mu) / Math.sqrt(v + 1e-5)) * g1[i]! + b1[i]!);
      return ln.map((h, i) => ((h - mean[i]!) / Math.sqrt(variance[i]! + 1e-5)) * g2[i]! + b2[i]!);
    });
  }

  it("maps PyTorch's LayerNorm and BatchNorm1d (weight/bias, running statistics; num_batches_tracked ignored)", () => {
    const w = {
      "ln.weight": t([4]),
      "ln.bias": t([4]),
      "bn.weight": t([4]),
      "bn.bias": t([4]),
      "bn.running_mean": t([4]),
      "bn.running_var": t([4], positive(4)),
      "bn.num_batches_tracked": { shape: [], data: [12], dtype: "I64" as const },
    };
    const d = (k: keyof typeof w) => w[k].data as number[];
    close(run(NORMS, w, "torch", x), reference(d("ln.weight"), d("ln.bias"), d("bn.weight"), d("bn.bias"), d("bn.running_mean"), d("bn.running_var")));
  });

  it("maps Keras's LayerNormalization and BatchNormalization (gamma/beta, moving statistics)", () => {
    const w = {
      "ln/gamma:0": t([4]),
      "ln/beta:0": t([4]),
      "bn/gamma:0": t([4]),
      "bn/beta:0": t([4]),
      "bn/moving_mean:0": t([4]),
      "bn/moving_variance:0": t([4], positive(4)),
    };
    const d = (k: keyof typeof w) => w[k].data as number[];
    close(run(NORMS, w, "keras", x), reference(d("ln/gamma:0"), d("ln/beta:0"), d("bn/gamma:0"), d("bn/beta:0"), d("bn/moving_mean:0"), d("bn/moving_variance:0")));
  });
});

describe("foreign weights: LSTM", () => {
  const H = 3;
  const F = 3;
  const T = 4;
  const x = { shape: [2, T, F], data: Float64Array.from(randn(2 * T * F)) };

  /** One PyTorch LSTM layer over a sequence; gates i, f, g, o in rows of [4H, in] weights. */
  function torchLstm(seq: number[][], wih: number[], whh: number[], bih: number[], bhh: number[], inn: number): number[][] {
    let h = new Array<number>(H).fill(0);
    let c = new Array<number>(H).fill(0);
    return seq.map((xt) => {
      const z = linearTorch(xt, wih, bih, 4 * H, inn).map((v, k) => v + linearTorch(h, whh, bhh, 4 * H, H)[k]!);
      const gate = (k: number) => z.slice(k * H, (k + 1) * H);
      const [i, f, g, o] = [sig, sig, Math.tanh, sig].map((fn, k) => gate(k).map(fn));
      c = c.map((cv, j) => f![j]! * cv + i![j]! * g![j]!);
      h = c.map((cv, j) => o![j]! * Math.tanh(cv));
      return h;
    });
  }
  const seqs = [0, 1].map((b) => Array.from({ length: T }, (_, s) => Array.from(x.data.slice((b * T + s) * F, (b * T + s + 1) * F))));

  it("maps PyTorch's nn.LSTM (transposed weights, bias_ih + bias_hh, gates i, f, g, o)", () => {
    const src = `network l { input x: f32[B, ${T}, ${F}]  output y = x |> rec: lstm(${H}) }`;
    const w = { "rec.weight_ih_l0": t([4 * H, F]), "rec.weight_hh_l0": t([4 * H, H]), "rec.bias_ih_l0": t([4 * H]), "rec.bias_hh_l0": t([4 * H]) };
    const d = (k: keyof typeof w) => w[k].data as number[];
    const want = seqs.flatMap((s) => torchLstm(s, d("rec.weight_ih_l0"), d("rec.weight_hh_l0"), d("rec.bias_ih_l0"), d("rec.bias_hh_l0"), F).at(-1)!);
    close(run(src, w, "torch", x), want);
  });

  it("maps a two-layer nn.LSTM (`_l0`, `_l1`) onto a repeat of two lstm layers", () => {
    const src = `network l { input x: f32[B, ${T}, ${F}]  output y = x |> rec: repeat(2, lstm(${H}, return_sequences = true)) }`;
    const w: Record<string, FixtureTensor> = {};
    for (const k of [0, 1]) {
      w[`rec.weight_ih_l${k}`] = t([4 * H, F]);
      w[`rec.weight_hh_l${k}`] = t([4 * H, H]);
      w[`rec.bias_ih_l${k}`] = t([4 * H]);
      w[`rec.bias_hh_l${k}`] = t([4 * H]);
    }
    const d = (k: string) => w[k]!.data as number[];
    const layer = (s: number[][], k: number) => torchLstm(s, d(`rec.weight_ih_l${k}`), d(`rec.weight_hh_l${k}`), d(`rec.bias_ih_l${k}`), d(`rec.bias_hh_l${k}`), F);
    const want = seqs.flatMap((s) => layer(layer(s, 0), 1).flat());
    close(run(src, w, "torch", x), want);
  });

  it("maps Keras's LSTM (kernel [in, 4H] in gate order i, f, c, o, under lstm_cell)", () => {
    const src = `network l { input x: f32[B, ${T}, ${F}]  output y = x |> rec: lstm(${H}) }`;
    const w = { "rec/lstm_cell/kernel:0": t([F, 4 * H]), "rec/lstm_cell/recurrent_kernel:0": t([H, 4 * H]), "rec/lstm_cell/bias:0": t([4 * H]) };
    // The same cell as PyTorch's with the weights transposed and one bias.
    const tr = (m: number[], rows: number, cols: number) => Array.from({ length: m.length }, (_, k) => m[(k % rows) * cols + Math.floor(k / rows)]!);
    const d = (k: keyof typeof w) => w[k].data as number[];
    const zeros = new Array<number>(4 * H).fill(0);
    const want = seqs.flatMap((s) => torchLstm(s, tr(d("rec/lstm_cell/kernel:0"), F, 4 * H), tr(d("rec/lstm_cell/recurrent_kernel:0"), H, 4 * H), d("rec/lstm_cell/bias:0"), zeros, F).at(-1)!);
    close(run(src, w, "keras", x), want);
  });

  /** PyTorch's GRU over a sequence: rows r, z, n of [3H, in]; n = tanh(W_in x + b_in + r·(W_hn h + b_hn)). */
  function torchGru(seq: number[][], wih: number[], whh: number[], bih: number[], bhh: number[]): number[] {
    let h = new Array<number>(H).fill(0);
    for (const xt of seq) {
      const gi = linearTorch(xt, wih, bih, 3 * H, F);
      const gh = linearTorch(h, whh, bhh, 3 * H, H);
      const r = gi.slice(0, H).map((v, j) => sig(v + gh[j]!));
      const z = gi.slice(H, 2 * H).map((v, j) => sig(v + gh[H + j]!));
      const n = gi.slice(2 * H).map((v, j) => Math.tanh(v + r[j]! * gh[2 * H + j]!));
      h = h.map((hv, j) => (1 - z[j]!) * n[j]! + z[j]! * hv);
    }
    return h;
  }

  it("maps PyTorch's nn.GRU (transposed weights, both biases kept, gates r, z, n)", () => {
    const src = `network g { input x: f32[B, ${T}, ${F}]  output y = x |> rec: gru(${H}) }`;
    const w = { "rec.weight_ih_l0": t([3 * H, F]), "rec.weight_hh_l0": t([3 * H, H]), "rec.bias_ih_l0": t([3 * H]), "rec.bias_hh_l0": t([3 * H]) };
    const d = (k: keyof typeof w) => w[k].data as number[];
    close(run(src, w, "torch", x), seqs.flatMap((s) => torchGru(s, d("rec.weight_ih_l0"), d("rec.weight_hh_l0"), d("rec.bias_ih_l0"), d("rec.bias_hh_l0"))));
  });

  it("maps Keras's GRU (reset_after: gates z, r, h, bias [2, 3H])", () => {
    const src = `network g { input x: f32[B, ${T}, ${F}]  output y = x |> rec: gru(${H}) }`;
    const w = { "rec/gru_cell/kernel:0": t([F, 3 * H]), "rec/gru_cell/recurrent_kernel:0": t([H, 3 * H]), "rec/gru_cell/bias:0": t([2, 3 * H]) };
    // Keras's column block order z, r, h is PyTorch's r, z, n with the first two swapped; its kernels are [in, 3H].
    const torchRows = (m: number[], inn: number) => {
      const out = new Array<number>(m.length);
      const blockOf = [1, 0, 2];
      for (let g = 0; g < 3; g++) for (let u = 0; u < H; u++) for (let j = 0; j < inn; j++) out[(g * H + u) * inn + j] = m[j * 3 * H + blockOf[g]! * H + u]!;
      return out;
    };
    const b = w["rec/gru_cell/bias:0"].data as number[];
    const torchBias = (row: number[]) => [...row.slice(H, 2 * H), ...row.slice(0, H), ...row.slice(2 * H)];
    const want = seqs.flatMap((s) =>
      torchGru(s, torchRows(w["rec/gru_cell/kernel:0"].data as number[], F), torchRows(w["rec/gru_cell/recurrent_kernel:0"].data as number[], H), torchBias(b.slice(0, 3 * H)), torchBias(b.slice(3 * H))),
    );
    close(run(src, w, "keras", x), want);
  });

  it("normalises Keras names", () => {
    expect(kerasName("dense_1/kernel:0")).toBe("dense_1.kernel");
    expect(kerasName("lstm/lstm_cell/recurrent_kernel:0")).toBe("lstm.recurrent_kernel");
    expect(kerasName("conv1/bias")).toBe("conv1.bias");
  });
});

describe("foreign weights: attention", () => {
  const D = 4;
  const SRC = `network a { input x: f32[B, 3, ${D}]  output y = x |> attn: attention(2) }`;
  const graph = () => compile(SRC, "a.net", { mode: "infer" }).graph!;

  it("splits PyTorch's packed in_proj_weight [3D, D] into query, key, value ([in, out]) and transposes out_proj", () => {
    const inW = t([3 * D, D]);
    const inB = t([3 * D]);
    const outW = t([D, D]);
    const w = foreignWeights(graph(), safetensorsBytes({ "attn.in_proj_weight": inW, "attn.in_proj_bias": inB, "attn.out_proj.weight": outW, "attn.out_proj.bias": t([D]) }), { from: "torch" });
    const W = inW.data as number[];
    ["query", "key", "value"].forEach((name, k) => {
      // netc's [in, out] element (i, o) is PyTorch's row k·D + o, column i.
      for (let i = 0; i < D; i++) for (let o = 0; o < D; o++) expect(w[`attn.${name}_weight`]![i * D + o]).toBeCloseTo(W[(k * D + o) * D + i]!, 6);
      for (let o = 0; o < D; o++) expect(w[`attn.${name}_bias`]![o]).toBeCloseTo((inB.data as number[])[k * D + o]!, 6);
    });
    for (let i = 0; i < D; i++) for (let o = 0; o < D; o++) expect(w["attn.out_weight"]![i * D + o]).toBeCloseTo((outW.data as number[])[o * D + i]!, 6);
  });

  it("reads Keras's MultiHeadAttention kernels [D, heads, D/heads] as netc's [D, D]", () => {
    const q = t([D, 2, D / 2]);
    const out = t([2, D / 2, D]);
    const file: Record<string, FixtureTensor> = { "attn/attention_output/kernel:0": out, "attn/attention_output/bias:0": t([D]) };
    for (const name of ["query", "key", "value"]) {
      file[`attn/${name}/kernel:0`] = name === "query" ? q : t([D, 2, D / 2]);
      file[`attn/${name}/bias:0`] = t([2, D / 2]);
    }
    const w = foreignWeights(graph(), safetensorsBytes(file), { from: "keras" });
    expect(Array.from(w["attn.query_weight"]!)).toEqual(Array.from(Float32Array.from(q.data)));
    expect(Array.from(w["attn.out_weight"]!)).toEqual(Array.from(Float32Array.from(out.data)));
    expect(() => foreignWeights(graph(), safetensorsBytes({ ...file, "attn/query/kernel:0": t([D, 3, 1]) }), { from: "keras" })).toThrow(/`attn\/query\/kernel:0` is \[4, 3, 1\], expected \[4, \?, \?\]/);
  });
});

describe("netc train --init", () => {
  const dir = mkdtempSync(join(tmpdir(), "netc-init-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const net = join(dir, "tiny.net");
  writeFileSync(
    net,
    `network tiny {
  input x: f32[B, 2]
  output y = x |> fc: dense(1)
}
train {
  loss = mse(y, t)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  batch = 2
  data {
    x = [[1, 2], [3, 4]]
    t = [[1], [0]]
  }
}
`,
  );

  it("starts from PyTorch weights and writes a checkpoint that holds them after one step", async () => {
    const w = join(dir, "torch.safetensors");
    writeFileSync(w, safetensorsBytes({ "fc.weight": t([1, 2], [0.5, -0.25]), "fc.bias": t([1], [0.1]) }));
    const ckpt = join(dir, "out.safetensors");
    const r = await netc("train", net, "--backend", "cpu", "--init", w, "--from", "torch", "--checkpoint", ckpt, "--quiet");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    // One SGD step on mse from w = [0.5, -0.25], b = 0.1: predictions 0.1 and 0.6, the gradient by hand.
    const pred = [0.5 * 1 - 0.25 * 2 + 0.1, 0.5 * 3 - 0.25 * 4 + 0.1];
    const err = [pred[0]! - 1, pred[1]! - 0];
    const gw = [(2 / 2) * (err[0]! * 1 + err[1]! * 3), (2 / 2) * (err[0]! * 2 + err[1]! * 4)];
    const gb = (2 / 2) * (err[0]! + err[1]!);
    const { readCheckpoint } = await import("../src/runtime/checkpoint-file.js");
    const c = readCheckpoint(ckpt);
    const weight = c.tensors["fc.weight"]!.values;
    expect(weight[0]).toBeCloseTo(0.5 - 0.1 * gw[0]!, 6);
    expect(weight[1]).toBeCloseTo(-0.25 - 0.1 * gw[1]!, 6);
    expect(c.tensors["fc.bias"]!.values[0]).toBeCloseTo(0.1 - 0.1 * gb, 6);
  });

  it("refuses a file that does not fit, naming every problem, and --from without --init", async () => {
    const w = join(dir, "bad.safetensors");
    writeFileSync(w, safetensorsBytes({ "fc.weight": t([2, 1]), "other.bias": t([1]) }));
    const r = await netc("train", net, "--backend", "cpu", "--init", w, "--from", "torch");
    expect(r.code).toBe(1);
    expect(r.err).toContain("`fc.weight` is [2, 1], expected [1, 2]");
    expect(r.err).toContain("`other.bias` [1]");
    expect(r.err).toContain("missing from the file: `fc.bias`");
    const r2 = await netc("train", net, "--from", "keras");
    expect(r2.code).toBe(1);
    expect(r2.err).toContain("--from and --partial go with --init");
  });
});
