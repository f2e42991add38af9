import type { Rng } from "./rng.js";

/**
 * Source mutations for the fuzzer. A `.net` file is cut into tokens (whitespace and comments kept,
 * so the text rebuilds exactly), and each mutation edits tokens or lines:
 *   number    a numeric literal becomes an edge value: zero, negative, fractional, huge, tiny,
 *             2^31 and 2^32 neighbours, NaN- and Inf-like spellings, or a neighbour of itself;
 *   name      an identifier becomes another one of the file or of the language;
 *   delete / duplicate / swap / insert   a token;
 *   line-delete / line-duplicate / line-swap   a line.
 * Each mutation says what it did, so a failing case reads as a recipe.
 */

/** A token of the source, with whether it carries meaning (not whitespace or a comment). */
interface Token {
  text: string;
  kind: "space" | "comment" | "number" | "name" | "string" | "punct";
}

const TOKEN = /(\s+)|(#[^\n]*)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|("[^"\n]*"?)|(\|>|[^\s])/gy;

/** Cuts source text into tokens; their texts join back to the source. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN.exec(text))) {
    const kind = m[1] ? "space" : m[2] ? "comment" : m[3] ? "number" : m[4] ? "name" : m[5] ? "string" : "punct";
    out.push({ text: m[0], kind });
  }
  return out;
}

/** Numbers a user could write by mistake, or on purpose at the edge of what works. */
const EDGE_NUMBERS = [
  "0", "0.0", "-0", "-1", "-3", "1", "2", "3", "0.5", "1.5", "-0.5", "7", "100", "1000", "65535", "65536", "100000",
  "1000000", "1000000000", "2147483647", "2147483648", "4294967295", "4294967297", "9007199254740993", "1e9", "1e30",
  "1e38", "1e39", "1e308", "1e309", "1e999", "1e-30", "1e-45", "1e-999", "0.000001", "3.5", "1e", "1.", ".5", "0x10",
  "1_000", "NaN", "nan", "Infinity", "inf", "-inf", "-1e30",
];

/** Names of the language and of common programs (layers, ops, keywords, dims). */
const NAMES = [
  "network", "train", "input", "param", "output", "block", "repeat", "import", "data", "loss", "optimizer", "epochs",
  "batch", "seed", "metrics", "validation", "dense", "conv1d", "conv2d", "maxpool2d", "avgpool2d", "embedding",
  "lstm", "gru", "rnn", "attention", "layernorm", "batchnorm", "dropout", "flatten", "reshape", "transpose", "slice",
  "pad", "concat", "sum", "mean", "max", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "exp", "log",
  "sqrt", "mse", "cross_entropy", "binary_cross_entropy", "sgd", "adam", "adamw", "f32", "i32", "f16", "B", "T",
  "x", "y", "h", "labels", "zeros", "ones", "xavier", "he", "normal", "uniform", "axis", "keepdims", "units",
  "activation", "padding", "stride", "same", "valid", "true", "false", "accuracy", "iris", "mnist", "lr", "clip",
];

const PUNCT = ["(", ")", "[", "]", "{", "}", ",", "=", "|>", "@", "+", "-", "*", "/", ":", ".", "#", "\"", "\n"];

/** One mutated program and the recipe that made it. */
export interface Mutant {
  text: string;
  steps: string[];
}

/** Applies one to three mutations to `text`. */
export function mutate(text: string, rng: Rng): Mutant {
  const count = 1 + rng.weighted([6, 3, 1]);
  const steps: string[] = [];
  let cur = text;
  for (let i = 0; i < count; i++) {
    const { text: next, step } = mutateOnce(cur, rng);
    cur = next;
    steps.push(step);
  }
  return { text: cur, steps };
}

const OPS = ["number", "name", "delete", "duplicate", "swap", "insert", "line-delete", "line-duplicate", "line-swap"] as const;
const OP_WEIGHTS = [8, 3, 2, 1, 1, 1, 1, 2, 1];

function mutateOnce(text: string, rng: Rng): { text: string; step: string } {
  const op = OPS[rng.weighted(OP_WEIGHTS)]!;
  if (op.startsWith("line-")) return mutateLines(text, op, rng);
  const tokens = tokenize(text);
  const meaningful = tokens.map((t, i) => [t, i] as const).filter(([t]) => t.kind !== "space" && t.kind !== "comment");
  const numbers = meaningful.filter(([t]) => t.kind === "number");
  const names = meaningful.filter(([t]) => t.kind === "name");
  const at = (list: readonly (readonly [Token, number])[]) => (list.length ? rng.pick(list) : undefined);
  const where = (i: number) => `token ${i} (line ${lineOf(tokens, i)})`;
  switch (op) {
    case "number": {
      const hit = at(numbers) ?? at(meaningful);
      if (!hit) break;
      const [t, i] = hit;
      const value = numberFor(t.text, rng);
      tokens[i] = { text: value, kind: "number" };
      return { text: join(tokens), step: `number ${where(i)}: ${t.text} -> ${value}` };
    }
    case "name": {
      const hit = at(names);
      if (!hit) break;
      const [t, i] = hit;
      const pool = rng.next() < 0.5 ? names.map(([n]) => n.text) : NAMES;
      const value = rng.pick(pool);
      tokens[i] = { text: value, kind: "name" };
      return { text: join(tokens), step: `name ${where(i)}: ${t.text} -> ${value}` };
    }
    case "delete": {
      const hit = at(meaningful);
      if (!hit) break;
      tokens.splice(hit[1], 1);
      return { text: join(tokens), step: `delete ${where(hit[1])}: ${hit[0].text}` };
    }
    case "duplicate": {
      const hit = at(meaningful);
      if (!hit) break;
      tokens.splice(hit[1], 0, hit[0], { text: " ", kind: "space" });
      return { text: join(tokens), step: `duplicate ${where(hit[1])}: ${hit[0].text}` };
    }
    case "swap": {
      if (meaningful.length < 2) break;
      const k = rng.int(meaningful.length - 1);
      const [a, i] = meaningful[k]!;
      const [b, j] = meaningful[k + 1]!;
      tokens[i] = b;
      tokens[j] = a;
      return { text: join(tokens), step: `swap ${where(i)}: ${a.text} <-> ${b.text}` };
    }
    case "insert": {
      const i = rng.int(tokens.length + 1);
      const value = rng.next() < 0.5 ? rng.pick(PUNCT) : rng.pick(NAMES);
      tokens.splice(i, 0, { text: ` ${value} `, kind: "punct" });
      return { text: join(tokens), step: `insert at ${where(Math.min(i, tokens.length - 1))}: ${JSON.stringify(value)}` };
    }
  }
  return { text, step: `${op}: nothing to do` };
}

/** A replacement for a numeric literal: an edge value, or a neighbour or multiple of the old one. */
function numberFor(old: string, rng: Rng): string {
  const x = Number(old);
  if (!Number.isFinite(x) || rng.next() < 0.6) return rng.pick(EDGE_NUMBERS);
  const variants = [x + 1, x - 1, -x, x * 2, x * 10, x * 1000, x / 2, x / 3, Math.floor(x / 2), x * x, x * 1e6];
  return String(rng.pick(variants));
}

function mutateLines(text: string, op: string, rng: Rng): { text: string; step: string } {
  const lines = text.split("\n");
  const i = rng.int(lines.length);
  const line = lines[i]!;
  const quote = (s: string) => JSON.stringify(s.trim().slice(0, 60));
  if (op === "line-delete") {
    lines.splice(i, 1);
    return { text: lines.join("\n"), step: `line-delete ${i + 1}: ${quote(line)}` };
  }
  if (op === "line-duplicate") {
    const times = rng.next() < 0.8 ? 1 : 1 + rng.int(40);
    lines.splice(i, 0, ...Array<string>(times).fill(line));
    return { text: lines.join("\n"), step: `line-duplicate ${i + 1} x${times}: ${quote(line)}` };
  }
  const j = rng.int(lines.length);
  lines[i] = lines[j]!;
  lines[j] = line;
  return { text: lines.join("\n"), step: `line-swap ${i + 1} <-> ${j + 1}` };
}

function join(tokens: readonly Token[]): string {
  return tokens.map((t) => t.text).join("");
}

function lineOf(tokens: readonly Token[], index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < tokens.length; i++) for (const c of tokens[i]!.text) if (c === "\n") line++;
  return line;
}
