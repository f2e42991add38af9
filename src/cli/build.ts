import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { moduleDts, moduleJs } from "../codegen/module.js";
import { planOf } from "../codegen/plan.js";
import { describeStepMemory, stepMemory } from "../ir/arena.js";
import { dimsFor } from "../runtime/backend.js";
import { checkpointValues } from "../runtime/restore.js";
import { encodeSafetensors } from "../runtime/safetensors.js";
import type { InputTransform } from "../runtime/transform.js";
import { asUserErrors, loadCheckpoint, metaJson } from "./backend.js";
import { compileFile, parseArgs, UsageError } from "./io.js";

const USAGE =
  "usage: netc build FILE --checkpoint CKPT --out DIR [--batch N,N,...] [--runtime SPECIFIER]\n" +
  "  writes DIR/NAME.js (an ES module: load() -> predict, backend, dispose), DIR/NAME.d.ts and\n" +
  "  DIR/NAME.safetensors (the weights alone); NAME is the network's name.\n" +
  "  --batch: the batch sizes whose kernels the module carries (default 1 and 32; other row\n" +
  "  counts are cut into these); --runtime: where the module imports netc's runtime from\n" +
  "  (default netc/runtime)";

/** The batch sizes a built model carries unless `--batch` says otherwise (see the README's measurements). */
export const DEFAULT_BUILD_BATCHES = [1, 32];

/**
 * `netc build FILE --checkpoint CKPT --out DIR`: the network compiled for inference (outputs only:
 * no loss, metrics, labels or optimizer; dropout off, batchnorm on its running statistics) with the
 * checkpoint's trained weights, as a module an app imports with netc's runtime alone:
 *   1. compile in `infer` mode and plan it for each batch size (WGSL specialised per size);
 *   2. check the checkpoint against the plan's params (optimizer state is left behind);
 *   3. write the weights, the module (the Plan, the input transform and the class names the
 *      checkpoint carries) and its typings.
 */
export async function buildCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { checkpoint: "string", out: "string", batch: "string", runtime: "string" });
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  const outDir = options["out"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined || outDir === undefined) throw new UsageError(USAGE);
  const batches = batchList(options["batch"] as string | undefined);
  checkOutDir(outDir);

  const c = compileFile(file, { mode: "infer" });
  const graph = c.graph!;
  const plan = planOf(graph);
  await asUserErrors(async () => batches.forEach((b) => dimsFor(plan, b)));
  const ckpt = loadCheckpoint(ckptPath);
  const values = await asUserErrors(async () => checkpointValues(ckpt, plan, ckptPath, false));
  const t0 = performance.now();
  for (const b of batches) plan.specialise!(dimsFor(plan, b));
  const codegenMs = performance.now() - t0;

  const transform = metaJson<InputTransform>(ckpt, "transform") ?? { kind: "none" };
  const prediction = c.prediction;
  const names = metaJson<string[]>(ckpt, "class_names");
  const classes = prediction && {
    output: prediction.output,
    names: Array.isArray(names) && names.length >= Math.max(2, prediction.width) ? names.slice(0, Math.max(2, prediction.width)) : Array.from({ length: Math.max(2, prediction.width) }, (_, i) => String(i)),
  };

  const name = graph.name;
  const tensors = Object.fromEntries(plan.params.map((p) => [p.name, { shape: p.shape as number[], values: values[p.name]! }]));
  const weights = encodeSafetensors(tensors, { format: "netc-weights-1", network: name });
  const spec = {
    plan,
    transform,
    ...(classes ? { classes } : {}),
    weights: `${name}.safetensors`,
    runtime: options["runtime"] as string | undefined,
    origin: `built from ${basename(file)} with the weights of ${basename(ckptPath)} (epoch ${ckpt.meta.epoch})`,
  };
  const js = moduleJs(spec);
  const dts = await moduleDts(spec);
  const write = (path: string, data: string | Uint8Array) => {
    try {
      writeFileSync(path, data);
    } catch (e) {
      throw new UsageError(`cannot write ${path}: ${(e as Error).message}`);
    }
  };
  write(join(outDir, `${name}.safetensors`), weights);
  write(join(outDir, `${name}.js`), js);
  write(join(outDir, `${name}.d.ts`), dts);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const out = (line: string) => process.stdout.write(line + "\n");
  out(`netc: built ${name} from ${file} into ${outDir}: ${name}.js (${kb(js.length)}), ${name}.d.ts, ${name}.safetensors (${kb(weights.length)})`);
  out(
    `netc: ${plan.variants[0]?.kernels.length ?? 0} kernels per batch, batch sizes ${batches.join(", ")} (${plan.shaders.length} distinct shaders, codegen ${codegenMs.toFixed(1)} ms); ` +
      `inputs ${plan.inputs.map((t) => `${t.name}: ${t.dtype}[${t.shape.join(", ")}]`).join(", ")}; outputs ${plan.outputs.map((t) => t.name).join(", ")}` +
      (classes ? `; classes ${classes.names.join(", ")}` : ""),
  );
  for (const v of plan.variants) out(`netc: memory at batch ${v.dims[plan.batchDims[0] ?? ""] ?? 1}: ${describeStepMemory(stepMemory(plan, v))} on WebGPU`);
  return 0;
}

/** `--batch 1,32` as sorted distinct sizes. */
function batchList(text: string | undefined): number[] {
  if (text === undefined) return DEFAULT_BUILD_BATCHES;
  const sizes = text.split(",").map((s) => Number(s.trim()));
  if (sizes.length === 0 || !sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 65536))
    throw new UsageError(`--batch must be a comma-separated list of batch sizes from 1 to 65536, got ${text}`);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** The output folder: made when missing; refused when it is a file or cannot be made. */
function checkOutDir(dir: string): void {
  try {
    if (statSync(dir, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`--out ${dir} is a file, not a folder`);
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot make the folder ${dir}: ${(e as Error).message}`);
  }
}
