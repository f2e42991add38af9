import { NetcError } from "../base/errors.js";
import { batchBindings, type Plan } from "../ir/plan.js";
import { hyperValues, type TrainSpec } from "../ir/training.js";
import { concreteShape } from "../ir/types.js";
import { RunnerPool, RunnerSetupError, type Backend } from "./backend.js";
import type { Checkpoint } from "./checkpoint.js";
import { writeCheckpoint } from "./checkpoint-file.js";
import { batchOf, epochBatches, type PreparedData } from "./data-source.js";
import { evaluate } from "./evaluate.js";
import { firstNonFinite, nonFiniteWeights, traceNonFinite } from "./nan-trace.js";
import { checkpointValues } from "./restore.js";
import { BAD, STATS_LENGTH, statsOf, STEP_STATS, type StepStats } from "./step-stats.js";
import { planInitialValues } from "./train.js";

/**
 * The training loop behind `netc train`:
 *   1. runners: one of the training graph per batch size (the full batch, and the last partial
 *      batch's size), the later sharing the first's persistent buffers; one of the inference
 *      graph per validation batch size, sharing the same buffers by name (no copy of the weights);
 *   2. each epoch e: the training rows in the order of a permutation seeded by (seed, e - 1), cut
 *      into batches of `batch` rows with the last one smaller; each step gets the hyper values of
 *      its global step (learning rate, Adam's bias corrections, the dropout seed);
 *   3. figures: every step adds its loss and `metric.accuracy` times its rows to sums kept on the
 *      device, and flags a non-finite loss, updated weight or updated state (optimizer moments,
 *      batchnorm statistics; step-stats.ts); the sums are read
 *      back every `readEvery` steps and at the end of every epoch (one small read-back), so an
 *      epoch's training loss and accuracy are row-weighted means over all of its steps. A step
 *      that reads nothing never waits for the device. A flag stops the run at that read (or the
 *      step is undone or ignored, by `onNan`), the step it names replayed on the CPU;
 *   4. recorded epochs (the first, every `logEvery`-th, the last) are validated on the inference
 *      graph (dropout off, batchnorm on running statistics) and kept in the history;
 *   5. with a checkpoint path, every epoch ends by writing all persistent values (params, optimizer
 *      and batchnorm state), the epoch, step and seed, and the history, atomically.
 * A resumed run loads all of that and continues with epoch + 1 and the same global step, so it ends
 * with the same weights, bit for bit, as a run that was never interrupted.
 */

/** One recorded epoch. */
export interface EpochRecord {
  epoch: number;
  /** Global steps done at its end. */
  step: number;
  /** Training rows seen in the epoch. */
  rows: number;
  /** Wall time of the epoch's training steps, and of its validation. */
  seconds: number;
  valSeconds?: number;
  samplesPerSecond: number;
  /** Row-weighted means over all of the epoch's steps. */
  loss?: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
}

/** Progress after a step, for progress bars. */
export interface StepProgress {
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch, and steps per epoch. */
  step: number;
  steps: number;
  /** Steps done and planned in this run (not counting epochs a resumed run skipped). */
  done: number;
  planned: number;
  /** Rows done in this run. */
  rows: number;
  /** Running means over the epoch's steps up to its last read (undefined before the first read). */
  loss?: number;
  accuracy?: number;
  /** Whether this step read its values back. */
  read: boolean;
}

/** What a run needs. */
export interface TrainerConfig {
  backend: Backend;
  /** The plan of the training step. */
  plan: Plan;
  /** The training section with any overrides (epochs, batch, seed) applied. */
  spec: TrainSpec;
  data: PreparedData;
  /** The plan of the same network's evaluation (inference with loss and metrics), for validation. */
  infer?: Plan;
  /** Read back every this many steps (0: only at the end of each epoch). */
  readEvery: number;
  /** Record (and validate) every this many epochs, besides the first and the last. */
  logEvery: number;
  /** A checkpoint to continue from, and its path (for messages). */
  resume?: { checkpoint: Checkpoint; path: string };
  /**
   * Starting values for some params and state (weights from `netc import`, PyTorch or Keras through
   * `foreignWeights`), the rest from their initialisers; a fresh run otherwise (epoch 1, fresh
   * optimizer state). Not with `resume`.
   */
  init?: Record<string, Float32Array>;
  /** Write a checkpoint here at the end of every epoch. */
  checkpointPath?: string;
  /**
   * What a NaN or infinite training loss does: `stop` (default) ends the run with a
   * {@link TrainingStopped} naming where the first non-finite value came from, before any
   * checkpoint is written after it; `skip` restores the weights of the last finite read and goes
   * on with the next batch; `ignore` trains on.
   */
  onNan?: "stop" | "skip" | "ignore";
  /** Extra checkpoint metadata (strings), e.g. the source path. */
  extra?: Record<string, string>;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
}

/** The outcome of {@link Trainer.run}. */
export interface TrainResult {
  /** Recorded epochs, including those of the run a resumed run continued. */
  history: EpochRecord[];
  /** Epochs and steps run now, and their wall time (validation included). */
  epochs: number;
  steps: number;
  rows: number;
  seconds: number;
  /** Set when the run's `signal` stopped it before its last epoch. */
  stopped?: boolean;
}

/** A fresh run's starting values with `init`'s in place of theirs; an unknown name or a wrong size is a NetcError. */
function withInit(plan: Plan, fresh: Record<string, Float32Array>, init: Record<string, Float32Array> | undefined): Record<string, Float32Array> {
  if (!init) return fresh;
  const problems: string[] = [];
  for (const [name, values] of Object.entries(init)) {
    const have = Object.hasOwn(fresh, name) ? fresh[name] : undefined;
    if (!have) problems.push(`${plan.name} has no param or state \`${name}\``);
    else if (have.length !== values.length) problems.push(`\`${name}\` holds ${have.length} values, init gives ${values.length}`);
  }
  if (problems.length) throw new NetcError(`Trainer: init does not fit ${plan.name}: ${problems.join("; ")}`);
  return { ...fresh, ...init };
}

/** Trains a network on prepared rows; see the module comment for what a step and an epoch do. */
export class Trainer {
  readonly pool: RunnerPool;
  readonly valPool?: RunnerPool;
  /** The first epoch this run trains (after a resumed checkpoint's). */
  readonly startEpoch: number;
  /** Global steps done before this run. */
  readonly startStep: number;
  readonly history: EpochRecord[];
  /** Leave out the last batch of each epoch (a lone row that batchnorm cannot train on). */
  readonly dropLast: boolean;
  /** Things the user should know about how the run goes (printed by the CLI). */
  readonly notes: string[] = [];
  /** Steps whose loss was NaN or infinite and that `onNan: "skip"` undid. */
  skippedSteps = 0;
  /** The run's first batch, replayed on the CPU from the starting weights to trace a NaN. */
  private firstStep?: { batch: Record<string, Float32Array>; rows: number };
  /** Device errors recorded before this run (those are not this run's). */
  private readonly deviceErrorsBefore: number;

  private constructor(
    private readonly cfg: TrainerConfig,
    pool: RunnerPool,
    valPool: RunnerPool | undefined,
    /** The weights the run started from. */
    private readonly initial: Record<string, Float32Array>,
  ) {
    this.pool = pool;
    this.valPool = valPool;
    const meta = cfg.resume?.checkpoint.meta;
    this.startEpoch = (meta?.epoch ?? 0) + 1;
    this.startStep = meta?.step ?? 0;
    this.history = meta ? historyOf(cfg.resume!.checkpoint) : [];
    this.deviceErrorsBefore = cfg.backend.deviceErrors?.().length ?? 0;
    // NOTE: batchnorm's unbiased variance of one row is 0·1/0: a lone last row would make the
    // running variance NaN (PyTorch refuses such a batch). It is left out instead; the shuffle
    // leaves out a different row each epoch.
    const rows = cfg.data.train.rows;
    const batchnorm = cfg.plan.params.some((p) => p.role === "state" && p.name.endsWith(".running_var"));
    this.dropLast = batchnorm && rows > cfg.spec.batch && rows % cfg.spec.batch === 1;
    if (this.dropLast)
      this.notes.push(`the last batch of each epoch would hold 1 row, too few for batchnorm's variance: it is left out (a different row each epoch)`);
    if (batchnorm && rows === 1) throw new RunnerSetupError(`batchnorm needs at least 2 rows per batch, and there is 1 training row`);
  }

  /** Makes the runners of every batch size the run needs (so their set-up is timed before training) and loads a resumed checkpoint. */
  static async create(cfg: TrainerConfig): Promise<Trainer> {
    const { plan, spec, data, backend } = cfg;
    if (data.train.rows === 0) throw new Error("internal: no training rows");
    const initial = cfg.resume ? checkpointValues(cfg.resume.checkpoint, plan, cfg.resume.path, true) : withInit(plan, planInitialValues(plan, spec.seed), cfg.init);
    const pool = new RunnerPool(backend, plan, initial);
    const valPool = cfg.infer && data.validation ? new RunnerPool(backend, cfg.infer, {}, pool) : undefined;
    const t = new Trainer(cfg, pool, valPool, initial);
    try {
      for (const size of batchSizes(data.train.rows, spec.batch)) if (!(t.dropLast && size === 1)) await pool.get(size);
      if (valPool) for (const size of batchSizes(data.validation!.rows, spec.batch)) await valPool.get(size);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }

  /** Steps per epoch. */
  get stepsPerEpoch(): number {
    return Math.ceil(this.cfg.data.train.rows / this.cfg.spec.batch) - (this.dropLast ? 1 : 0);
  }

  /** Whether an epoch is recorded (validated, kept in the history, read at its end). */
  recorded(epoch: number): boolean {
    return epoch === 1 || epoch === this.cfg.spec.epochs || epoch % Math.max(1, this.cfg.logEvery) === 0;
  }

  /**
   * Runs the remaining epochs; `hooks` (progress reporting) are called besides the config's. An
   * aborted `signal` ends the run after the step in flight (a page's stop button): the result
   * then says `stopped`, and the weights stay as that step left them. `yieldAfterRead` is awaited
   * after every step that read the loss, so a page can repaint and take clicks (a step that
   * reads nothing resolves without leaving the microtask queue, on the CPU backend every step).
   */
  async run(hooks: Pick<TrainerConfig, "onStep" | "onEpoch"> & { signal?: AbortSignal; yieldAfterRead?: () => Promise<void> } = {}): Promise<TrainResult> {
    const { spec, data, readEvery } = this.cfg;
    const onStep = (p: StepProgress) => {
      this.cfg.onStep?.(p);
      hooks.onStep?.(p);
    };
    const onEpoch = (r: EpochRecord) => {
      this.cfg.onEpoch?.(r);
      hooks.onEpoch?.(r);
    };
    const train = data.train;
    const steps = this.stepsPerEpoch;
    const planned = Math.max(0, spec.epochs - this.startEpoch + 1) * steps;
    const t0 = performance.now();
    let step = this.startStep;
    let done = 0;
    let rowsDone = 0;
    // NOTE: an epoch that is one batch holds all rows; it is not shuffled (the order of rows in a
    // batch changes a mean only by rounding), and the same arrays each epoch need no new upload.
    const whole = train.rows <= spec.batch ? batchOf(train, { start: 0, end: train.rows }) : undefined;
    const onNan = this.cfg.onNan ?? "stop";
    // NOTE: `skip` needs the weights and statistics of the last finite read to go back to.
    let lastGood = onNan === "skip" ? await this.pool.state() : undefined;
    const hasAccuracy = (await this.pool.owner()).readable.includes("metric.accuracy");
    for (let epoch = this.startEpoch; epoch <= spec.epochs; epoch++) {
      const tEpoch = performance.now();
      const recorded = this.recorded(epoch);
      const order = whole ? [undefined] : epochBatches(train.rows, spec.batch, spec.seed, epoch - 1).slice(0, steps);
      // The epoch's figures are the device's sums over all of its steps (step-stats.ts), read
      // every `readEvery` steps and at its end; `window` holds the steps since the last read, to
      // replay the one a non-finite flag points at.
      await this.pool.resetStats();
      let stats: StepStats | undefined;
      let lastGoodStats: Float32Array | undefined = onNan === "skip" ? new Float32Array(STATS_LENGTH) : undefined;
      let window: { batch: Record<string, Float32Array>; rows: number; step: number }[] = [];
      for (let i = 0; i < order.length; i++) {
        if (hooks.signal?.aborted) return { history: this.history, epochs: epoch - this.startEpoch, steps: done, rows: rowsDone, seconds: (performance.now() - t0) / 1000, stopped: true };
        const idx = order[i];
        const rows = idx ? idx.length : train.rows;
        const runner = await this.pool.get(rows);
        const last = i === order.length - 1;
        // NOTE: every epoch ends with a read (a small one): its figures, and a NaN caught before any save.
        const read = (readEvery > 0 && (i + 1) % readEvery === 0) || last;
        const names = read ? [STEP_STATS, "loss"] : [];
        const hyper: Record<string, Float32Array> = {};
        for (const [k, v] of Object.entries(hyperValues(spec, step))) hyper[k] = Float32Array.of(v);
        const batch = { ...(whole ?? batchOf(train, idx!)), ...hyper };
        this.firstStep ??= { batch, rows };
        window.push({ batch, rows, step });
        const got = await runner.run(batch, names);
        this.checkDevice(epoch, step);
        step++;
        done++;
        rowsDone += rows;
        const raw = got[STEP_STATS];
        if (raw) {
          const s = statsOf(raw);
          const since = (stats?.steps ?? 0);
          if (s.firstBad > 0 && onNan !== "ignore") {
            const bad = window[Math.min(window.length - 1, Math.max(0, s.firstBad - since - 1))]!;
            const loss = bad === window.at(-1) ? got["loss"]?.[0] : undefined;
            if (onNan === "stop") throw await this.nonFinite(s, loss, epoch, bad.step, bad.batch, bad.rows);
            // NOTE: skipped: the weights and the epoch's sums go back to the last finite read.
            await this.pool.load(lastGood!);
            await this.pool.resetStats(lastGoodStats);
            this.skippedSteps += window.length;
            stats = statsOf(lastGoodStats!);
          } else {
            stats = s;
            if (onNan === "skip") {
              lastGood = await this.pool.state();
              lastGoodStats = raw;
            }
          }
          window = [];
        }
        const mean = (sum: number | undefined) => (stats && stats.rows > 0 && sum !== undefined ? sum / stats.rows : undefined);
        onStep({
          epoch,
          epochs: spec.epochs,
          step: i + 1,
          steps,
          done,
          planned,
          rows: rowsDone,
          loss: mean(stats?.lossSum),
          accuracy: hasAccuracy ? mean(stats?.accSum) : undefined,
          read,
        });
        if (read && hooks.yieldAfterRead) await hooks.yieldAfterRead();
      }
      const mean = (sum: number | undefined) => (stats && stats.rows > 0 && sum !== undefined ? sum / stats.rows : undefined);
      const lossOfEpoch = mean(stats?.lossSum);
      const accuracyOfEpoch = hasAccuracy ? mean(stats?.accSum) : undefined;
      const seconds = (performance.now() - tEpoch) / 1000;
      if (recorded) {
        const record: EpochRecord = {
          epoch,
          step,
          rows: train.rows,
          seconds,
          samplesPerSecond: train.rows / Math.max(seconds, 1e-9),
          loss: lossOfEpoch,
          accuracy: accuracyOfEpoch,
        };
        if (this.valPool && data.validation) {
          const v = await evaluate(this.valPool, data.validation, { batch: spec.batch });
          record.valLoss = v.loss;
          record.valAccuracy = v.accuracy;
          record.valSeconds = v.seconds;
        }
        this.history.push(record);
        onEpoch(record);
      }
      if (this.cfg.checkpointPath) {
        this.checkDevice(epoch, step);
        await this.saveCheckpoint(this.cfg.checkpointPath, epoch, step);
      }
    }
    return { history: this.history, epochs: Math.max(0, spec.epochs - this.startEpoch + 1), steps: done, rows: rowsDone, seconds: (performance.now() - t0) / 1000 };
  }

  /** Writes every persistent value, where training stands and the history (atomically; Node). */
  async saveCheckpoint(path: string, epoch: number, step: number): Promise<void> {
    writeCheckpoint(path, await this.checkpoint(epoch, step));
  }

  /** Every persistent value, where training stands and the history, as a checkpoint (`encodeCheckpoint` makes its bytes). */
  async checkpoint(epoch: number, step: number): Promise<Checkpoint> {
    const { plan, spec, data } = this.cfg;
    const values = await this.pool.state();
    const tensors: Checkpoint["tensors"] = {};
    for (const p of plan.params) tensors[p.name] = { shape: concreteShape(p.shape, {}), values: values[p.name]! };
    return {
      tensors,
      meta: {
        network: plan.name,
        epoch,
        step,
        seed: spec.seed,
        extra: {
          ...this.cfg.extra,
          batch: String(spec.batch),
          validation: String(spec.validation),
          transform: JSON.stringify(data.transform),
          history: JSON.stringify(this.history),
        },
      },
    };
  }

  /** Ends the run when the device reported an error: its results cannot be trusted, and nothing more is saved. */
  private checkDevice(epoch: number, step: number): void {
    const errors = this.cfg.backend.deviceErrors?.() ?? [];
    if (errors.length > this.deviceErrorsBefore)
      throw new TrainingStopped(`the WebGPU device reported an error at epoch ${epoch}, step ${step + 1}: ${errors[this.deviceErrorsBefore]}${errors.length > this.deviceErrorsBefore + 1 ? ` (and ${errors.length - this.deviceErrorsBefore - 1} more)` : ""}; training stopped${this.cfg.checkpointPath ? `, ${this.cfg.checkpointPath} not written after it` : ""}`);
  }

  /** The error for a non-finite loss or updated weights, with where the step's first non-finite value came from. */
  private async nonFinite(stats: StepStats, loss: number | undefined, epoch: number, step: number, batch: Record<string, Float32Array>, rows: number): Promise<TrainingStopped> {
    const plan = this.cfg.plan;
    const state = await this.pool.state();
    // NOTE: the step's own update has already run, so weights are NaN after a NaN gradient. The
    // run's first step, replayed from the starting weights, then shows whether an op makes NaN
    // from finite values (log of a negative number) or the updates diverged later.
    const first = nonFiniteWeights(plan, state).length && this.firstStep ? firstNonFinite(plan, this.initial, this.firstStep.batch, batchBindings(plan, this.firstStep.rows)) : undefined;
    const where = first ? `already in the run's first step, ${first}` : traceNonFinite(plan, state, batch, batchBindings(plan, rows));
    const kind = stats.firstKind;
    const badState = plan.params.filter((p) => p.role === "state" && state[p.name]?.some((x) => !Number.isFinite(x))).map((p) => p.name);
    const what =
      loss !== undefined && !Number.isFinite(loss)
        ? `the training loss is ${loss}`
        : kind & BAD.loss
          ? "the training loss is not finite"
          : kind & BAD.weights
            ? "the updated weights hold NaN or infinite values"
            : `the optimizer or batchnorm state ${badState.slice(0, 4).join(", ") || "(updated)"}${badState.length > 4 ? ", ..." : ""} holds NaN or infinite values under a finite loss and finite weights (a gradient too large to square in f32: scale the inputs or targets down, or clip gradients)`;
    return new TrainingStopped(
      `${what} at epoch ${epoch}, step ${step + 1}: ${where ?? "the CPU reference's replay of the step stays finite (a WebGPU-only problem: please report it)"}; ` +
        `training stopped${this.cfg.checkpointPath ? `, ${this.cfg.checkpointPath} not written after it` : ""} (--on-nan skip|ignore to go on)`,
    );
  }

  /** Frees every runner (the validation runners first: they bind the training runners' buffers). */
  dispose(): void {
    this.valPool?.dispose();
    this.pool.dispose();
  }
}

/** A run that had to stop: a non-finite loss or a device error (the message says which and where). */
export class TrainingStopped extends NetcError {}

/** The batch sizes an epoch of `rows` rows uses: the full batch and the remainder. */
export function batchSizes(rows: number, batch: number): number[] {
  if (rows <= batch) return [rows];
  const rest = rows % batch;
  return rest ? [batch, rest] : [batch];
}

/** The history a checkpoint carries (empty when it has none). */
export function historyOf(ckpt: Checkpoint): EpochRecord[] {
  const text = ckpt.meta.extra?.["history"];
  if (!text) return [];
  try {
    const h = JSON.parse(text) as unknown;
    return Array.isArray(h) ? (h as EpochRecord[]) : [];
  } catch {
    return [];
  }
}
