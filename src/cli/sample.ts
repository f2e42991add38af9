import { RunnerPool } from "../runtime/backend.js";
import { uniform01, streamOf } from "../runtime/random.js";
import { loadInference, metaJson, openBackend } from "./backend.js";
import { intOption, parseArgs, UsageError } from "./io.js";

const USAGE =
  "usage: netc sample FILE --checkpoint CKPT [--prompt TEXT] [--length N] [--temperature T] [--seed N] [--backend auto|webgpu|cpu]";

const DEFAULTS = { prompt: "The ", length: 300, temperature: 0.8, seed: 1 };

/**
 * `netc sample FILE --checkpoint CKPT`: generates text with a character-level model trained on a
 * text dataset. The model reads windows of its input length; the prompt starts at position 0 and,
 * once the text is longer than a window, the window slides over its last characters, as in
 * training. Each next character is drawn from the output at the window's last position, sharpened
 * by the temperature (probabilities raised to 1/T), with the seeded counter-based generator.
 */
export async function sampleCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { checkpoint: "string", prompt: "string", length: "string", temperature: "string", seed: "string", backend: "string" });
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined) throw new UsageError(USAGE);
  const length = intOption(options, "length") ?? DEFAULTS.length;
  const seed = intOption(options, "seed") ?? DEFAULTS.seed;
  const temperature = options["temperature"] === undefined ? DEFAULTS.temperature : Number(options["temperature"]);
  if (!Number.isFinite(temperature) || temperature <= 0) throw new UsageError(`--temperature must be a positive number, got ${String(options["temperature"])}`);
  const prompt = (options["prompt"] as string | undefined) ?? DEFAULTS.prompt;
  if (prompt.length === 0) throw new UsageError("--prompt must have at least one character");

  const { graph: g, plan, ckpt, values } = loadInference(file, ckptPath);
  const vocab = metaJson<string[]>(ckpt, "class_names");
  if (!Array.isArray(vocab) || !vocab.every((ch) => typeof ch === "string" && [...ch].length === 1))
    throw new UsageError(`${ckptPath} holds no character vocabulary: netc sample needs a checkpoint of a character-level model trained on a text dataset`);

  const inputs = g.args.filter((a) => a.arg!.role === "input");
  const input = inputs[0];
  const steps = input?.type.shape[1];
  if (inputs.length !== 1 || input!.type.dtype !== "i32" || input!.type.shape.length !== 2 || typeof steps !== "number")
    throw new UsageError(`netc sample needs one input of character ids i32[B, steps]; ${g.name} has ${inputs.map((a) => `${a.arg!.name}: ${a.type.dtype}[${a.type.shape.join(", ")}]`).join(", ") || "none"}`);
  const output = g.outputs.find((o) => {
    const s = o.value.type.shape;
    return !o.name.startsWith("metric.") && s.length === 3 && s[1] === steps && typeof s[2] === "number" && s[2] >= vocab.length;
  });
  if (!output) throw new UsageError(`${g.name} has no output [B, ${steps}, classes] with at least ${vocab.length} classes to sample from`);
  const width = output.value.type.shape[2] as number;

  const index = new Map(vocab.map((ch, i) => [ch, i]));
  const unknown = [...new Set([...prompt].filter((ch) => !index.has(ch)))];
  if (unknown.length) throw new UsageError(`--prompt has characters the model never saw: ${unknown.map((ch) => JSON.stringify(ch)).join(", ")}`);
  const ids = [...prompt].map((ch) => index.get(ch)!);

  const opened = await openBackend(options["backend"] as string | undefined, "sampling");
  const pool = new RunnerPool(opened.backend, plan, values);
  const stream = streamOf("netc.sample");
  let text = prompt;
  try {
    const runner = await pool.get(1);
    for (let n = 0; n < length; n++) {
      const tail = ids.slice(-steps);
      // NOTE: a new array each step: runners skip re-uploading an input array they have seen.
      const window = new Float32Array(steps);
      tail.forEach((id, i) => (window[i] = id));
      const got = await runner.run({ [input!.arg!.name]: window }, [output.name]);
      const at = (tail.length - 1) * width;
      const next = draw(got[output.name]!.subarray(at, at + vocab.length), temperature, uniform01(seed, stream, n));
      ids.push(next);
      text += vocab[next]!;
    }
  } finally {
    pool.dispose();
    opened.close();
  }
  process.stdout.write(text + "\n");
  return 0;
}

/**
 * A class drawn from one position's outputs: probabilities when they are (softmax outputs),
 * otherwise logits; raised to 1/temperature and renormalised; `u` in (0, 1) picks the class.
 */
export function draw(outputs: Float32Array, temperature: number, u: number): number {
  let sum = 0;
  let probs = true;
  for (const v of outputs) {
    sum += v;
    if (!(v >= 0 && v <= 1)) probs = false;
  }
  // NOTE: the vocabulary may be narrower than the output (spare classes), so the sum is <= 1.
  probs &&= sum <= 1 + 1e-3;
  const logs = Array.from(outputs, (v) => (probs ? Math.log(Math.max(v, 1e-30)) : v) / temperature);
  const top = Math.max(...logs);
  const weights = logs.map((l) => Math.exp(l - top));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]! / total;
    if (u < acc) return i;
  }
  return weights.length - 1;
}
