/**
 * Large generated `.net` programs for compile-time benchmarks (`netc bench`'s compile workloads
 * and `bench/compile.mjs`): each is a valid program with a training section, so every pass runs.
 */

const TRAIN = (data: string): string => `
train {
  loss = mse(y, target)
  optimizer = adam(lr = 0.01)
  epochs = 1
  batch = 4
  seed = 1
${data}
}
`;

const SMALL_DATA = `  data {
    x = [${Array.from({ length: 4 }, (_, r) => `[${Array.from({ length: 16 }, (_, c) => ((r * 16 + c) % 7) / 7).join(", ")}]`).join(", ")}]
    target = [${Array.from({ length: 4 }, (_, r) => `[${[0, 1, 2, 3].map((c) => (r === c ? 1 : 0)).join(", ")}]`).join(", ")}]
  }`;

/** N dense layers as separate lets; the comment pads each line to about 163 bytes per layer (issue 13's 4.9 MB for 30,000). */
export function denseLets(n: number): string {
  const lines = ["network deep {", "  input x: f32[B, 16]"];
  let prev = "x";
  for (let i = 1; i <= n; i++) {
    const name = `hidden${i}`;
    lines.push(`  ${name} = ${prev} |> layer${i}: dense(16, activation = relu, use_bias = true)   # layer ${i} of ${n}: 16 units, relu, Xavier weights, zero bias`);
    prev = name;
  }
  lines.push(`  output y = ${prev} |> head: dense(4)`, "}");
  return lines.join("\n") + "\n" + TRAIN(SMALL_DATA);
}

/** One `|>` chain of N dense layers, a layer per line. */
export function pipeChain(n: number): string {
  const layers = Array.from({ length: n }, () => "    |> dense(16, activation = relu)").join("\n");
  return `network chain {\n  input x: f32[B, 16]\n  output y = x\n${layers}\n    |> dense(4)\n}\n` + TRAIN(SMALL_DATA);
}

/** An N-term sum `x + x + ...`, 20 terms a line. */
export function longSum(n: number): string {
  const rows: string[] = [];
  for (let i = 0; i < n; i += 20) rows.push(Array.from({ length: Math.min(20, n - i) }, () => "x").join(" + "));
  return (
    `network sum {\n  input x: f32[B, 4]\n  param w: f32[4] = ones\n  output y = w * (\n    ${rows.join("\n    + ")}\n  )\n}\n` +
    TRAIN(`  data {\n    x = [[1, 2, 3, 4], [0, 1, 0, 1], [2, 2, 2, 2], [1, 0, 0, 0]]\n    target = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0]]\n  }`)
  );
}

/** A 16-8-4 network trained on a literal data block of about `bytes` bytes. */
export function bigData(bytes: number): string {
  const rowsX: string[] = [];
  const rowsT: string[] = [];
  let size = 0;
  for (let r = 0; size < bytes; r++) {
    const x = `[${Array.from({ length: 16 }, (_, c) => (((r * 31 + c * 17) % 1000) / 1000).toFixed(3)).join(", ")}]`;
    const t = `[${[0, 1, 2, 3].map((c) => (r % 4 === c ? 1 : 0)).join(", ")}]`;
    rowsX.push(x);
    rowsT.push(t);
    size += x.length + t.length + 14;
  }
  const data = `  data {\n    x = [\n      ${rowsX.join(",\n      ")}\n    ]\n    target = [\n      ${rowsT.join(",\n      ")}\n    ]\n  }`;
  return `network tabular {\n  input x: f32[B, 16]\n  output y = x |> dense(8, activation = relu) |> dense(4)\n}\n` + TRAIN(data);
}

/**
 * The program a compile workload name stands for (`dense-N`, `pipe-N`, `sum-N`, `data-Nmb`), or
 * undefined for any other name.
 */
export function programFor(workload: string): string | undefined {
  const m = /^(dense|pipe|sum)-([1-9]\d*)$/.exec(workload);
  if (m) {
    const n = Number(m[2]);
    return m[1] === "dense" ? denseLets(n) : m[1] === "pipe" ? pipeChain(n) : longSum(n);
  }
  const d = /^data-([1-9]\d*)mb$/.exec(workload);
  return d ? bigData(Number(d[1]) * 1000 * 1000) : undefined;
}
