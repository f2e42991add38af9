import type { EpochRecord, StepProgress } from "../runtime/trainer.js";

/**
 * What `netc train` shows while it runs:
 *   - on a terminal, a live bar redrawn in place (epoch, step/total, loss, accuracy, samples/s,
 *     ETA), at most every 100 ms, with a permanent line per recorded epoch above it;
 *   - elsewhere (CI, pipes), plain lines: one per recorded epoch, and inside long epochs one every
 *     `stepLines` steps;
 *   - at the end, a table of the recorded epochs.
 */

/** Options for a {@link Progress}. */
export interface ProgressOptions {
  /** Redraw a bar in place (a terminal) or print plain lines. */
  tty: boolean;
  /** Print nothing while training (the summary is still available). */
  quiet?: boolean;
  /** Plain mode: a line every this many steps inside an epoch (0: none). */
  stepLines?: number;
  /** Where text goes (default: stdout). */
  write?: (text: string) => void;
  /** Terminal width for the bar (default: stdout's, else 100). */
  columns?: number;
  /** The clock, in ms (tests). */
  now?: () => number;
}

/** Renders training progress as a bar or as lines. */
export class Progress {
  private readonly write: (text: string) => void;
  private readonly now: () => number;
  private readonly start: number;
  private lastDraw = -Infinity;
  private barShown = false;
  private lastLoss?: number;
  private lastAccuracy?: number;

  constructor(private readonly opts: ProgressOptions) {
    this.write = opts.write ?? ((t) => process.stdout.write(t));
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** After each step. */
  step(p: StepProgress): void {
    if (p.loss !== undefined) this.lastLoss = p.loss;
    if (p.accuracy !== undefined) this.lastAccuracy = p.accuracy;
    if (this.opts.quiet) return;
    const t = this.now();
    if (this.opts.tty) {
      // NOTE: strictly throttled, epoch ends included: with one-step epochs (XOR) a forced redraw
      // per epoch costs more than the step; a recorded epoch's line follows anyway.
      if (t - this.lastDraw < 100) return;
      this.lastDraw = t;
      this.write(`\r\x1b[2K${this.bar(p, t)}`);
      this.barShown = true;
      return;
    }
    const every = this.opts.stepLines ?? 0;
    if (every > 0 && p.step % every === 0 && p.step !== p.steps) this.write(`${this.stepLine(p, t)}\n`);
  }

  /** After each recorded epoch: one permanent line. */
  epoch(r: EpochRecord, epochs: number): void {
    if (this.opts.quiet) return;
    this.clearBar();
    this.write(`${epochLine(r, epochs)}\n`);
  }

  /** Removes the bar (before other output). */
  clearBar(): void {
    if (!this.barShown) return;
    this.write("\r\x1b[2K");
    this.barShown = false;
  }

  private rates(p: StepProgress, t: number): { perSecond: number; eta: number } {
    const seconds = Math.max(1e-9, (t - this.start) / 1000);
    const stepsPerSecond = p.done / seconds;
    return { perSecond: p.rows / seconds, eta: stepsPerSecond > 0 ? (p.planned - p.done) / stepsPerSecond : 0 };
  }

  private values(): string {
    const parts: string[] = [];
    if (this.lastLoss !== undefined) parts.push(`loss ${fmtLoss(this.lastLoss)}`);
    if (this.lastAccuracy !== undefined) parts.push(`acc ${fmtPercent(this.lastAccuracy)}`);
    return parts.join("  ");
  }

  /** The bar: `epoch 2/10 [#####-----] 400/938  loss 0.4321  acc 84.21%  1234 samples/s  ETA 0:32`. */
  bar(p: StepProgress, t = this.now()): string {
    const { perSecond, eta } = this.rates(p, t);
    const width = 24;
    const filled = Math.round((width * p.step) / p.steps);
    const head = `epoch ${p.epoch}/${p.epochs} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.step}/${p.steps}`;
    const line = [head, this.values(), `${fmtRate(perSecond)} samples/s`, `ETA ${fmtDuration(eta)}`].filter(Boolean).join("  ");
    const cols = this.opts.columns ?? (process.stdout.columns || 100);
    return line.length >= cols ? line.slice(0, Math.max(10, cols - 1)) : line;
  }

  /** A plain in-epoch line: `epoch 1/2  step 400/938  loss ...  acc ...  1234 samples/s  ETA 0:32`. */
  stepLine(p: StepProgress, t = this.now()): string {
    const { perSecond, eta } = this.rates(p, t);
    return [`epoch ${p.epoch}/${p.epochs}  step ${p.step}/${p.steps}`, this.values(), `${fmtRate(perSecond)} samples/s`, `ETA ${fmtDuration(eta)}`]
      .filter(Boolean)
      .join("  ");
  }
}

/** `epoch   3/10  loss 0.123456  acc 95.00%  val_loss 0.2  val_acc 93.00%  1.23 s  4567 samples/s` */
export function epochLine(r: EpochRecord, epochs: number): string {
  const w = String(epochs).length;
  const parts = [`epoch ${String(r.epoch).padStart(w)}/${epochs}`];
  if (r.loss !== undefined) parts.push(`loss ${fmtLoss(r.loss)}`);
  if (r.accuracy !== undefined) parts.push(`acc ${fmtPercent(r.accuracy)}`);
  if (r.valLoss !== undefined) parts.push(`val_loss ${fmtLoss(r.valLoss)}`);
  if (r.valAccuracy !== undefined) parts.push(`val_acc ${fmtPercent(r.valAccuracy)}`);
  parts.push(`${r.seconds.toFixed(2)} s`, `${fmtRate(r.samplesPerSecond)} samples/s`);
  return parts.join("  ");
}

/** The final table of recorded epochs: train and validation loss and accuracy, time and samples/s. */
export function summaryTable(history: readonly EpochRecord[]): string {
  const hasAcc = history.some((r) => r.accuracy !== undefined);
  const hasVal = history.some((r) => r.valLoss !== undefined);
  const hasValAcc = history.some((r) => r.valAccuracy !== undefined);
  type Column = [string, (r: EpochRecord) => string];
  const cols: Column[] = [["epoch", (r) => String(r.epoch)], ["train loss", (r) => opt(r.loss, fmtLoss)]];
  if (hasAcc) cols.push(["train acc", (r) => opt(r.accuracy, fmtPercent)]);
  if (hasVal) cols.push(["val loss", (r) => opt(r.valLoss, fmtLoss)]);
  if (hasValAcc) cols.push(["val acc", (r) => opt(r.valAccuracy, fmtPercent)]);
  cols.push(["time (s)", (r) => r.seconds.toFixed(2)], ["samples/s", (r) => fmtRate(r.samplesPerSecond)]);
  const rows = history.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
  return [line(cols.map(([h]) => h)), ...rows.map(line)].join("\n");
}

const opt = (x: number | undefined, f: (x: number) => string) => (x === undefined || Number.isNaN(x) ? "-" : f(x));

/** A loss with 6 decimals, or in exponent form when tiny. */
export function fmtLoss(x: number): string {
  return Math.abs(x) >= 1e-3 || x === 0 || !Number.isFinite(x) ? x.toFixed(6) : x.toExponential(3);
}

/** A share as a percentage with 2 decimals. */
export function fmtPercent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** A rate, without decimals from 100 up. */
export function fmtRate(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Seconds as m:ss or h:mm:ss. */
export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
