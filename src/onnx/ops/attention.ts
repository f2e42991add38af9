import type { Value } from "../../ir/graph.js";
import { dimsOf, dtypeOfTerm, type Handler, invalid, type NodeCtx, type Term, unsupported } from "../node-context.js";
import { out, reshapeValue, staticOf } from "./common.js";
import { composite } from "./elementwise.js";

/**
 * ONNX Attention (opset 23/24), from primitives, following ONNX's reference:
 * 1. 3-D Q/K/V [batch, seq, heads·size] are split into heads ([batch, heads, seq, size]) by
 *    q_num_heads / kv_num_heads; 4-D inputs already are.
 * 2. past_key / past_value are prepended along the sequence (present_key / present_value).
 * 3. The additive bias: a float mask as is, a bool mask as 0 / -inf, padded with -inf when it is
 *    shorter than the keys; is_causal adds -inf where key j > query i + past length;
 *    nonpad_kv_seqlen (opset 24) masks keys past each batch's length. Import-time masks (causal,
 *    padding) are constant tensors.
 * 4. Grouped-query attention repeats each KV head q_num_heads / kv_num_heads times.
 * 5. scores = Q·Kᵀ·scale (scale defaults to 1/√size); softcap·tanh(scores/softcap) when softcap > 0;
 *    + bias; softmax over keys (the frontend's stable softmax); · V; heads merged back for 3-D.
 * 6. qk_matmul_output is the scores after step 5's matmul (mode 0), softcap (1), bias (2) or softmax (3).
 * -inf reaches the GPU as data (an argument), not as a WGSL literal, which has no infinity.
 */
function attention(n: NodeCtx): (Term | undefined)[] {
  const q = n.input(0);
  const k = n.input(1);
  const v = n.input(2);
  const dt = dtypeOfTerm(q);
  if (dt !== "float32") unsupported(`${n.where}: dtype ${dt} (float32 runtime)`);
  const qd = dimsOf(q);
  const rank = qd.length;
  if (rank !== 3 && rank !== 4) invalid(`${n.where}: Q must be 3-D or 4-D, got [${qd}]`);
  if (dimsOf(k).length !== rank || dimsOf(v).length !== rank) invalid(`${n.where}: Q, K and V must have the same rank`);
  if (n.attr.has("softmax_precision") && n.attr.int("softmax_precision", 1) !== 1)
    unsupported(`${n.where}: softmax_precision other than float32`);

  const batch = qd[0]!;
  let qHeads: number;
  let kvHeads: number;
  const split = (x: Term, heads: number): Value => {
    const [b, s, hidden] = dimsOf(x) as [number, number, number];
    if (hidden % heads !== 0) invalid(`${n.where}: hidden size ${hidden} does not split into ${heads} heads`);
    const r = reshapeValue(n, n.value(x), [b, s, heads, hidden / heads]);
    return n.emit("transpose", [r], { perm: [0, 2, 1, 3] });
  };
  let qv: Value;
  let kv: Value;
  let vv: Value;
  if (rank === 3) {
    const qh = n.attr.int("q_num_heads");
    const kh = n.attr.int("kv_num_heads");
    if (!qh || !kh) invalid(`${n.where}: 3-D inputs need q_num_heads and kv_num_heads`);
    qHeads = qh;
    kvHeads = kh;
    qv = split(q, qHeads);
    kv = split(k, kvHeads);
    vv = split(v, kvHeads);
  } else {
    qHeads = qd[1]!;
    kvHeads = dimsOf(k)[1]!;
    qv = n.value(q);
    kv = n.value(k);
    vv = n.value(v);
  }
  const [, , qLen, size] = qv.type.shape as number[];
  const scale = n.attr.float("scale") ?? 1 / Math.sqrt(size!);

  const pastK = n.optional(4);
  const pastV = n.optional(5);
  if (!!pastK !== !!pastV) invalid(`${n.where}: past_key and past_value go together`);
  const pastLen = pastK ? dimsOf(pastK)[2]! : 0;
  const presentK = pastK ? n.emit("concat", [n.value(pastK), kv], { axis: 2 }) : kv;
  const presentV = pastV ? n.emit("concat", [n.value(pastV), vv], { axis: 2 }) : vv;
  const total = (presentK.type.shape as number[])[2]!;

  const negInf = () => n.value(staticOf("float32", [1], [-Infinity]));
  // The bias, broadcastable to [batch, qHeads, qLen, total].
  let bias: Value | undefined;
  const mask = n.optional(3);
  if (mask) {
    const md = dimsOf(mask);
    let m = n.value(mask);
    if (dtypeOfTerm(mask) === "bool") m = n.emit("select", [m, n.scalar(0), negInf()]);
    const short = total - md.at(-1)!;
    if (short < 0) invalid(`${n.where}: attn_mask has ${md.at(-1)} keys, more than ${total}`);
    if (short > 0) m = n.emit("concat", [m, n.emit("broadcast", [negInf()], { shape: [...md.slice(0, -1), short] })], { axis: md.length - 1 });
    bias = m;
  }
  const nonpad = n.optional(6);
  const lens = nonpad ? n.ints(nonpad, "nonpad_kv_seqlen") : undefined;
  const addBias = (t: Term) => {
    const b = n.value(t);
    bias = bias ? n.emit("add", [bias, b]) : b;
  };
  if (n.attr.int("is_causal", 0) === 1) {
    if (!pastK && lens) {
      // External cache: per batch, query i sees keys j <= i + (len[b] - qLen).
      const values: number[] = [];
      for (let b = 0; b < batch; b++)
        for (let i = 0; i < qLen!; i++) for (let j = 0; j < total; j++) values.push(j <= i + lens[b]! - qLen! ? 0 : -Infinity);
      addBias(staticOf("float32", [batch, 1, qLen!, total], values));
    } else {
      const values: number[] = [];
      for (let i = 0; i < qLen!; i++) for (let j = 0; j < total; j++) values.push(j > i + pastLen ? -Infinity : 0);
      addBias(staticOf("float32", [qLen!, total], values));
    }
  }
  if (lens) {
    if (lens.length !== batch) invalid(`${n.where}: nonpad_kv_seqlen has ${lens.length} entries for batch ${batch}`);
    const values: number[] = [];
    for (let b = 0; b < batch; b++) for (let j = 0; j < total; j++) values.push(j < lens[b]! ? 0 : -Infinity);
    addBias(staticOf("float32", [batch, 1, 1, total], values));
  }

  // Grouped-query attention: each KV head serves qHeads / kvHeads query heads in a row.
  let keys = presentK;
  let values = presentV;
  if (qHeads !== kvHeads) {
    if (qHeads % kvHeads !== 0) invalid(`${n.where}: ${qHeads} query heads are not a multiple of ${kvHeads} KV heads`);
    const rep = qHeads / kvHeads;
    const repeat = (x: Value) => {
      const [b, h, s, d] = x.type.shape as [number, number, number, number];
      const wide = n.emit("broadcast", [reshapeValue(n, x, [b, h, 1, s, d])], { shape: [b, h, rep, s, d] });
      return reshapeValue(n, wide, [b, h * rep, s, d]);
    };
    keys = repeat(keys);
    values = repeat(values);
  }

  const raw = n.emit("mul", [n.emit("matmul", [qv, keys], { tb: true }), n.scalar(scale)]);
  const softcap = n.attr.float("softcap", 0);
  const capped = softcap > 0 ? n.emit("mul", [n.emit("tanh", [n.emit("div", [raw, n.scalar(softcap)])]), n.scalar(softcap)]) : raw;
  const biased = bias ? n.emit("add", [capped, bias]) : capped;
  const weights = composite(n, "softmax", [biased], { axis: -1 });
  let y = n.emit("matmul", [weights, values]);
  if (rank === 3) {
    const [b, h, s, d] = y.type.shape as [number, number, number, number];
    y = reshapeValue(n, n.emit("transpose", [y], { perm: [0, 2, 1, 3] }), [b, s, h * d]);
  }
  const mode = n.attr.int("qk_matmul_output_mode", 0);
  const qk = [raw, capped, biased, weights][mode];
  if (!qk) invalid(`${n.where}: qk_matmul_output_mode ${mode}`);
  // NOTE: a bias that only broadcasts to the scores still gives them their full shape here.
  const full = (x: Value) => {
    const want = biased.type.shape as number[];
    const have = x.type.shape as number[];
    return have.length === want.length && have.every((d, i) => d === want[i]) ? x : n.emit("broadcast", [x], { shape: want });
  };
  return [out(y, dt), out(presentK, dt), out(presentV, dt), n.wants(3) ? out(full(qk), dt) : undefined];
}

/** The Attention handler. */
export const ATTENTION_OPS: Record<string, Handler> = { Attention: attention };
