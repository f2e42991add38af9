import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Diagnostics } from "../src/base/diagnostics.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { runPipeline } from "../src/ir/passes/pipeline.js";
import { sharedGpu } from "../src/runtime/device.js";
import { AttrReader, OnnxImportError } from "../src/onnx/node-context.js";
import { importModel } from "../src/onnx/importer.js";
import { ONNX_OPS } from "../src/onnx/ops/index.js";
import { autoPad } from "../src/onnx/ops/nn.js";
import { decodeModel, decodeTensorProto, encodeModel, encodeTensorProto, type ModelProto } from "../src/onnx/proto.js";
import { compareOutputs, ConformanceRunner, conformanceDir, listTests, loadTest } from "../src/onnx/runner.js";
import { halfToFloat, tensorFromProto } from "../src/onnx/tensor.js";
import { rng } from "./util/build.js";

// The ONNX importer and conformance runner: protobuf decoding of tensors and attributes,
// auto_pad, clear errors for broken files, small models built here, and a handful of the real
// ONNX node tests (from shared/conformance, skipped when that data is absent).

const bytesLE = (arr: Float32Array | BigInt64Array | Uint16Array | Uint8Array) =>
  new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);

describe("TensorProto decoding", () => {
  it("reads float32 raw_data little-endian with its dims and name", () => {
    const values = Float32Array.of(1.5, -2, 3.25, 0, 1e-8, -7);
    const proto = decodeTensorProto(encodeTensorProto({ dims: [2, 3], dataType: 1, name: "x", rawData: bytesLE(values) }));
    expect(proto.name).toBe("x");
    const t = tensorFromProto(proto);
    expect(t.dtype).toBe("float32");
    expect(t.dims).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual(Array.from(values));
  });

  it("reads int64 raw_data, including negatives", () => {
    const t = tensorFromProto(decodeTensorProto(encodeTensorProto({ dims: [3], dataType: 7, rawData: bytesLE(BigInt64Array.of(-1n, 0n, 1234567890123n)) })));
    expect(t.dtype).toBe("int64");
    expect(Array.from(t.data)).toEqual([-1, 0, 1234567890123]);
  });

  it("reads big-endian-free raw bytes regardless of the buffer's offset", () => {
    // A view into the middle of a larger buffer, as protobufjs returns for bytes fields.
    const big = new Uint8Array(3 + 8);
    new DataView(big.buffer).setFloat32(3, 0.5, true);
    new DataView(big.buffer).setFloat32(7, -4, true);
    const t = tensorFromProto({ dims: [2], dataType: 1, rawData: big.subarray(3) });
    expect(Array.from(t.data)).toEqual([0.5, -4]);
  });

  it("reads the typed fields when there is no raw_data", () => {
    const f = tensorFromProto(decodeTensorProto(encodeTensorProto({ dims: [2, 2], dataType: 1, floatData: [1, 2, 3, 4] })));
    expect(Array.from(f.data)).toEqual([1, 2, 3, 4]);
    const i = tensorFromProto(decodeTensorProto(encodeTensorProto({ dims: [2], dataType: 7, int64Data: [5, -6] })));
    expect(Array.from(i.data)).toEqual([5, -6]);
    const b = tensorFromProto(decodeTensorProto(encodeTensorProto({ dims: [3], dataType: 9, int32Data: [1, 0, 1] })));
    expect(b.dtype).toBe("bool");
    expect(Array.from(b.data)).toEqual([1, 0, 1]);
  });

  it("reads float16 and bool raw data, and scalars with no dims", () => {
    const h = tensorFromProto({ dims: [3], dataType: 10, rawData: bytesLE(Uint16Array.of(0x3c00, 0xc000, 0x7c00)) });
    expect(Array.from(h.data)).toEqual([1, -2, Infinity]);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    const s = tensorFromProto({ dataType: 9, rawData: Uint8Array.of(1) });
    expect(s.dims).toEqual([]);
    expect(Array.from(s.data)).toEqual([1]);
  });

  it("rejects raw_data of the wrong length, naming the tensor", () => {
    expect(() => tensorFromProto({ dims: [4], dataType: 1, name: "w", rawData: new Uint8Array(12) })).toThrow(
      /tensor w: raw_data has 12 bytes, float32\[4\] needs 16/,
    );
  });
});

/** A model of one node; inputs and outputs are float32 of the given dims. */
function oneNode(
  op: string,
  attribute: NonNullable<NonNullable<ModelProto["graph"]>["node"]>[number]["attribute"],
  inputs: [string, number[]][],
  outputs: [string, number[]][],
  initializer: NonNullable<ModelProto["graph"]>["initializer"] = [],
  opset = 21,
): ModelProto {
  const info = ([name, dims]: [string, number[]]) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  return {
    irVersion: 10,
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "g",
      node: [{ opType: op, input: [...inputs.map((i) => i[0]), ...(initializer ?? []).map((t) => t.name!)], output: outputs.map((o) => o[0]), attribute }],
      input: inputs.map(info),
      output: outputs.map(info),
      initializer,
    },
  };
}

describe("attributes", () => {
  it("decode by type: float, int, ints, floats, string, tensor", () => {
    const model = decodeModel(
      encodeModel(
        oneNode(
          "Conv",
          [
            { name: "alpha", type: "FLOAT", f: 0.25 },
            { name: "group", type: "INT", i: 3 },
            { name: "pads", type: "INTS", ints: [1, 2, 1, 2] },
            { name: "scales", type: "FLOATS", floats: [0.5, 2] },
            { name: "auto_pad", type: "STRING", s: new TextEncoder().encode("SAME_UPPER") },
            { name: "value", type: "TENSOR", t: { dims: [2], dataType: 7, int64Data: [3, 4] } },
          ],
          [["x", [1]]],
          [["y", [1]]],
        ),
      ),
    );
    const a = new AttrReader(model.graph!.node![0]!.attribute!, "Conv");
    expect(a.float("alpha", 1)).toBeCloseTo(0.25);
    expect(a.int("group", 1)).toBe(3);
    expect(a.ints("pads")).toEqual([1, 2, 1, 2]);
    expect(a.floats("scales")).toEqual([0.5, 2]);
    expect(a.string("auto_pad", "NOTSET")).toBe("SAME_UPPER");
    expect(Array.from(a.tensor("value")!.data)).toEqual([3, 4]);
    expect(a.int("missing", 7)).toBe(7);
    expect(() => a.ints("group")).toThrow(/group is INT, expected INTS/);
  });
});

describe("auto_pad", () => {
  it("SAME_UPPER puts the odd padding at the end, SAME_LOWER at the start", () => {
    expect(autoPad("SAME_UPPER", 5, 3, 2, 1)).toEqual([1, 1]);
    expect(autoPad("SAME_UPPER", 4, 2, 1, 1)).toEqual([0, 1]);
    expect(autoPad("SAME_LOWER", 4, 2, 1, 1)).toEqual([1, 0]);
    expect(autoPad("SAME_UPPER", 32, 2, 1, 1)).toEqual([0, 1]);
    expect(autoPad("SAME_LOWER", 7, 3, 3, 1)).toEqual([1, 1]);
    // dilation widens the kernel: extent (3 - 1) * 2 + 1 = 5 over 6 with stride 1 needs 4.
    expect(autoPad("SAME_UPPER", 6, 3, 1, 2)).toEqual([2, 2]);
  });
  it("VALID pads nothing", () => {
    expect(autoPad("VALID", 5, 3, 2, 1)).toEqual([0, 0]);
  });
});

/** Imports a model, runs the pipeline and the CPU reference on `feeds`; returns the outputs. */
function runCpu(model: ModelProto, feeds: Record<string, number[]>): Float32Array[] {
  const m = importModel(model, ONNX_OPS, {});
  const d = new Diagnostics();
  const { graph } = runPipeline(m.graph, { d });
  expect(d.hasErrors, d.render()).toBe(false);
  const args = new Map<Value, Tensor>();
  for (const a of graph.args) {
    const data = feeds[a.arg!.name] ?? m.constants[a.arg!.name];
    args.set(a, { shape: a.type.shape as number[], data: Float32Array.from(data!) });
  }
  const env = interpret(graph, args, { dims: {}, precision: "f32" });
  return graph.outputs.map((o) => Float32Array.from(env.get(o.value)!.data));
}

describe("importing small models", () => {
  it("Gemm with an initializer as C becomes a constant argument", () => {
    const c = { name: "c", dims: [1, 2], dataType: 1, rawData: bytesLE(Float32Array.of(10, 20)) };
    const model = oneNode("Gemm", [{ name: "transB", type: "INT", i: 1 }], [["a", [1, 3]], ["b", [2, 3]]], [["y", [1, 2]]], [c]);
    const [y] = runCpu(model, { a: [1, 2, 3], b: [1, 0, 0, 0, 1, 1] });
    expect(Array.from(y!)).toEqual([11, 25]);
  });

  it("MaxPool with auto_pad SAME_UPPER pads at the end", () => {
    const model = oneNode(
      "MaxPool",
      [
        { name: "kernel_shape", type: "INTS", ints: [2] },
        { name: "auto_pad", type: "STRING", s: new TextEncoder().encode("SAME_UPPER") },
      ],
      [["x", [1, 1, 3]]],
      [["y", [1, 1, 3]]],
    );
    expect(Array.from(runCpu(model, { x: [1, -3, -2] })[0]!)).toEqual([1, -2, -2]);
  });

  it("an op without a mapping is an unsupported-import error", () => {
    const model = oneNode("Einsum", [], [["x", [2]]], [["y", [2]]]);
    let err: unknown;
    try {
      importModel(model, ONNX_OPS, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OnnxImportError);
    expect((err as OnnxImportError).kind).toBe("unsupported");
    expect((err as Error).message).toMatch(/op Einsum is not supported/);
  });
});

describe("recurrent ops beyond the node tests", () => {
  const rand = rng(5);
  const T = 3;
  const N = 2;
  const I = 2;
  const H = 3;
  const randoms = (n: number) => Array.from({ length: n }, () => rand() - 0.5);
  const f32 = (name: string, dims: number[], values: number[]) => ({ name, dims, dataType: 1, rawData: bytesLE(Float32Array.from(values)) });
  const model = (op: string, attrs: { name: string; type: string; i?: number; s?: Uint8Array }[], w: number[], r: number[], b: number[], dirs: number, gates: number) =>
    oneNode(op, [{ name: "hidden_size", type: "INT", i: H }, ...attrs], [["X", [T, N, I]]], [["Y", [T, dirs, N, H]]], [
      f32("W", [dirs, gates * H, I], w),
      f32("R", [dirs, gates * H, H], r),
      f32("B", [dirs, 2 * gates * H], b),
    ]);
  const str = (s: string) => new TextEncoder().encode(s);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  /** Row i of W·x for a [rows, cols] row-major W. */
  const mv = (w: number[], x: number[], rows: number, off = 0) =>
    Array.from({ length: rows }, (_, i) => x.reduce((s, xv, j) => s + w[off + i * x.length + j]! * xv, 0));

  it("GRU with linear_before_reset applies the reset gate after the recurrent product", () => {
    const [w, r, b] = [randoms(3 * H * I), randoms(3 * H * H), randoms(6 * H)];
    const x = randoms(T * N * I);
    const [y] = runCpu(model("GRU", [{ name: "linear_before_reset", type: "INT", i: 1 }], w, r, b, 1, 3), { X: x });
    const expected: number[] = [];
    const h = Array.from({ length: N }, () => new Array<number>(H).fill(0));
    for (let t = 0; t < T; t++)
      for (let n = 0; n < N; n++) {
        const xt = x.slice((t * N + n) * I, (t * N + n + 1) * I);
        const wx = mv(w, xt, 3 * H).map((v, k) => v + b[k]!);
        const rh = mv(r, h[n]!, 3 * H).map((v, k) => v + b[3 * H + k]!);
        const z = wx.slice(0, H).map((v, k) => sig(v + rh[k]!));
        const rr = wx.slice(H, 2 * H).map((v, k) => sig(v + rh[H + k]!));
        const cand = wx.slice(2 * H).map((v, k) => Math.tanh(v + rr[k]! * rh[2 * H + k]!));
        h[n] = cand.map((c, k) => (1 - z[k]!) * c + z[k]! * h[n]![k]!);
        expected.push(...h[n]!);
      }
    expect(Array.from(y!).map((v, i) => Math.abs(v - expected[i]!)).every((e) => e < 1e-5)).toBe(true);
  });

  it("sequence_lens shorter than the sequence hold the state and give zero outputs", () => {
    const [w, r, b] = [randoms(H * I), randoms(H * H), randoms(2 * H)];
    const x = randoms(T * N * I);
    const withLens = model("RNN", [], w, r, b, 1, 1);
    const g = withLens.graph!;
    g.node![0]!.input = ["X", "W", "R", "B", "lens"];
    g.node![0]!.output = ["Y", "Y_h"];
    g.initializer!.push({ name: "lens", dims: [N], dataType: 6, int32Data: [T, 2] });
    g.output!.push({ name: "Y_h", type: { tensorType: { elemType: 1, shape: { dim: [1, N, H].map((d) => ({ dimValue: d })) } } } });
    const [y, yh] = runCpu(withLens, { X: x });
    const [full] = runCpu(model("RNN", [], w, r, b, 1, 1), { X: x });
    const at = (v: Float32Array, t: number, n: number) => Array.from(v.subarray((t * N + n) * H, (t * N + n + 1) * H));
    for (let t = 0; t < T; t++) expect(at(y!, t, 0)).toEqual(at(full!, t, 0));
    expect(at(y!, 1, 1)).toEqual(at(full!, 1, 1));
    expect(at(y!, 2, 1)).toEqual([0, 0, 0]);
    expect(Array.from(yh!.subarray(H, 2 * H))).toEqual(at(full!, 1, 1));
  });

  it("a bidirectional LSTM is a forward LSTM and a forward LSTM over the reversed sequence", () => {
    const [w, r, b] = [randoms(2 * 4 * H * I), randoms(2 * 4 * H * H), randoms(2 * 8 * H)];
    const x = randoms(T * N * I);
    const [both] = runCpu(model("LSTM", [{ name: "direction", type: "STRING", s: str("bidirectional") }], w, r, b, 2, 4), { X: x });
    const half = (v: number[], d: number) => v.slice((d * v.length) / 2, ((d + 1) * v.length) / 2);
    const [fwd] = runCpu(model("LSTM", [], half(w, 0), half(r, 0), half(b, 0), 1, 4), { X: x });
    const reversed = Array.from({ length: T }, (_, t) => x.slice((T - 1 - t) * N * I, (T - t) * N * I)).flat();
    const [bwd] = runCpu(model("LSTM", [], half(w, 1), half(r, 1), half(b, 1), 1, 4), { X: reversed });
    const step = N * H;
    for (let t = 0; t < T; t++) {
      const row = (y: Float32Array, d: number, dirs: number) => Array.from(y.subarray((t * dirs + d) * step, (t * dirs + d + 1) * step));
      expect(row(both!, 0, 2)).toEqual(row(fwd!, 0, 1));
      const tr = T - 1 - t;
      expect(row(both!, 1, 2)).toEqual(Array.from(bwd!.subarray(tr * step, (tr + 1) * step)));
    }
  });
});

describe("comparison", () => {
  const expected = { dtype: "float32" as const, dims: [2, 2], data: Float64Array.of(1, 2, NaN, -Infinity) };
  it("uses rtol 1e-3 and atol 1e-7, with NaN equal to NaN and infinities exact", () => {
    expect(compareOutputs([1.0009, 2, NaN, -Infinity], expected)).toBeUndefined();
    const bad = compareOutputs([1, 2.01, NaN, -Infinity], expected);
    expect(bad).toMatchObject({ index: [0, 1], expected: 2 });
    expect(compareOutputs([1, 2, NaN, 0], expected)).toMatchObject({ index: [1, 1] });
  });
});

describe("broken test folders", () => {
  const root = mkdtempSync(join(tmpdir(), "netc-onnx-"));
  const folder = (name: string, model: Uint8Array) => {
    const dir = join(root, name);
    mkdirSync(join(dir, "test_data_set_0"), { recursive: true });
    writeFileSync(join(dir, "model.onnx"), model);
    return dir;
  };
  const good = encodeModel(oneNode("Relu", [], [["x", [2]]], [["y", [2]]]));

  it("a truncated model.onnx is a clear error naming the file", () => {
    const dir = folder("test_truncated", good.subarray(0, good.length - 7));
    expect(() => loadTest(dir)).toThrow(new RegExp(`${join(dir, "model.onnx").replace(/[/.]/g, "\\$&")}: not a valid ONNX model`));
  });

  it("garbage bytes fail the test in the runner instead of crashing the run", async () => {
    folder("test_garbage", Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));
    const runner = new ConformanceRunner({ backends: ["cpu"] });
    const [tc] = listTests(root, "garbage");
    const r = await runner.run(tc!);
    expect(r.status).toBe("fail");
    expect(r.reason).toMatch(/test_garbage\/model\.onnx: not a valid ONNX model/);
  });
});

// ---------------------------------------------------------------- the real ONNX node tests

const DATA = conformanceDir();
const HAVE_DATA = existsSync(join(DATA, "index.json"));
if (!HAVE_DATA) console.warn(`onnx.test.ts: no conformance data at ${DATA}; the ONNX node-test checks are skipped`);

const SAMPLE = [
  "test_softmax_axis_1",
  "test_logsoftmax_large_number_expanded",
  "test_gemm_all_attributes",
  "test_matmul_bcast",
  "test_reduce_sum_keepdims_random",
  "test_reshape_negative_dim",
  "test_gather_negative_indices",
  "test_conv_with_strides_and_asymmetric_padding",
  "test_averagepool_2d_ceil",
  "test_maxpool_2d_same_lower",
  "test_batchnorm_example_training_mode",
  "test_layer_normalization_4d_axis2_expanded",
  "test_lstm_with_peepholes",
  "test_gru_seq_length",
  "test_attention_3d_gqa_causal",
  "test_attention_4d_with_past_and_present_qk_matmul_bias_3d_mask_causal_expanded",
  "test_attention_4d_attn_mask_bool",
];

describe.skipIf(!HAVE_DATA)("ONNX node tests on the CPU reference", () => {
  const runner = new ConformanceRunner({ backends: ["cpu"] });
  for (const name of SAMPLE) {
    it(name, async () => {
      const [tc] = listTests(DATA, name).filter((t) => t.name === name);
      expect(tc, `${name} is in the data`).toBeDefined();
      const r = await runner.run(tc!);
      expect(r.reason).toBeUndefined();
      expect(r.status).toBe("pass");
    });
  }

  it("builds Conv, pools and Gather from slices when the registry lacks their primitives", async () => {
    const withoutOps = new Set(["conv", "pool", "gather"]);
    const without = new ConformanceRunner({ backends: ["cpu"], withoutOps });
    const names = [
      "test_conv_with_strides_and_asymmetric_padding",
      "test_maxpool_2d_ceil_output_size_reduce_by_one",
      "test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True",
      "test_averagepool_2d_same_lower",
      "test_gather_2d_indices",
    ];
    const tests = listTests(DATA).filter((t) => names.includes(t.name));
    expect(tests.length).toBe(names.length);
    for (const tc of tests) {
      if (!tc.name.includes("gather")) {
        // The imported graph really does without them (gather's indices are fed, so it is checked by its result only).
        const ops = importModel(loadTest(tc.dir).model, ONNX_OPS, { withoutOps }).graph.nodes.map((n) => n.op);
        expect(ops.filter((op) => withoutOps.has(op)), tc.name).toEqual([]);
      }
      const r = await without.run(tc);
      expect(r.reason, tc.name).toBeUndefined();
      expect(r.status, tc.name).toBe("pass");
    }
  });

  it("skips integer data and training dropout with their reasons", async () => {
    const reasons = new Map<string, string | undefined>();
    for (const tc of listTests(DATA).filter((t) => ["test_add_uint8", "test_training_dropout", "test_maxpool_with_argmax_2d_precomputed_pads"].includes(t.name))) {
      const r = await runner.run(tc);
      expect(r.status).toBe("skip");
      reasons.set(tc.name, r.reason);
      if (tc.name === "test_training_dropout") expect(r.counted).toBe(false);
    }
    expect(reasons.get("test_add_uint8")).toMatch(/dtype uint8 not supported \(output sum; the runtime is float32\)/);
    expect(reasons.get("test_training_dropout")).toMatch(/numpy's RNG/);
    expect(reasons.get("test_maxpool_with_argmax_2d_precomputed_pads")).toMatch(/dtype int64 not supported \(output z/);
  });

  it("keeps the model bytes intact (protobuf round trip of a real model)", () => {
    const bytes = readFileSync(join(DATA, "test_gemm_all_attributes", "model.onnx"));
    const model = decodeModel(bytes);
    expect(model.graph?.node?.[0]?.opType).toBe("Gemm");
    expect(decodeModel(encodeModel(model))).toEqual(model);
  });
});

describe.skipIf(!HAVE_DATA)("ONNX node tests on WebGPU", async () => {
  const gpu = await sharedGpu();
  afterAll(() => expect(gpu?.errors ?? []).toEqual([]));
  it.skipIf(!gpu)("a sample agrees with ONNX's expected outputs", async () => {
    const runner = new ConformanceRunner({ backends: ["webgpu"], gpu });
    for (const name of ["test_attention_4d_gqa_causal", "test_gru_defaults", "test_maxpool_2d_ceil", "test_layer_normalization_3d_axis1_epsilon"]) {
      const [tc] = listTests(DATA, name).filter((t) => t.name === name);
      const r = await runner.run(tc!);
      expect(r.reason, name).toBeUndefined();
      expect(r.status, name).toBe("pass");
    }
  });
});
