import { suggest } from "../base/diagnostics.js";
import { MissingPackageError } from "../optional-packages.js";
import { checkCommand } from "./check.js";
import { UsageError } from "./io.js";
import { irCommand } from "./ir.js";
import { trainCommand } from "./train.js";

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  bench: (argv) => import("./bench.js").then((m) => m.benchCommand(argv)),
  build: (argv) => import("./build.js").then((m) => m.buildCommand(argv)),
  check: checkCommand,
  conformance: (argv) => import("./conformance.js").then((m) => m.conformanceCommand(argv)),
  eval: (argv) => import("./eval.js").then((m) => m.evalCommand(argv)),
  export: (argv) => import("./export.js").then((m) => m.exportCommand(argv)),
  import: (argv) => import("./import.js").then((m) => m.importCommand(argv)),
  ir: irCommand,
  run: (argv) => import("./run.js").then((m) => m.runCommand(argv)),
  sample: (argv) => import("./sample.js").then((m) => m.sampleCommand(argv)),
  train: trainCommand,
};

const USAGE = `usage: netc COMMAND FILE [options]

commands:
  check FILE [--target webgpu]    parse and type-check a .net file; --target webgpu also checks a
                                  step against WebGPU's default limits (buffer sizes, bindings)
  ir FILE [--after PASS]          print the IR after a pass (lower, infer-shapes, autodiff,
          [--debug-info]          optimizer, simplify, fuse); --debug-info adds source locations;
          [--format F]            F: text (default), dot (Graphviz) or svg (the graph laid out,
          [--output FILE]         kernels as boxes); --output writes FILE instead of stdout
  train FILE [--backend B]        train the network (B: auto, webgpu or cpu; auto falls back to
        [--epochs N] [--batch N]  the CPU with a warning when there is no WebGPU adapter);
        [--seed N] [--limit N]    --limit: the first N training rows (characters of a text);
        [--checkpoint CKPT]       --checkpoint: write one at every epoch end; --resume: continue
        [--resume CKPT]           from one (ends with the weights of an uninterrupted run);
        [--plot FILE.svg]         --plot: loss and accuracy curves as SVG; --quiet: no progress;
        [--quiet] [--log-every N] --log-every N: record and validate every N epochs;
        [--read-every N]          --read-every N: read the epoch's figures every N steps (1 on
                                  the CPU, 10 on WebGPU, and at every epoch's end; they cover
                                  every step, and a NaN is flagged on the device every step)
        [--init W [--from torch|keras] [--partial]] start from weights W (netc's, or PyTorch/
                                  Keras-named safetensors) with a fresh optimizer
        [--on-nan stop|skip|ignore] a NaN or infinite loss stops training (default; names the
                                  op and line it came from, no checkpoint after it), skips the
                                  batch, or is ignored; a WebGPU device error always stops it
        [--profile]               time each kernel of the first 50 full-batch steps: ms per step
                                  by kernel and source line, and the JavaScript time per step
        [--tune]                  time matmul tilings for this adapter now (stored in netc's cache
                                  folder; later runs and netc bench use the stored choices)
  eval FILE --checkpoint CKPT     loss, accuracy, per-class precision/recall/F1 and the confusion
       [--split S] [--backend B]  matrix in inference mode; S: test (default), train, validation
       [--batch N] [--json]
  run FILE --checkpoint CKPT      inference on the rows of IN (.npy, .json, .idx[.gz]) or on
      --input IN [--output OUT]   images (.png, .pgm, .ppm; a comma list, resized to the input;
      [--backend B] [--batch N]   --invert for dark-on-light drawings): prints each row's class
      [--invert]                  and outputs, or writes them to OUT (JSON);
      [--read NAME,...]           --read: lets (h1, block.h) and gradients of the loss
      [--target T]                (grad.PARAM, grad.INPUT: against the label rows of T, all
                                  rows in one batch) besides the outputs
  build FILE --checkpoint CKPT    a trained model as a standalone ES module for apps: DIR/NAME.js
        --out DIR [--batch N,N]   (load() -> predict, backend, dispose; imports only netc/runtime),
        [--runtime SPECIFIER]     NAME.d.ts (typed inputs, outputs, class names) and
                                  NAME.safetensors (the weights); --batch: sizes carried (1,32)
  export FILE --checkpoint CKPT   write the inference graph with the checkpoint's weights as an
         --onnx OUT.onnx          ONNX model (opset 17, symbolic batch) to serve with ONNX Runtime;
         [--include-transform]    --include-transform: the training input transform built in
  import MODEL.onnx [--out DIR]   an ONNX model as DIR/MODEL.net (layers where a pattern maps to
         [--name NETWORK]         one, primitives otherwise) and DIR/MODEL.safetensors (weights for
                                  run/eval/export --checkpoint and train --init)
  bench [--workload a,b] [--n N]  time netc on the peers' workloads (matmul-N, mlp-step, cnn-infer),
        [--backend webgpu|cpu]    one training step of each example (train-EXAMPLE) and the compiler
        [--cold] [--json]         on large programs (dense-50-wgsl, dense-N, pipe-N, sum-N,
                                  data-Nmb; groups peers, train, compile; all by default): one JSON
                                  line per result in the peers' format, then a table (--json: lines
                                  only); --n: timed calls (processes for --cold and compile
                                  workloads); --cold: fresh processes with an empty shader cache,
                                  timed from process start to the first result; --profile:
                                  each runtime workload's time by kernel and source line;
                                  matmul tilings are timed per adapter unless --no-tune
  sample FILE --checkpoint CKPT   generate text with a character-level model: --length N characters
         [--prompt TEXT]          after the prompt, drawn at --temperature T (default 0.8) with
         [--length N] [--seed N]  --seed N
         [--temperature T] [--backend B]
`;

/** The usage lines of one command, cut from the overall usage. */
function commandUsage(name: string): string {
  const lines = USAGE.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`  ${name} `) || l === `  ${name}`);
  if (start < 0) return USAGE;
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith("   ") && !/^  [a-z]/.test(lines[end]!)) end++;
  return `usage: netc ${name} ...\n${lines.slice(start, end).join("\n")}\n`;
}

/** netc's version, from its package.json. */
async function version(): Promise<string> {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Runs the CLI; returns the exit code. User errors print one line; compiler bugs say so. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`netc ${await version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`netc: unknown command \`${name}\`${suggest(name, Object.keys(COMMANDS))}\n${USAGE}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(commandUsage(name));
    return 0;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof MissingPackageError) {
      process.stderr.write(`netc: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(
      `netc: internal compiler error: ${err.message}\n` +
        `This is a bug in netc, not in your input. Please report it with the .net file and this trace:\n${err.stack ?? ""}\n`,
    );
    return 70;
  }
}
