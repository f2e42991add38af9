import { writeFileSync } from "node:fs";
import { planOf } from "../codegen/plan.js";
import { compile } from "../compile.js";
import { describeStepMemory, stepMemory } from "../ir/arena.js";
import type { Graph } from "../ir/graph.js";
import type { Plan } from "../ir/plan.js";
import { unfusedKernelCount } from "../ir/passes/fuse.js";
import type { Checkpoint } from "../runtime/checkpoint.js";
import { checkpointValues } from "../runtime/restore.js";
import { prepareData, type InputTransform } from "../runtime/data-source.js";
import { batchSizes, Trainer, type TrainResult } from "../runtime/trainer.js";
import { WebGpuRunner } from "../runtime/webgpu.js";
import { asUserErrors, loadCheckpoint, matmulCodegen, metaJson, openBackend } from "./backend.js";
import { initWeights } from "./init-weights.js";
import { checkOutputPath, compileFile, intOption, parseArgs, readSource, UsageError } from "./io.js";
import { trainingCurvesSvg } from "./plot.js";
import { formatProfile, type StepProfiler } from "../runtime/profiler.js";
import { fmtLoss, fmtPercent, fmtRate, Progress, summaryTable } from "./progress.js";

const fmt = (ms: number) => ms.toFixed(1);

/** Full-batch steps `--profile` times (profiled steps wait for the device, so not all of a long run). */
const PROFILE_STEPS = 50;

const USAGE =
  "usage: netc train FILE [--backend auto|webgpu|cpu] [--epochs N] [--batch N] [--seed N] [--limit N]\n" +
  "                  [--checkpoint PATH] [--resume PATH] [--plot FILE.svg] [--quiet] [--log-every N] [--read-every N]\n" +
  "                  [--on-nan stop|skip|ignore] [--init WEIGHTS [--from torch|keras] [--partial]] [--profile] [--tune]";

const FLAGS = {
  backend: "string",
  seed: "string",
  epochs: "string",
  batch: "string",
  limit: "string",
  checkpoint: "string",
  resume: "string",
  plot: "string",
  quiet: "boolean",
  "log-every": "string",
  "read-every": "string",
  "on-nan": "string",
  init: "string",
  from: "string",
  partial: "boolean",
  profile: "boolean",
  tune: "boolean",
} as const;

/**
 * `netc train FILE [options]`: trains the network on its training section's data and reports
 * (first line) the time to get ready, then progress, a summary table and the final loss.
 *   --epochs N, --batch N, --seed N   override the training section
 *   --limit N                         use only the first N training rows (characters of a text)
 *   --checkpoint PATH                 write a checkpoint at the end of every epoch
 *   --resume PATH                     continue from a checkpoint (its seed, limit and validation split; its batch size unless --batch)
 *   --plot FILE.svg                   write the loss and accuracy curves
 *   --quiet                           no progress, no table: the first line and the result only
 *   --log-every N                     record (validate, print) every N epochs (default: the section's log_every)
 *   --read-every N                    read the epoch's running figures back every N steps (default: 1 on the CPU, 10 on WebGPU)
 *   --init WEIGHTS                    start from these weights (a netc checkpoint or `netc import`'s weights;
 *                                     with --from torch|keras, PyTorch- or Keras-named safetensors) with a
 *                                     fresh optimizer; --partial leaves the params the file lacks to their initialisers
 *   --profile                         time each kernel of the first PROFILE_STEPS full-batch steps and print
 *                                     where a step's time goes, by kernel and source line, and the JavaScript time
 *   --tune                            time matmul tilings for this adapter now (a few seconds per shape class, once per
 *                                     machine; stored in the netc cache folder). Without it, choices stored by an
 *                                     earlier --tune or `netc bench` are used, and built-in ones for the rest
 *   --on-nan stop|skip|ignore         a NaN or infinite loss: stop (default; names the op and line it came
 *                                     from, writes no checkpoint after it), skip the batch, or train on
 */
export async function trainCommand(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const { positional, options } = parseArgs(argv, FLAGS);
  const file = positional[0];
  if (!file || positional.length > 1) throw new UsageError(USAGE);
  const quiet = options["quiet"] === true;
  const out = (line: string) => process.stdout.write(line + "\n");

  for (const flag of ["checkpoint", "plot"] as const) {
    const path = options[flag];
    if (typeof path === "string") checkOutputPath(path, `--${flag}`);
  }
  const c = compileFile(file);
  const g = c.graph!;
  const spec0 = c.train;
  if (!spec0 || !g.loss) throw new UsageError(`${file} has no train section: nothing to train`);

  const resumePath = options["resume"] as string | undefined;
  const resume = resumePath !== undefined ? loadCheckpoint(resumePath) : undefined;
  // NOTE: a checkpoint of another network (or optimizer) is refused before any data is loaded.
  const plan0 = planOf(g);
  if (resume) await asUserErrors(async () => checkpointValues(resume, plan0, resumePath!, true));
  const initPath = options["init"] as string | undefined;
  if (initPath !== undefined && resume) throw new UsageError("--init starts a fresh run from weights and --resume continues one: give one of them");
  if (initPath === undefined && (options["from"] !== undefined || options["partial"] === true)) throw new UsageError("--from and --partial go with --init WEIGHTS");
  const init = initPath !== undefined ? initWeights(g, initPath, options["from"] as string | undefined, options["partial"] === true) : undefined;
  const seedFlag = intOption(options, "seed");
  if (resume && seedFlag !== undefined && seedFlag !== resume.meta.seed)
    throw new UsageError(`--seed ${seedFlag} differs from the seed ${resume.meta.seed} of ${resumePath}: a resumed run keeps its seed`);
  const seed = resume?.meta.seed ?? seedFlag ?? spec0.seed;
  const resumedBatch = resume ? Number(resume.meta.extra?.["batch"]) : NaN;
  const batch = positive(options, "batch") ?? (Number.isInteger(resumedBatch) && resumedBatch > 0 ? resumedBatch : spec0.batch);
  const epochs = positive(options, "epochs") ?? spec0.epochs;
  // NOTE: a resumed run trains on the rows the checkpoint's run used: its limit unless --limit
  // repeats it (another limit would change the rows, the shuffles and the validation split).
  const limitFlag = positive(options, "limit");
  const resumedLimit = resume ? numberMeta(resume, "limit") : undefined;
  if (resume && limitFlag !== undefined && limitFlag !== resumedLimit)
    throw new UsageError(`--limit ${limitFlag} differs from ${resumedLimit === undefined ? "the full data" : `the limit ${resumedLimit}`} of ${resumePath}: a resumed run keeps its rows`);
  const limit = limitFlag ?? resumedLimit;
  const validation = resume ? numberMeta(resume, "validation") ?? spec0.validation : spec0.validation;
  const spec = { ...spec0, seed, batch, epochs, validation };
  const logEvery = Math.max(1, intOption(options, "log-every") ?? spec.logEvery);
  const onNan = (options["on-nan"] as string | undefined) ?? "stop";
  if (onNan !== "stop" && onNan !== "skip" && onNan !== "ignore") throw new UsageError(`--on-nan must be stop, skip or ignore, got ${onNan}`);

  // Data, and the inference graph for validation.
  const tData = performance.now();
  const data = await asUserErrors(() =>
    prepareData(spec, g, { seed, limit, transform: resume ? metaJson<InputTransform>(resume, "transform") : undefined }),
  );
  const dataMs = performance.now() - tData;
  let infer: Plan | undefined;
  let inferMs = 0;
  if (data.validation) {
    const ti = performance.now();
    infer = planOf(compileInfer(file));
    inferMs = performance.now() - ti;
  }

  const opened = await openBackend(options["backend"] as string | undefined, "training");
  let trainer: Trainer | undefined;
  try {
    const readEvery = intOption(options, "read-every") ?? (opened.backend.kind === "cpu" ? 1 : 10);
    const matmuls = await matmulCodegen(opened.gpu, g, plan0, batch, options["tune"] === true);
    trainer = await asUserErrors(() =>
      Trainer.create({
        backend: opened.backend,
        plan: planOf(g, { train: spec, ...matmuls }),
        spec,
        data,
        infer,
        readEvery,
        logEvery,
        onNan,
        resume: resume && { checkpoint: resume, path: resumePath! },
        init,
        checkpointPath: options["checkpoint"] as string | undefined,
        extra: {
          source: file,
          limit: limit === undefined ? "" : String(limit),
          ...(data.task?.classNames ? { class_names: JSON.stringify(data.task.classNames) } : {}),
        },
      }),
    );
    const runner = await trainer.pool.owner();
    let profiler: StepProfiler | undefined;
    if (options["profile"] === true) {
      if (!runner.startProfile) throw new UsageError("--profile times GPU kernels: it needs the webgpu backend (--backend webgpu)");
      profiler = runner.startProfile(PROFILE_STEPS);
    }
    const passes = Object.values(c.times.passes).reduce((a, b) => a + b, 0) + inferMs;
    const times = opened.backend.times;
    const prepare = opened.gpu
      ? `, device ${fmt(opened.deviceMs)}, codegen ${fmt(times.codegen)}, pipelines ${fmt(times.pipelines)} for ${runner.kernelsPerStep} kernels, each compiled and dispatched once` +
        (times.ahead ? ` (${times.ahead.shaders} shaders compiled on ${times.ahead.devices} devices in parallel)` : "")
      : "";
    const tReady = performance.now();
    out(`netc: ready to train in ${fmt(tReady - t0)} ms (parse ${fmt(c.times.parse)}, lower ${fmt(c.times.lower)}, passes ${fmt(passes)}, data ${fmt(dataMs)}${prepare})`);
    const sizes = batchSizes(data.train.rows, batch);
    const steps = trainer.stepsPerEpoch;
    const lastRows = sizes.length > 1 && !trainer.dropLast ? sizes[1]! : undefined;
    out(
      `netc: ${runner.name}: ${runner.kernelsPerStep} kernels per step (${unfusedKernelCount(g)} unfused), ` +
        `batch ${Math.min(batch, data.train.rows)}, ${steps} step${steps === 1 ? "" : "s"} per epoch${lastRows ? ` (the last of ${lastRows} rows)` : ""}`,
    );
    // NOTE: the figure is the plan's WebGPU buffers; the CPU reference interprets the graph instead.
    if (runner instanceof WebGpuRunner) out(`netc: memory per step on the device: ${describeStepMemory(stepMemory(trainer.pool.plan, runner.variant))}`);
    if (!quiet) {
      out(`netc: data: ${data.source}: ${data.train.rows} training rows${data.validation ? `, ${data.validation.rows} validation rows` : ""}`);
      const reads = readEvery === 1 ? "after every step" : readEvery > 0 && readEvery < steps ? `every ${readEvery} steps and at the end of each epoch` : "at the end of each epoch";
      out(`netc: training loss${g.outputs.some((o) => o.name === "metric.accuracy") ? " and accuracy" : ""} summed over every step on the device, read back ${reads} (--read-every; a non-finite loss or weight is flagged every step); recorded every ${logEvery} epoch${logEvery === 1 ? "" : "s"} (--log-every)`);
      if (data.text) out(`netc: text: ${data.text.vocab.length} distinct characters, unigram entropy ${data.text.unigramEntropy.toFixed(4)} nats/char`);
      for (const note of trainer.notes) out(`netc: note: ${note}`);
      if (resume) out(`netc: resuming from ${resumePath} after epoch ${resume.meta.epoch} (step ${resume.meta.step})`);
      if (init) out(`netc: starting from ${Object.keys(init).length} tensors of ${initPath}${options["from"] ? ` (${options["from"]} names)` : ""}`);
    }
    if (trainer.startEpoch > epochs) out(`netc: ${resumePath} has already trained ${resume!.meta.epoch} epochs (of ${epochs}); nothing to do`);

    const tty = process.stdout.isTTY === true;
    const progress = new Progress({ tty, quiet, stepLines: steps >= 100 ? Math.ceil(steps / 10) : 0 });
    const t = trainer;
    const result: TrainResult = await asUserErrors(() => t.run({ onStep: (p) => progress.step(p), onEpoch: (r) => progress.epoch(r, epochs) }));
    progress.clearBar();
    if (trainer.skippedSteps) out(`netc: ${trainer.skippedSteps} step${trainer.skippedSteps === 1 ? "" : "s"} had a NaN or infinite loss and ${trainer.skippedSteps === 1 ? "was" : "were"} skipped (--on-nan skip)`);
    report(result, { out, quiet, epochs, runnerName: runner.name, text: data.text?.unigramEntropy });
    if (profiler) {
      if (profiler.steps === 0) out("netc: profile: no full-batch step ran, nothing to show");
      else for (const line of formatProfile(profiler.report())) out(`netc: ${line}`);
    }
    const plot = options["plot"] as string | undefined;
    if (plot !== undefined) {
      try {
        writeFileSync(plot, trainingCurvesSvg(result.history, `${g.name}: ${file}`));
      } catch (e) {
        throw new UsageError(`cannot write ${plot}: ${(e as Error).message}`);
      }
      out(`netc: wrote the training curves to ${plot}`);
    }
    const ckpt = options["checkpoint"] as string | undefined;
    if (ckpt !== undefined && result.epochs > 0) out(`netc: checkpoint ${ckpt} (epoch ${epochs}, step ${trainer.startStep + result.steps})`);
  } finally {
    trainer?.dispose();
    opened.close();
  }
  return 0;
}

/** The summary table and the result lines. */
function report(
  result: TrainResult,
  o: { out: (line: string) => void; quiet: boolean; epochs: number; runnerName: string; text?: number },
): void {
  const { out } = o;
  const h = result.history;
  if (!o.quiet && h.length) {
    out("");
    out(summaryTable(h));
    out("");
  }
  const last = h.at(-1);
  const parts = [`final loss ${last?.loss !== undefined ? fmtLoss(last.loss) : "n/a"}`];
  if (last?.accuracy !== undefined) parts.push(`accuracy ${fmtPercent(last.accuracy)}`);
  if (last?.valLoss !== undefined) parts.push(`val_loss ${fmtLoss(last.valLoss)}`);
  if (last?.valAccuracy !== undefined) parts.push(`val_acc ${fmtPercent(last.valAccuracy)}`);
  const seconds = Math.max(result.seconds, 1e-9);
  out(
    `${parts.join(", ")} after ${o.epochs} epochs in ${result.seconds.toFixed(2)} s ` +
      `(${fmtRate(result.steps / seconds)} steps/s, ${fmtRate(result.rows / seconds)} samples/s)`,
  );
  if (o.text !== undefined && last?.valLoss !== undefined)
    out(`validation loss ${fmtLoss(last.valLoss)} nats/char against the unigram entropy ${o.text.toFixed(4)} nats/char`);
  out(`backend: ${o.runnerName}`);
}

/** The inference-mode graph of a file (dropout off, batchnorm on running statistics). */
export function compileInfer(file: string): Graph {
  const c = compile(readSource(file), file, { mode: "eval" });
  if (!c.graph) {
    process.stderr.write(c.diagnostics.render() + "\n");
    throw new UsageError(`${file} does not compile in inference mode`);
  }
  return c.graph;
}

/** A positive integer option. */
function positive(options: Record<string, string | boolean>, key: string): number | undefined {
  const n = intOption(options, key);
  if (n === 0) throw new UsageError(`--${key} must be at least 1`);
  return n;
}

function numberMeta(ckpt: Checkpoint, key: string): number | undefined {
  const v = ckpt.meta.extra?.[key];
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
}
