import { bindBatch } from "../compile.js";
import { unfusedKernelCount } from "../ir/passes/fuse.js";
import { CpuRunner } from "../runtime/cpu.js";
import { acquireGpu, releaseGpu, type GpuContext } from "../runtime/device.js";
import type { StepRunner } from "../runtime/runner.js";
import { initialParams, trainLoop } from "../runtime/train.js";
import { WebGpuRunner } from "../runtime/webgpu.js";
import { compileFile, intOption, parseArgs, UsageError } from "./io.js";

const fmt = (ms: number) => ms.toFixed(1);
const fmtLoss = (x: number) => (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(6) : x.toExponential(3));

/** `netc train FILE [--backend auto|webgpu|cpu] [--seed N] [--epochs N] [--log-every N]` */
export async function trainCommand(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const { positional, options } = parseArgs(argv, { backend: "string", seed: "string", epochs: "string", "log-every": "string" });
  const file = positional[0];
  if (!file) throw new UsageError("usage: netc train FILE [--backend auto|webgpu|cpu] [--seed N] [--epochs N] [--log-every N]");
  const backend = (options["backend"] as string | undefined) ?? "auto";
  if (!["auto", "webgpu", "cpu"].includes(backend)) throw new UsageError(`--backend must be auto, webgpu or cpu, got ${backend}`);

  const c = compileFile(file);
  const g = c.graph!;
  const spec = c.train;
  if (!spec || !g.loss) throw new UsageError(`${file} has no train section: nothing to train`);
  const seed = intOption(options, "seed") ?? spec.seed;
  const epochs = intOption(options, "epochs") ?? spec.epochs;
  const logEvery = Math.max(1, intOption(options, "log-every") ?? spec.logEvery);
  const rows = spec.data[0]?.shape[0] ?? 0;
  if (rows < spec.batch) throw new UsageError(`batch ${spec.batch} is larger than the ${rows} data rows`);
  const { dims, unbound } = bindBatch(g, spec.batch);
  if (unbound.length) throw new UsageError(`dims ${unbound.join(", ")} are not bound by any input`);
  const initial = initialParams(g, dims, seed);

  let gpu: GpuContext | undefined;
  let runner: StepRunner;
  let prepare = "";
  let deviceMs = 0;
  if (backend !== "cpu") {
    const tDevice = performance.now();
    const got = await acquireGpu();
    deviceMs = performance.now() - tDevice;
    if (got.ok) gpu = got.gpu;
    else if (backend === "webgpu") throw new UsageError(`no WebGPU adapter: ${got.reason}`);
    else process.stderr.write(`netc: warning: no WebGPU adapter (${got.reason}); training on the CPU backend instead\n`);
  }
  try {
    if (gpu) {
      const r = await WebGpuRunner.create(gpu, g, dims, initial);
      prepare = `, device ${fmt(deviceMs)}, codegen ${fmt(r.times.codegen)}, pipelines ${fmt(r.times.pipelines)} for ${r.kernelsPerStep} kernels`;
      runner = r;
    } else {
      runner = new CpuRunner(g, dims, initial);
    }
    const passes = Object.values(c.times.passes).reduce((a, b) => a + b, 0);
    const tReady = performance.now();
    process.stdout.write(
      `netc: ready to train in ${fmt(tReady - t0)} ms (parse ${fmt(c.times.parse)}, lower ${fmt(c.times.lower)}, passes ${fmt(passes)}${prepare})\n`,
    );
    const steps = Math.floor(rows / spec.batch);
    const dropped = rows - steps * spec.batch;
    process.stdout.write(
      `netc: ${runner.name}: ${runner.kernelsPerStep} kernels per step (${unfusedKernelCount(g)} unfused), ` +
        `batch ${spec.batch}, ${steps} step${steps === 1 ? "" : "s"} per epoch${dropped ? ` (last ${dropped} rows left out)` : ""}\n`,
    );
    const width = String(epochs).length;
    const history = await trainLoop(spec, runner, {
      epochs,
      logEvery,
      onLog: (p) => process.stdout.write(`epoch ${String(p.epoch).padStart(width)}/${epochs}  loss ${fmtLoss(p.loss)}\n`),
    });
    const seconds = (performance.now() - tReady) / 1000;
    const last = history.at(-1);
    process.stdout.write(
      `final loss ${last ? fmtLoss(last.loss) : "n/a"} after ${epochs} epochs in ${seconds.toFixed(2)} s ` +
        `(${((epochs * steps) / seconds).toFixed(0)} steps/s)\n`,
    );
    process.stdout.write(`backend: ${runner.name}\n`);
    runner.dispose();
  } finally {
    if (gpu) releaseGpu(gpu);
  }
  return 0;
}
