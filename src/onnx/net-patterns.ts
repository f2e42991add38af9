import type { Node, Value } from "../ir/graph.js";

/**
 * Composites netc lowers to primitives, found again in an imported graph so the written `.net`
 * says `layernorm`, `gelu` or `softmax` instead of their arithmetic. Each matcher checks that the
 * pattern's inner values feed nothing else (else the arithmetic must stay).
 */

/** What the matchers ask of the graph. */
export interface PatternCtx {
  /** The nodes that read a value. */
  usersOf(v: Value): Node[];
  /** Whether a value is a graph output. */
  isOutput(v: Value): boolean;
  /** Whether a value is a constant argument (a param of the written network). */
  isConst(v: Value): boolean;
  /** Whether `n` is the only reader of `v` (and `v` no output). */
  onlyUse(v: Value, n: Node): boolean;
}

/**
 * netc's layernorm as its export writes it: c = x - mean(x), (c / sqrt(mean(c·c) + eps)) · gamma + beta
 * over the last axis, with gamma and beta constants of its width used nowhere else.
 */
export function layernormOf(p: PatternCtx, n: Node): { x: Value; gamma: Value; beta: Value; eps: number; width: number } | undefined {
  if (n.op !== "add") return undefined;
  const [scaled, beta] = n.inputs as [Value, Value];
  const mul = scaled.producer;
  if (mul?.op !== "mul" || !p.isConst(beta)) return undefined;
  const [normed, gamma] = mul.inputs as [Value, Value];
  const div = normed.producer;
  if (!p.isConst(gamma) || div?.op !== "div") return undefined;
  const [c, std] = div.inputs as [Value, Value];
  const sub = c.producer;
  const sqrt = std.producer;
  const plus = sqrt?.op === "sqrt" ? sqrt.inputs[0]!.producer : undefined;
  if (sub?.op !== "sub" || plus?.op !== "add") return undefined;
  const [variance, epsV] = plus.inputs as [Value, Value];
  const eps = epsV.producer?.op === "const" ? (epsV.producer.attrs["value"] as number) : undefined;
  const vm = variance.producer;
  const sq = vm?.inputs[0]!.producer;
  const [x, m] = sub.inputs as [Value, Value];
  const mean = m.producer;
  const rank = x.type.shape.length;
  const lastAxis = (node: Node | undefined) => {
    const ax = node?.attrs["axes"] as number[] | undefined;
    return node?.op === "mean" && node.attrs["keepdims"] === true && ax?.length === 1 && (ax[0] === -1 || ax[0] === rank - 1);
  };
  if (eps === undefined || !lastAxis(vm) || !lastAxis(mean) || mean!.inputs[0] !== x || sq?.op !== "mul" || sq.inputs[0] !== c || sq.inputs[1] !== c) return undefined;
  const width = x.type.shape[rank - 1] as number;
  const vector = (v: Value) => v.type.shape.length === 1 && v.type.shape[0] === width;
  if (!vector(gamma) || !vector(beta) || !p.onlyUse(gamma, mul) || !p.onlyUse(beta, n)) return undefined;
  // Every inner value feeds only the pattern.
  const inner: [Value, Node[]][] = [[scaled, [n]], [normed, [mul]], [std, [div]], [sqrt!.inputs[0]!, [sqrt!]], [variance, [plus]], [sq.out, [vm!]], [c, [div, sq]], [m, [sub]]];
  if (!inner.every(([v, ok]) => p.usersOf(v).every((k) => ok.includes(k)) && !p.isOutput(v))) return undefined;
  return { x, gamma, beta, eps, width };
}

/** The x of gelu written out as netc lowers it: (0.5·x)·(1 + erf(x·√½)), constants at f32. */
export function geluInput(p: PatternCtx, n: Node): Value | undefined {
  const constOf = (v: Value) => (v.producer?.op === "const" ? Math.fround(v.producer.attrs["value"] as number) : undefined);
  if (n.op !== "mul") return undefined;
  const [half, phi] = n.inputs as [Value, Value];
  if (half.producer?.op !== "mul" || phi.producer?.op !== "add") return undefined;
  const [h, x] = half.producer.inputs as [Value, Value];
  const [one, e] = phi.producer.inputs as [Value, Value];
  if (constOf(h) !== 0.5 || constOf(one) !== 1 || e.producer?.op !== "erf") return undefined;
  const scaled = e.producer.inputs[0]!.producer;
  if (scaled?.op !== "mul" || scaled.inputs[0] !== x || constOf(scaled.inputs[1]!) !== Math.fround(Math.SQRT1_2)) return undefined;
  const inner: [Value, Node][] = [[half, n], [phi, n], [e, phi.producer], [scaled.out, e.producer]];
  if (!inner.every(([v, k]) => p.usersOf(v).every((c) => c === k) && !p.isOutput(v))) return undefined;
  return x;
}

/** The x and axis of a softmax written out as primitives, when `n` ends one. */
export function softmaxInput(p: PatternCtx, n: Node): { x: Value; axis: number } | undefined {
  const [e, s] = n.inputs as [Value, Value];
  if (n.op !== "div" || e.producer?.op !== "exp" || s.producer?.op !== "sum" || s.producer.inputs[0] !== e) return undefined;
  const axes = s.producer.attrs["axes"] as number[] | undefined;
  if (!axes || axes.length !== 1 || s.producer.attrs["keepdims"] !== true) return undefined;
  const sub = e.producer.inputs[0]!.producer;
  if (sub?.op !== "sub") return undefined;
  const [x, m] = sub.inputs as [Value, Value];
  const mr = m.producer;
  if (mr?.op !== "max_reduce" || mr.inputs[0] !== x || mr.attrs["keepdims"] !== true) return undefined;
  const max = mr.attrs["axes"] as number[] | undefined;
  if (!max || max.length !== 1 || max[0] !== axes[0]) return undefined;
  const inside = [e, sub.out, m];
  if (!inside.every((v) => p.usersOf(v).every((c) => c === n || c === s.producer || c === e.producer || c === sub)) || inside.some(p.isOutput) || p.isOutput(s)) return undefined;
  if (p.usersOf(s).some((c) => c !== n)) return undefined;
  const rank = x.type.shape.length;
  return { x, axis: axes[0]! < 0 ? axes[0]! + rank : axes[0]! };
}
